/// The `Session` header (RFC 2326 §12.37): an identifier and an optional `timeout` in seconds.
///
/// Cameras pad it (`Session:        708345999;timeout=60`); the identifier is kept without the padding and must
/// be 1–128 characters of `ALPHA / DIGIT / safe` (RFC 2326 §3.4), so that it can be echoed back safely.
public struct RTSPSessionHeader: Hashable, Sendable {
    public var id: String
    public var timeout: Int?

    public init(id: String, timeout: Int? = nil) {
        self.id = id
        self.timeout = timeout
    }

    public static let maxIDLength = 128

    public static func parse(_ value: String) throws(RTSPError) -> RTSPSessionHeader {
        let parts = HeaderParameters.split(Substring(value), on: ";")
        guard let id = parts.first, (1...self.maxIDLength).contains(id.utf8.count), id.utf8.allSatisfy(isSafeIDByte)
        else {
            throw RTSPError(.invalidHeaderValue, "Session id '\(RTSPError.excerpt(value))'")
        }
        var header = RTSPSessionHeader(id: String(id))
        for part in parts.dropFirst() {
            let (key, raw) = HeaderParameters.keyValue(part)
            guard key.lowercased() == "timeout" else { continue }
            guard let raw, let timeout = HeaderParameters.decimal(raw, maxDigits: 6, as: Int.self) else {
                throw RTSPError(.invalidHeaderValue, "Session timeout '\(RTSPError.excerpt(part))'")
            }
            header.timeout = timeout
        }
        return header
    }

    public var headerValue: String {
        self.timeout.map { "\(self.id);timeout=\($0)" } ?? self.id
    }

    /// RFC 2326 §3.4 session-id characters: ALPHA, DIGIT and `$-_.+`.
    private static func isSafeIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "$"), UInt8(ascii: "-"), UInt8(ascii: "_"),
            UInt8(ascii: "."), UInt8(ascii: "+"):
            return true
        default:
            return false
        }
    }
}
