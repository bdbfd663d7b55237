import NIOCore

/// Who may read which stream from the gateway (the VMS side), as a value type: a request and what is known of its
/// connection in, a decision out.
///
/// Passwords are never stored: each user has H(name:realm:password) for MD5 and for SHA-256 (the Digest HA1).
/// Digest SHA-256 and MD5 are offered (SHA-256 first; clients that cannot use it, ffmpeg 5 among them, take the
/// MD5 challenge); Basic is accepted only over TLS, and offered only there. A refusal never tells whether the user
/// or the path exists: an unauthenticated request gets 401 whatever it names, an authenticated one 403 for any
/// stream it may not read, existing or not.
public struct ReaderAccessPolicy: Sendable, Hashable {
    public typealias User = GatewayUser

    public enum Decision: Hashable, Sendable {
        case allowed(user: String?)
        /// 401 with these `WWW-Authenticate` values; `failure` says whether credentials were given and wrong (a
        /// failed login, which counts towards the source's rate limit) or just missing.
        case challenge([String], failure: String?)
        /// 403: authenticated, but not for this stream.
        case forbidden(user: String)
    }

    public var realm: String
    public var users: [User]
    /// Only when the configuration says so explicitly.
    public var allowAnonymous: Bool

    public init(realm: String = "CamGateway", users: [User] = [], allowAnonymous: Bool = false) {
        self.realm = realm
        self.users = users
        self.allowAnonymous = allowAnonymous
    }

    /// Decides a request for `path` (nil when the request names no stream the gateway could serve).
    public func decide(
        _ request: RTSPRequest,
        path: StreamPath?,
        source: String,
        nonce: String,
        isTLS: Bool
    ) -> Decision {
        if self.allowAnonymous { return .allowed(user: nil) }
        let challenges = self.challenges(nonce: nonce, isTLS: isTLS)
        guard let value = request.headers[RTSPHeaders.authorization] else {
            return .challenge(challenges, failure: nil)
        }
        guard let credentials = try? AuthenticationParameters.parseList(value).first else {
            return .challenge(challenges, failure: "unparsable Authorization")
        }
        let user: User
        if credentials.isScheme("Basic") {
            guard isTLS else { return .challenge(challenges, failure: "Basic credentials without TLS") }
            guard let token = credentials.token, let decoded = base64Decode(token),
                let text = String(validating: decoded, as: UTF8.self), let colon = text.firstIndex(of: ":"),
                let known = self.users.first(where: { $0.name == text[..<colon] }),
                let stored = known.ha1SHA256,
                constantTimeEquals(
                    DigestAlgorithm.sha256.hash("\(known.name):\(self.realm):\(text[text.index(after: colon)...])"),
                    stored
                )
            else { return .challenge(challenges, failure: "wrong Basic credentials") }
            user = known
        } else {
            guard let algorithm = DigestVerifier.claimedAlgorithm(credentials),
                algorithm == .md5 || algorithm == .sha256,
                let name = credentials["username"]
            else { return .challenge(challenges, failure: "unsupported credentials") }
            let verifier = DigestVerifier(realm: self.realm, algorithm: algorithm)
            let known = self.users.first { $0.name == name }
            let verified = verifier.verify(
                credentials,
                method: request.method,
                acceptNonce: { given, _ in given == nonce },
                storedHA1: { _ in algorithm == .md5 ? known?.ha1MD5 : known?.ha1SHA256 }
            )
            guard verified != nil, let known else {
                // Say what was wrong without saying whether the user exists: the log is the admin's.
                let uri = credentials["uri"].map { RTSPError.excerpt($0, limit: 64) } ?? "none"
                let detail =
                    credentials["nonce"] != nonce
                    ? "a nonce this connection did not issue"
                    : "a response that does not match (\(algorithm.rawValue), uri \(uri))"
                return .challenge(
                    challenges,
                    failure: "wrong Digest credentials for '\(RTSPError.excerpt(name, limit: 32))': \(detail)"
                )
            }
            user = known
        }
        // A source outside the user's networks is a failed login, not a hint that the user exists.
        guard user.mayConnect(from: source) else {
            return .challenge(challenges, failure: "user '\(user.name)' from a source outside its networks")
        }
        guard let path, user.mayRead(path) else { return .forbidden(user: user.name) }
        return .allowed(user: user.name)
    }

    /// The name the failed-login gate counts for these credentials: a configured user who may come from
    /// `source`, or nil (a name that cannot sign in from there has only its source's count).
    public func countedUser(_ authorization: String?, source: String) -> String? {
        guard let claimed = AuthenticationParameters.claimedUser(authorization) else { return nil }
        return self.users.first { $0.name == claimed && $0.mayConnect(from: source) }?.name
    }

    public func challenges(nonce: String, isTLS: Bool) -> [String] {
        var values = [
            DigestVerifier(realm: self.realm, algorithm: .sha256).challenge(nonce: nonce),
            DigestVerifier(realm: self.realm, algorithm: .md5).challenge(nonce: nonce),
        ]
        if isTLS { values.append("Basic realm=\(HeaderParameters.quote(self.realm))") }
        return values
    }
}

extension GatewayUser {
    public func mayRead(_ path: StreamPath) -> Bool { self.mayRead(camera: path.camera, stream: path.stream) }
}
