/// Checks the credentials of a request against a challenge the server issued (the server side of RFC 7616).
/// The server keeps H(username:realm:password) per user, never the password itself.
public struct DigestVerifier: Sendable {
    public let realm: String
    public let algorithm: DigestAlgorithm

    public init(realm: String, algorithm: DigestAlgorithm) {
        self.realm = realm
        self.algorithm = algorithm
    }

    /// The algorithm a response was computed with: as named, or, when `algorithm=` is left out (aiortsp answers
    /// the SHA-256 challenge that way), SHA-256 for a 64-digit response and MD5 (RFC 7616's default) otherwise.
    public static func claimedAlgorithm(_ credentials: AuthenticationParameters) -> DigestAlgorithm? {
        if credentials["algorithm"] == nil, credentials["response"]?.utf8.count == 64 { return .sha256 }
        return DigestAlgorithm(parameter: credentials["algorithm"])
    }

    /// The `WWW-Authenticate` value for a new nonce. `qop`: offer `qop="auth"`, so that a client reuses the nonce
    /// with an increasing nonce count instead of asking for a new one per request. `stale`: the client's password
    /// was right but its nonce is no longer accepted (RFC 7616 §3.3), so it retries without asking its user.
    public func challenge(nonce: String, qop: Bool = false, stale: Bool = false) -> String {
        var params = ["realm": self.realm, "nonce": nonce]
        if self.algorithm != .md5 { params["algorithm"] = self.algorithm.rawValue }
        if qop { params["qop"] = "auth" }
        if stale { params["stale"] = "true" }
        return AuthenticationParameters(scheme: "Digest", parameters: params).headerValue
    }

    /// The username of valid credentials, or `nil`. `storedHA1` returns H(username:realm:password) of a known
    /// user; `requestURI`, when given, must equal the `uri` parameter (else the response of one request, sniffed,
    /// would be valid for any other target). `acceptNonce` is asked last, only for a response that proved the
    /// password, with the nonce and nonce count (`nc`): whether this server issued it and still accepts it with that
    /// count (so a wrong guess never uses up a nonce).
    public func verify(
        _ credentials: AuthenticationParameters,
        method: String,
        requestURI: String? = nil,
        acceptNonce: (_ nonce: String, _ count: String?) -> Bool,
        storedHA1: (String) -> String?
    ) -> String? {
        guard credentials.isScheme("Digest"),
            let username = credentials["username"], let realm = credentials["realm"], realm == self.realm,
            let nonce = credentials["nonce"], let uri = credentials["uri"],
            requestURI.map({ $0 == uri }) ?? true,
            let response = credentials["response"],
            Self.claimedAlgorithm(credentials) == self.algorithm,
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
            method: method,
            uri: uri,
            qop: qop,
            nc: credentials["nc"],
            cnonce: credentials["cnonce"]
        )
        guard constantTimeEquals(expected, response.lowercased()) else { return nil }
        return acceptNonce(nonce, qop == nil ? nil : credentials["nc"]) ? username : nil
    }
}

/// Compares without an early exit, so that response time does not reveal how many leading characters matched.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for i in x.indices { difference |= x[i] ^ y[i] }
    return difference == 0
}
