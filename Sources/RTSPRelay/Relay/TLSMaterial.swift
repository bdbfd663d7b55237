import NIOSSL

/// Why a certificate chain and key cannot serve RTSPS, in words an admin can act on.
public struct TLSMaterialError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { self.reason }
}

extension RelayConfiguration.TLS {
    /// The server context every new RTSPS connection takes: TLS 1.2 and later only, with the library's default
    /// (forward-secret, AEAD) cipher suites. Loaded the same way by the relay, by a reload and by `camgw check`,
    /// so a file that would fail at start or at SIGHUP is refused before it is used. BoringSSL refuses a key that
    /// is not the leaf certificate's when the context is made.
    public func makeContext() throws(TLSMaterialError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(self.certificateChainPath)
        } catch {
            throw TLSMaterialError(
                reason: "certificate \(self.certificateChainPath): cannot load a PEM chain (\(error))"
            )
        }
        guard !chain.isEmpty else {
            throw TLSMaterialError(reason: "certificate \(self.certificateChainPath): no certificate in the file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: self.privateKeyPath, format: .pem)
        } catch {
            throw TLSMaterialError(reason: "private_key \(self.privateKeyPath): cannot load a PEM key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSMaterialError(
                reason: "private_key \(self.privateKeyPath) does not go with certificate \(self.certificateChainPath) "
                    + "(\(error))"
            )
        }
    }
}
