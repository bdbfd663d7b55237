/// A path the gateway serves: `/<camera>/<stream>` for the aggregate, `/<camera>/<stream>/trackID=<n>` for one
/// media. Names are restricted to `[A-Za-z0-9._-]`, so a path can never smuggle anything into a log line, a URL
/// we write, or a lookup.
public struct StreamPath: Hashable, Sendable, CustomStringConvertible {
    public var camera: String
    public var stream: String

    public init(camera: String, stream: String) {
        self.camera = camera
        self.stream = stream
    }

    public var description: String { "/\(self.camera)/\(self.stream)" }

    /// Parses the path of a request URL (absolute `rtsp://host/...` or a bare path); the query is ignored.
    public static func parse(_ uri: String) -> (path: StreamPath, track: Int?)? {
        let pathPart: String
        if let url = RTSPURL(uri) {
            pathPart = url.path
        } else if uri.hasPrefix("/") {
            pathPart = String(uri.prefix { $0 != "?" })
        } else {
            return nil
        }
        let components = pathPart.split(separator: "/", omittingEmptySubsequences: true)
        guard components.count == 2 || components.count == 3,
            components.prefix(2).allSatisfy(isName)
        else { return nil }
        let path = StreamPath(camera: String(components[0]), stream: String(components[1]))
        guard components.count == 3 else { return (path, nil) }
        let track = components[2]
        guard track.hasPrefix("trackID="), let index = Int(track.dropFirst(8)), (0..<64).contains(index) else {
            return nil
        }
        return (path, index)
    }

    public static func isName(_ name: some StringProtocol) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                    || byte == UInt8(ascii: ".")
            }
    }
}
