/// The `RTP-Info` header of a PLAY response (RFC 2326 §12.33): per stream, its URL and the sequence number and
/// RTP timestamp of the first packet after PLAY.
public struct RTPInfo: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var url: String
        public var seq: UInt16?
        public var rtptime: UInt32?

        public init(url: String, seq: UInt16? = nil, rtptime: UInt32? = nil) {
            self.url = url
            self.seq = seq
            self.rtptime = rtptime
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Cameras do not quote URLs, and an URL may contain `,` or `;`: entries are therefore split only where a
    /// comma is followed by `url=` and parameters only where `;` is followed by `seq=`/`rtptime=`/`ssrc=`.
    public static func parse(_ value: String) throws(RTSPError) -> RTPInfo {
        guard RTSPHeaders.isSafeValue(value) else {
            throw RTSPError(.invalidHeaderValue, "RTP-Info: control character")
        }
        var entries: [Entry] = []
        for rawEntry in splitBefore(Substring(value), separator: ",", keys: ["url="]) {
            let params = splitBefore(rawEntry, separator: ";", keys: ["url=", "seq=", "rtptime=", "ssrc="])
            var entry = Entry(url: "")
            var hasURL = false
            for param in params {
                let (key, raw) = HeaderParameters.keyValue(param)
                guard let raw else { continue }
                switch key.lowercased() {
                case "url":
                    entry.url = String(raw)
                    hasURL = !raw.isEmpty
                case "seq":
                    guard let seq = HeaderParameters.decimal(raw, maxDigits: 5, as: UInt32.self), seq <= 0xFFFF else {
                        throw RTSPError(.invalidHeaderValue, "RTP-Info seq '\(RTSPError.excerpt(raw))'")
                    }
                    entry.seq = UInt16(seq)
                case "rtptime":
                    guard let time = HeaderParameters.decimal(raw, maxDigits: 10, as: UInt64.self),
                        time <= UInt32.max
                    else {
                        throw RTSPError(.invalidHeaderValue, "RTP-Info rtptime '\(RTSPError.excerpt(raw))'")
                    }
                    entry.rtptime = UInt32(time)
                default:
                    break
                }
            }
            guard hasURL else { throw RTSPError(.invalidHeaderValue, "RTP-Info entry without url") }
            entries.append(entry)
            guard entries.count <= 64 else { throw RTSPError(.invalidHeaderValue, "RTP-Info with over 64 entries") }
        }
        guard !entries.isEmpty else { throw RTSPError(.invalidHeaderValue, "empty RTP-Info") }
        return RTPInfo(entries: entries)
    }

    public var headerValue: String {
        self.entries.map { entry in
            var text = "url=\(entry.url)"
            if let seq = entry.seq { text += ";seq=\(seq)" }
            if let rtptime = entry.rtptime { text += ";rtptime=\(rtptime)" }
            return text
        }.joined(separator: ",")
    }

    /// Splits at `separator` only where the text after it starts with one of `keys` (case-insensitively).
    private static func splitBefore(_ value: Substring, separator: Character, keys: [String]) -> [Substring] {
        var parts: [Substring] = []
        var start = value.startIndex
        var index = value.startIndex
        while index < value.endIndex {
            if value[index] == separator {
                let rest = value[value.index(after: index)...].trimmingASCIIWhitespace().lowercased()
                if keys.contains(where: { rest.hasPrefix($0) }) {
                    parts.append(value[start..<index])
                    start = value.index(after: index)
                }
            }
            index = value.index(after: index)
        }
        parts.append(value[start...])
        return parts.map { $0.trimmingASCIIWhitespace() }.filter { !$0.isEmpty }
    }
}
