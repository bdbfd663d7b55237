/// The `Range` header (RFC 2326 §12.29, §3.6, §3.7). A live relay needs only normal play time (`npt=now-`,
/// `npt=0.000-`) and absolute time (`clock=`); SMPTE ranges are refused.
public enum RTSPRange: Hashable, Sendable {
    public enum NPT: Hashable, Sendable {
        case now
        /// Seconds, with millisecond precision.
        case seconds(milliseconds: Int64)
    }

    case npt(start: NPT?, end: NPT?)
    /// `clock=20210505T215117Z-...`: UTC times kept as validated text.
    case clock(start: String, end: String?)

    public static func parse(_ value: String) throws(RTSPError) -> RTSPRange {
        let spec = HeaderParameters.split(Substring(value), on: ";").first ?? ""
        let (unit, raw) = HeaderParameters.keyValue(spec)
        guard let raw, let dash = raw.firstIndex(of: "-") else { throw invalid(value) }
        let startText = raw[raw.startIndex..<dash].trimmingASCIIWhitespace()
        let endText = raw[raw.index(after: dash)...].trimmingASCIIWhitespace()
        switch unit.lowercased() {
        case "npt":
            let start = startText.isEmpty ? nil : try parseNPT(startText, whole: value)
            let end = endText.isEmpty ? nil : try parseNPT(endText, whole: value)
            guard start != nil || end != nil else { throw invalid(value) }
            return .npt(start: start, end: end)
        case "clock":
            guard isUTCTime(startText), endText.isEmpty || isUTCTime(endText) else { throw invalid(value) }
            return .clock(start: String(startText), end: endText.isEmpty ? nil : String(endText))
        default:
            throw invalid(value)
        }
    }

    public var headerValue: String {
        switch self {
        case .npt(let start, let end):
            return "npt=" + (start.map(Self.format) ?? "") + "-" + (end.map(Self.format) ?? "")
        case .clock(let start, let end):
            return "clock=\(start)-\(end ?? "")"
        }
    }

    private static func format(_ npt: NPT) -> String {
        switch npt {
        case .now: return "now"
        case .seconds(let ms):
            let fraction = String(ms % 1000)
            return "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
        }
    }

    /// `now`, `123.456` or `hh:mm:ss.fff`.
    private static func parseNPT(_ text: Substring, whole: String) throws(RTSPError) -> NPT {
        if text.lowercased() == "now" { return .now }
        let clockParts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard clockParts.count == 1 || clockParts.count == 3 else { throw invalid(whole) }
        var seconds: Int64 = 0
        for part in clockParts.dropLast() {
            guard let n = HeaderParameters.decimal(part, maxDigits: 6, as: Int64.self) else { throw invalid(whole) }
            seconds = seconds * 60 + n
        }
        let last = clockParts.last!
        let pieces = last.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let integer = HeaderParameters.decimal(pieces[0], maxDigits: 9, as: Int64.self) else {
            throw invalid(whole)
        }
        var milliseconds: Int64 = 0
        if pieces.count == 2 {
            let digits = pieces[1].prefix(3)
            guard pieces[1].isEmpty || pieces[1].utf8.allSatisfy(isDigit) else { throw invalid(whole) }
            milliseconds = Int64(digits.padding(toLength: 3, withPad: "0")) ?? 0
        }
        let total = (clockParts.count == 3 ? seconds * 60 : 0) + integer  // `seconds` holds h*60+m here
        return .seconds(milliseconds: total * 1000 + milliseconds)
    }

    private static func isUTCTime(_ text: Substring) -> Bool {
        // 20210505T215117Z or 20210505T215117.25Z (RFC 2326 §3.7)
        let bytes = Array(text.utf8)
        guard bytes.count >= 16, bytes.count <= 26, bytes[8] == UInt8(ascii: "T"), bytes.last == UInt8(ascii: "Z")
        else { return false }
        return bytes[0..<8].allSatisfy(isDigit) && bytes[9..<15].allSatisfy(isDigit)
            && bytes[15..<(bytes.count - 1)].allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") }
    }

    private static func invalid(_ value: String) -> RTSPError {
        RTSPError(.invalidHeaderValue, "Range '\(RTSPError.excerpt(value))'")
    }
}

extension Substring {
    fileprivate func padding(toLength length: Int, withPad pad: Character) -> String {
        String(self) + String(repeating: pad, count: Swift.max(0, length - self.count))
    }
}
