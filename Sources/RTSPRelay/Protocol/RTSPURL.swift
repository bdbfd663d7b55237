/// An `rtsp://` or `rtsps://` URL split into its parts (RFC 2326 §3.2, RFC 3986).
///
/// Parsing is deliberately narrow: scheme, optional userinfo, host (name, IPv4 or bracketed IPv6), optional port,
/// then path and query as one opaque string. The relay keeps only `pathAndQuery` of any URL a camera hands back
/// and always uses the configured host, so a hostile camera cannot steer the gateway elsewhere.
public struct RTSPURL: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var user: String?
    public var password: String?
    public var host: String
    public var port: Int?
    /// Starts with `/`, or is empty; includes `?query` when present.
    public var pathAndQuery: String

    public init(scheme: String = "rtsp", host: String, port: Int? = nil, pathAndQuery: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathAndQuery = pathAndQuery
    }

    public init?(_ text: String) {
        guard text.utf8.count <= 4096, text.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return nil }
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "rtsp" || scheme == "rtsps" || scheme == "rtspu" else { return nil }
        self.scheme = scheme
        var rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        // ASCII only: a non-ASCII scalar can join the `:` or `]` after it into one Character (U+070F is a
        // prepended mark), so the split would see no port where a byte-wise reader sees one — and the URL
        // written back would parse as another.
        guard authority.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                self.user = String(userinfo[..<colon]).removingPercentEncoding
                self.password = String(userinfo[userinfo.index(after: colon)...]).removingPercentEncoding
            } else {
                self.user = String(userinfo).removingPercentEncoding
            }
        }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            self.host = String(authority[authority.index(after: authority.startIndex)..<close])
            authority = authority[authority.index(after: close)...]
            guard authority.isEmpty || authority.hasPrefix(":") else { return nil }
        } else {
            let colon = authority.firstIndex(of: ":") ?? authority.endIndex
            self.host = String(authority[..<colon])
            authority = authority[colon...]
        }
        // A name, an IPv4 address or (bracketed) an IPv6 one: nothing that could end the authority when
        // written back.
        let bracketed = self.host.contains(":")
        guard !self.host.isEmpty,
            self.host.utf8.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                case UInt8(ascii: ":"), UInt8(ascii: "%"): bracketed
                default: false
                }
            })
        else { return nil }
        if authority.hasPrefix(":") {
            guard let port = HeaderParameters.decimal(authority.dropFirst(), maxDigits: 5, as: Int.self),
                (1...65535).contains(port)
            else { return nil }
            self.port = port
        }
        self.pathAndQuery = rest.hasPrefix("?") ? "/" + rest : String(rest)
    }

    /// The path without the query.
    public var path: String {
        String(self.pathAndQuery.prefix { $0 != "?" })
    }

    /// The URL without credentials.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(self.scheme)://\(host)" + (self.port.map { ":\($0)" } ?? "") + self.pathAndQuery
    }
}

extension String {
    /// Percent-decoding of userinfo (RFC 3986 §2.1); `nil` on a malformed escape.
    fileprivate var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var iterator = self.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
