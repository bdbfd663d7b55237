/// Checks the credentials of a request against a challenge the server issued (the server side of RFC 7616).
/// The server keeps H(username:realm:password) per user, never the password itself.
public struct DigestVerifier: Sendable {
    public let realm: String
    public let algorithm: DigestAlgorithm

    public init(realm: String, algorithm: DigestAlgorithm) {
        self.realm = realm
        self.algorithm = algorithm
    }

    /// The `WWW-Authenticate` value for a new nonce.
    public func challenge(nonce: String) -> String {
        var params = ["realm": self.realm, "nonce": nonce]
        if self.algorithm != .md5 { params["algorithm"] = self.algorithm.rawValue }
        return AuthenticationParameters(scheme: "Digest", parameters: params).headerValue
    }

    /// The username of valid credentials, or `nil`. `isValidNonce` says whether the nonce is one this server
    /// issued and still accepts; `storedHA1` returns H(username:realm:password) of a known user.
    public func verify(
        _ credentials: AuthenticationParameters,
        method: RTSPMethod,
        isValidNonce: (String) -> Bool,
        storedHA1: (String) -> String?
    ) -> String? {
        guard credentials.isScheme("Digest"),
            let username = credentials["username"], let realm = credentials["realm"], realm == self.realm,
            let nonce = credentials["nonce"], isValidNonce(nonce), let uri = credentials["uri"],
            let response = credentials["response"],
            DigestAlgorithm(parameter: credentials["algorithm"]) == self.algorithm,
            let stored = storedHA1(username)
        else { return nil }
        let qop = credentials["qop"]
        if let qop, qop.lowercased() != "auth" { return nil }
        let ha1 = DigestAuthentication.sessionHA1(
            algorithm: self.algorithm,
            storedHA1: stored,
            nonce: nonce,
            cnonce: credentials["cnonce"]
        )
        let expected = DigestAuthentication.response(
            algorithm: self.algorithm,
            ha1: ha1,
            nonce: nonce,
            method: method.rawValue,
            uri: uri,
            qop: qop,
            nc: credentials["nc"],
            cnonce: credentials["cnonce"]
        )
        return constantTimeEquals(expected, response.lowercased()) ? username : nil
    }
}

/// Compares without an early exit, so that response time does not reveal how many leading characters matched.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for i in x.indices { difference |= x[i] ^ y[i] }
    return difference == 0
}
