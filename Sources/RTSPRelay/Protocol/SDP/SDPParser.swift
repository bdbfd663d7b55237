/// Bounds on a session description. A hostile camera can send an SDP with thousands of media sections or
/// megabyte lines; these keep the model small whatever it sends.
public struct SDPLimits: Hashable, Sendable {
    public var maxLineLength = 4096
    public var maxMediaCount = 16
    public var maxAttributesPerSection = 64
    public var maxFormatsPerMedia = 32
    public var maxBandwidthsPerSection = 8

    public init() {}
}

/// A tolerant parser for the SDP that cameras send (RFC 8866): LF or CRLF line endings, missing `t=` or `s=`,
/// trailing whitespace, spaces after `;` in fmtp, vendor attributes. Lines it does not model (`e=`, `u=`, `p=`,
/// `k=`, `z=`, `r=`) are dropped, since the gateway never repeats them. It refuses what cannot be a description:
/// no `v=0`, no `o=`, a malformed `m=` line, control characters, or any of ``SDPLimits`` exceeded.
public enum SDPParser {
    public static func parse(_ text: String, limits: SDPLimits = SDPLimits()) throws(RTSPError) -> SessionDescription {
        var origin: SessionDescription.Origin?
        var description = SessionDescription(
            origin: .init(sessionID: "0", sessionVersion: "0", address: "0.0.0.0"),
            sessionName: ""
        )
        var sawVersion = false
        var sawName = false
        var lineNumber = 0

        // "\r\n" is one Character in Swift, so both endings are separators.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            line = line.trimmingTrailingWhitespace()
            if line.isEmpty { continue }
            guard line.utf8.count <= limits.maxLineLength else {
                throw RTSPError(.sdpLimitExceeded, "SDP line \(lineNumber) over \(limits.maxLineLength) bytes")
            }
            guard line.utf8.allSatisfy(RTSPHeaders.isValueByte) else {
                throw RTSPError(.sdpInvalid, "SDP line \(lineNumber) has a control character")
            }
            let bytes = line.utf8
            guard bytes.count >= 2, bytes[bytes.index(after: bytes.startIndex)] == UInt8(ascii: "=") else {
                throw RTSPError(.sdpInvalid, "SDP line \(lineNumber) is not '<type>=<value>'")
            }
            let type = line.first!
            let value = line.dropFirst(2)
            if !sawVersion {
                guard type == "v", value == "0" else { throw RTSPError(.sdpInvalid, "SDP does not start with v=0") }
                sawVersion = true
                continue
            }
            let inMedia = !description.media.isEmpty
            switch type {
            case "o":
                origin = try self.parseOrigin(value, line: lineNumber)
            case "s":
                description.sessionName = String(value)
                sawName = true
            case "i":
                if inMedia {
                    description.media[description.media.count - 1].information = String(value)
                } else {
                    description.information = String(value)
                }
            case "c":
                let connection = try self.parseConnection(value, line: lineNumber)
                if inMedia {
                    description.media[description.media.count - 1].connection = connection
                } else {
                    description.connection = connection
                }
            case "b":
                guard let bandwidth = self.parseBandwidth(value) else { continue }  // tolerated: unknown forms
                if inMedia {
                    guard
                        description.media[description.media.count - 1].bandwidths.count < limits.maxBandwidthsPerSection
                    else { throw RTSPError(.sdpLimitExceeded, "too many b= lines at line \(lineNumber)") }
                    description.media[description.media.count - 1].bandwidths.append(bandwidth)
                } else {
                    guard description.bandwidths.count < limits.maxBandwidthsPerSection else {
                        throw RTSPError(.sdpLimitExceeded, "too many b= lines at line \(lineNumber)")
                    }
                    description.bandwidths.append(bandwidth)
                }
            case "t":
                let fields = value.split(separator: " ")
                guard fields.count == 2, let start = UInt64(fields[0]), let stop = UInt64(fields[1]) else {
                    throw RTSPError(.sdpInvalid, "bad t= at line \(lineNumber)")
                }
                description.timing = (start, stop)
            case "a":
                let attribute = self.parseAttribute(value)
                if inMedia {
                    guard
                        description.media[description.media.count - 1].attributes.count < limits.maxAttributesPerSection
                    else { throw RTSPError(.sdpLimitExceeded, "too many attributes at line \(lineNumber)") }
                    description.media[description.media.count - 1].attributes.append(attribute)
                } else {
                    guard description.attributes.count < limits.maxAttributesPerSection else {
                        throw RTSPError(.sdpLimitExceeded, "too many attributes at line \(lineNumber)")
                    }
                    description.attributes.append(attribute)
                }
            case "m":
                guard description.media.count < limits.maxMediaCount else {
                    throw RTSPError(.sdpLimitExceeded, "more than \(limits.maxMediaCount) media sections")
                }
                description.media.append(try self.parseMedia(value, line: lineNumber, limits: limits))
            case "v":
                throw RTSPError(.sdpInvalid, "second v= at line \(lineNumber)")
            default:
                continue  // e= u= p= k= z= r= and unknown types: not part of what the gateway repeats
            }
        }
        guard sawVersion else { throw RTSPError(.sdpInvalid, "empty SDP") }
        guard let origin else { throw RTSPError(.sdpInvalid, "SDP without o=") }
        description.origin = origin
        if !sawName { description.sessionName = "" }
        return description
    }

    private static func parseOrigin(_ value: Substring, line: Int) throws(RTSPError) -> SessionDescription.Origin {
        let f = value.split(separator: " ")
        guard f.count == 6 else { throw RTSPError(.sdpInvalid, "bad o= at line \(line)") }
        return .init(
            username: String(f[0]),
            sessionID: String(f[1]),
            sessionVersion: String(f[2]),
            networkType: String(f[3]),
            addressType: String(f[4]),
            address: String(f[5])
        )
    }

    private static func parseConnection(
        _ value: Substring,
        line: Int
    ) throws(RTSPError) -> SessionDescription.Connection {
        let f = value.split(separator: " ")
        guard f.count == 3 else { throw RTSPError(.sdpInvalid, "bad c= at line \(line)") }
        return .init(networkType: String(f[0]), addressType: String(f[1]), address: String(f[2]))
    }

    private static func parseBandwidth(_ value: Substring) -> SessionDescription.Bandwidth? {
        guard let colon = value.firstIndex(of: ":"), let kbps = UInt64(value[value.index(after: colon)...]) else {
            return nil
        }
        let type = value[value.startIndex..<colon]
        guard RTSPHeaders.isToken(String(type)) else { return nil }
        return .init(type: String(type), kbps: kbps)
    }

    private static func parseAttribute(_ value: Substring) -> SessionDescription.Attribute {
        guard let colon = value.firstIndex(of: ":") else { return .init(String(value)) }
        return .init(String(value[value.startIndex..<colon]), String(value[value.index(after: colon)...]))
    }

    private static func parseMedia(
        _ value: Substring,
        line: Int,
        limits: SDPLimits
    ) throws(RTSPError) -> SessionDescription.Media {
        let f = value.split(separator: " ")
        guard f.count >= 3 else { throw RTSPError(.sdpInvalid, "bad m= at line \(line)") }
        guard f.count - 3 <= limits.maxFormatsPerMedia else {
            throw RTSPError(.sdpLimitExceeded, "more than \(limits.maxFormatsPerMedia) formats at line \(line)")
        }
        let portParts = f[1].split(separator: "/", omittingEmptySubsequences: false)
        guard RTSPHeaders.isToken(String(f[0])), let port = UInt16(portParts[0]), portParts.count <= 2 else {
            throw RTSPError(.sdpInvalid, "bad m= at line \(line)")
        }
        var portCount: UInt16?
        if portParts.count == 2 {
            guard let count = UInt16(portParts[1]) else { throw RTSPError(.sdpInvalid, "bad m= port at line \(line)") }
            portCount = count
        }
        return .init(
            type: String(f[0]),
            port: port,
            portCount: portCount,
            proto: String(f[2]),
            formats: f.dropFirst(3).map(String.init)
        )
    }
}

extension Substring {
    fileprivate func trimmingTrailingWhitespace() -> Substring {
        var result = self
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}
