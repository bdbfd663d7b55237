import Crypto

/// HTTP Digest computations (RFC 7616, which RTSP uses as RFC 2326 §14 and RFC 7826 §19 say), shared by the
/// client side (answering a camera's challenge) and the server side (checking a VMS).
public enum DigestAlgorithm: String, Hashable, Sendable, CaseIterable {
    case md5 = "MD5"
    case md5Session = "MD5-sess"
    case sha256 = "SHA-256"
    case sha256Session = "SHA-256-sess"

    /// Parses the `algorithm` parameter; absent means MD5 (RFC 7616 §3.3).
    public init?(parameter: String?) {
        guard let parameter else {
            self = .md5
            return
        }
        guard let match = Self.allCases.first(where: { $0.rawValue.caseInsensitiveEquals(parameter) }) else {
            return nil
        }
        self = match
    }

    public var isSession: Bool { self == .md5Session || self == .sha256Session }

    /// Preference when a server offers several: SHA-256 before MD5.
    var strength: Int {
        switch self {
        case .sha256, .sha256Session: 2
        case .md5, .md5Session: 1
        }
    }

    public func hash(_ text: String) -> String {
        switch self {
        case .md5, .md5Session: hexString(Insecure.MD5.hash(data: Array(text.utf8)))
        case .sha256, .sha256Session: hexString(SHA256.hash(data: Array(text.utf8)))
        }
    }
}

public enum DigestAuthentication {
    /// HA1 = H(username:realm:password), or for `-sess`, H(H(username:realm:password):nonce:cnonce). The server
    /// stores only H(username:realm:password), never the password.
    public static func ha1(
        algorithm: DigestAlgorithm,
        username: String,
        realm: String,
        password: String,
        nonce: String,
        cnonce: String?
    ) -> String {
        let base = algorithm.hash("\(username):\(realm):\(password)")
        return self.sessionHA1(algorithm: algorithm, storedHA1: base, nonce: nonce, cnonce: cnonce)
    }

    public static func sessionHA1(
        algorithm: DigestAlgorithm,
        storedHA1: String,
        nonce: String,
        cnonce: String?
    ) -> String {
        guard algorithm.isSession else { return storedHA1 }
        return algorithm.hash("\(storedHA1):\(nonce):\(cnonce ?? "")")
    }

    /// The `response` parameter. With `qop` it is H(HA1:nonce:nc:cnonce:qop:HA2) (RFC 7616 §3.4.1); without it,
    /// the RFC 2069 form H(HA1:nonce:HA2) that most cameras still use.
    public static func response(
        algorithm: DigestAlgorithm,
        ha1: String,
        nonce: String,
        method: String,
        uri: String,
        qop: String?,
        nc: String?,
        cnonce: String?
    ) -> String {
        let ha2 = algorithm.hash("\(method):\(uri)")
        if let qop, let nc, let cnonce {
            return algorithm.hash("\(ha1):\(nonce):\(nc):\(cnonce):\(qop):\(ha2)")
        }
        return algorithm.hash("\(ha1):\(nonce):\(ha2)")
    }
}

/// Lower-case hex of `digest` (Digest responses, fmtp configs).
public func hexString(_ digest: some Sequence<UInt8>) -> String {
    let hexDigits = Array("0123456789abcdef".utf8)
    var bytes: [UInt8] = []
    for byte in digest {
        bytes.append(hexDigits[Int(byte >> 4)])
        bytes.append(hexDigits[Int(byte & 0x0F)])
    }
    return String(decoding: bytes, as: UTF8.self)
}
