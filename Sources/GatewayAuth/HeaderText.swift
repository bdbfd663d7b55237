/// The RFC 7230 token and whitespace rules that the authentication headers and the RTSP headers share, for the
/// targets of this package only.
package enum HeaderText {
    /// RFC 7230 §3.2.6 token characters (RFC 2326 §15.1 uses the same set).
    package static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A value as a log line may show it: printable ASCII, everything else `?`, cut at `limit` characters.
    package static func excerpt(_ value: some StringProtocol, limit: Int = 64) -> String {
        let visible = value.prefix(limit).map {
            $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0.isSymbol || $0 == " ")
                ? String($0) : "?"
        }.joined()
        return value.count > limit ? visible + "…" : visible
    }
}

@inline(__always)
package func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

@inline(__always)
package func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte | 0x20 : byte
}

extension StringProtocol {
    package func caseInsensitiveEquals(_ other: some StringProtocol) -> Bool {
        guard self.utf8.count == other.utf8.count else { return false }
        return zip(self.utf8, other.utf8).allSatisfy { a, b in asciiLower(a) == asciiLower(b) }
    }

    package func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = self.firstIndex(where: { !isSpace($0) }) else { return Substring() }
        let last = self.lastIndex(where: { !isSpace($0) })!
        return Substring(self[first...last])
    }
}

/// A malformed or unsupported authentication header; the RTSP and HTTP layers answer it with their own errors.
public struct AuthenticationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The header does not parse.
        case invalid
        /// It parses, but offers nothing this side can answer (or would answer safely).
        case unsupported
    }

    public var kind: Kind
    public var detail: String
    public var description: String { self.detail }

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }
}
