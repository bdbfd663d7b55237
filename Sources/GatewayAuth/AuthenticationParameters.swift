/// An authentication challenge or credentials: a scheme and its parameters (RFC 7235 §2.1), as found in
/// `WWW-Authenticate` and `Authorization`.
public struct AuthenticationParameters: Hashable, Sendable {
    /// The scheme as sent, compared case-insensitively (`Digest`, `Basic`).
    public var scheme: String
    /// Parameter names lower-cased; values unquoted.
    public var parameters: [String: String]
    /// For `Basic` credentials: the token68 after the scheme.
    public var token: String?

    public init(scheme: String, parameters: [String: String] = [:], token: String? = nil) {
        self.scheme = scheme
        self.parameters = parameters
        self.token = token
    }

    public subscript(name: String) -> String? { self.parameters[name.lowercased()] }

    /// The user name an `Authorization` value claims (Digest's `username`, Basic's name before the colon), for
    /// counting failures per user before, and whether or not, the credentials are checked.
    public static func claimedUser(_ authorization: String?) -> String? {
        guard let authorization, let credentials = try? Self.parseList(authorization).first else { return nil }
        if credentials.isScheme("Basic") {
            guard let token = credentials.token, let decoded = base64Decode(token),
                let text = String(validating: decoded, as: UTF8.self), let colon = text.firstIndex(of: ":")
            else { return nil }
            return Self.claimable(String(text[..<colon]))
        }
        return credentials["username"].flatMap(Self.claimable)
    }

    /// A name longer than any configured one (64) names nobody: not a prefix of it, which might name someone.
    private static func claimable(_ name: String) -> String? { name.utf8.count <= 256 ? name : nil }

    public func isScheme(_ name: String) -> Bool { self.scheme.caseInsensitiveEquals(name) }

    /// Parses one header value, which may hold several challenges (`Digest realm="a", nonce="b", Basic realm="a"`).
    /// A new challenge starts where an element is a token not followed by `=`.
    public static func parseList(_ value: String) throws(AuthenticationError) -> [AuthenticationParameters] {
        guard value.utf8.count <= 4096 else { throw invalid("authentication header over 4096 bytes") }
        var result: [AuthenticationParameters] = []
        for element in HeaderParameters.split(Substring(value), on: ",") {
            // An element is either `scheme`, `scheme token68`, `scheme name=value` or `name=value`.
            let firstSpace = element.firstIndex(where: { $0 == " " || $0 == "\t" })
            let head = firstSpace.map { element[element.startIndex..<$0] } ?? element
            let rest = firstSpace.map { element[element.index(after: $0)...].trimmingASCIIWhitespace() } ?? ""
            let isParameter = head.contains("=") || rest.hasPrefix("=")
            if !isParameter {
                guard isTokenString(head) else { throw invalid("bad scheme '\(HeaderText.excerpt(head))'") }
                var challenge = AuthenticationParameters(scheme: String(head))
                if !rest.isEmpty {
                    if isToken68(rest) {
                        challenge.token = String(rest)
                    } else {
                        try challenge.addParameter(rest)
                    }
                }
                result.append(challenge)
            } else {
                guard !result.isEmpty else { throw invalid("parameter before any scheme") }
                try result[result.count - 1].addParameter(element)
            }
            guard result.count <= 8 else { throw invalid("more than 8 challenges") }
        }
        guard !result.isEmpty else { throw invalid("no scheme") }
        return result
    }

    private mutating func addParameter(_ element: Substring) throws(AuthenticationError) {
        let (key, value) = HeaderParameters.keyValue(element)
        guard let value, Self.isTokenString(key) else {
            throw Self.invalid("bad parameter '\(HeaderText.excerpt(element))'")
        }
        guard self.parameters.count < 16 else { throw Self.invalid("more than 16 parameters") }
        self.parameters[key.lowercased()] = String(value)
    }

    /// Writes `Scheme name="value", ...`. Parameters that RFC 7616 §3.4 requires unquoted are written bare.
    public var headerValue: String {
        if let token { return "\(self.scheme) \(token)" }
        let unquoted: Set<String> = ["algorithm", "qop", "nc", "stale", "userhash"]
        let ordered = ["username", "realm", "nonce", "uri", "algorithm", "response", "qop", "nc", "cnonce", "opaque"]
        let keys =
            ordered.filter { self.parameters[$0] != nil }
            + self.parameters.keys.sorted().filter { !ordered.contains($0) }
        let params = keys.map { key in
            let value = self.parameters[key]!
            return unquoted.contains(key) ? "\(key)=\(value)" : "\(key)=\(HeaderParameters.quote(value))"
        }
        return params.isEmpty ? self.scheme : "\(self.scheme) " + params.joined(separator: ", ")
    }

    private static func isTokenString(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy(HeaderText.isTokenByte)
    }

    /// RFC 7235 §2.1 token68: used by Basic credentials.
    private static func isToken68(_ s: Substring) -> Bool {
        guard !s.isEmpty, !s.contains("=") || s.drop(while: { $0 != "=" }).allSatisfy({ $0 == "=" }) else {
            return false
        }
        return s.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || isDigit(byte) || "-._~+/=".utf8.contains(byte)
        }
    }

    private static func invalid(_ detail: String) -> AuthenticationError {
        AuthenticationError(.invalid, "authentication: \(detail)")
    }
}
