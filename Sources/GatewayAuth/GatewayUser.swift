/// A VMS user, for every surface that signs one in (RTSP readers, virtual ONVIF devices): never a password, only
/// H(name:realm:password) per Digest algorithm, the streams it may read and the networks it may come from.
public struct GatewayUser: Sendable, Hashable {
    public var name: String
    /// Lower-case hex H(name:realm:password) with MD5 and with SHA-256; either may be absent.
    public var ha1MD5: String?
    public var ha1SHA256: String?
    /// `camera/stream`, `camera/*` or `*`.
    public var streams: [String]
    /// Source networks the user may connect from; empty means any.
    public var sources: [CIDR]

    public init(name: String, ha1MD5: String?, ha1SHA256: String?, streams: [String], sources: [CIDR] = []) {
        self.name = name
        self.ha1MD5 = ha1MD5
        self.ha1SHA256 = ha1SHA256
        self.streams = streams
        self.sources = sources
    }

    /// The user with HA1s computed from a password (for tests and the CLI; the config stores only HA1s).
    public static func withPassword(
        _ name: String,
        _ password: String,
        realm: String,
        streams: [String],
        sources: [CIDR] = []
    ) -> GatewayUser {
        GatewayUser(
            name: name,
            ha1MD5: DigestAlgorithm.md5.hash("\(name):\(realm):\(password)"),
            ha1SHA256: DigestAlgorithm.sha256.hash("\(name):\(realm):\(password)"),
            streams: streams,
            sources: sources
        )
    }

    /// Whether `source` is inside the user's networks (any source when it has none).
    public func mayConnect(from source: String) -> Bool {
        self.sources.isEmpty || self.sources.contains { $0.contains(source) }
    }

    public func mayRead(camera: String, stream: String) -> Bool {
        self.streams.contains { pattern in
            pattern == "*" || pattern == "\(camera)/\(stream)" || pattern == "\(camera)/*"
        }
    }
}
