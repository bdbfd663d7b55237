/// One transport specification of a `Transport` header (RFC 2326 §12.39).
///
/// Parsing is tolerant of what cameras send (`ssrc= d6d6627`, short or zero-padded hex, `mode="play"` in any
/// case) and strict about what could steer traffic: ports must be 1–65535 with a well-formed range, and
/// `destination`/`source` are kept so that a server can refuse them rather than silently obey.
public struct RTSPTransport: Hashable, Sendable {
    public enum LowerTransport: Hashable, Sendable { case udp, tcp }

    /// A port or a port pair, `5000-5001` (RFC 2326 §12.39: `port [ "-" port ]`).
    public struct PortRange: Hashable, Sendable, CustomStringConvertible {
        public var first: UInt16
        public var last: UInt16

        public init(first: UInt16, last: UInt16) {
            self.first = first
            self.last = last
        }

        public init(rtp: UInt16) {
            self.init(first: rtp, last: rtp &+ 1)
        }

        public var description: String { self.first == self.last ? "\(self.first)" : "\(self.first)-\(self.last)" }
    }

    /// `RTP/AVP`, `RTP/SAVP`, ...: transport protocol and profile, without the lower transport.
    public var profile: String
    public var lowerTransport: LowerTransport
    public var isMulticast: Bool
    /// `interleaved=0-1`: the RTP channel and the RTCP channel.
    public var interleaved: (rtp: UInt8, rtcp: UInt8)? {
        get { self.interleavedChannels.map { ($0.first, $0.last) } }
        set { self.interleavedChannels = newValue.map { ChannelPair(first: $0.rtp, last: $0.rtcp) } }
    }
    public var clientPort: PortRange?
    public var serverPort: PortRange?
    /// Multicast port pair.
    public var port: PortRange?
    public var ssrc: UInt32?
    /// `PLAY` or `RECORD`, upper-cased.
    public var mode: String?
    public var destination: String?
    public var source: String?
    public var ttl: UInt8?

    private struct ChannelPair: Hashable, Sendable {
        var first: UInt8
        var last: UInt8
    }
    private var interleavedChannels: ChannelPair?

    public init(
        profile: String = "RTP/AVP",
        lowerTransport: LowerTransport,
        isMulticast: Bool = false,
        interleaved: (rtp: UInt8, rtcp: UInt8)? = nil,
        clientPort: PortRange? = nil,
        serverPort: PortRange? = nil,
        ssrc: UInt32? = nil,
        mode: String? = nil
    ) {
        self.profile = profile
        self.lowerTransport = lowerTransport
        self.isMulticast = isMulticast
        self.clientPort = clientPort
        self.serverPort = serverPort
        self.ssrc = ssrc
        self.mode = mode
        self.interleaved = interleaved
    }

    // MARK: Parsing

    /// Parses every comma-separated specification of a Transport header (a client may offer alternatives).
    public static func parseList(_ value: String) throws(RTSPError) -> [RTSPTransport] {
        guard RTSPHeaders.isSafeValue(value) else { throw invalid("control character") }
        let specs = HeaderParameters.split(Substring(value), on: ",")
        guard !specs.isEmpty else { throw invalid("empty Transport") }
        guard specs.count <= 16 else { throw invalid("more than 16 transport specifications") }
        var result: [RTSPTransport] = []
        for spec in specs { result.append(try self.parse(spec)) }
        return result
    }

    public static func parse(_ spec: Substring) throws(RTSPError) -> RTSPTransport {
        let parts = HeaderParameters.split(spec, on: ";")
        guard let protocolPart = parts.first else { throw invalid("empty transport specification") }
        let components = protocolPart.uppercased().split(separator: "/", omittingEmptySubsequences: false)
        // The profile is a bare name (AVP, SAVP, AVPF, SAVPF): it is written back into our own headers.
        guard components.count == 2 || components.count == 3, components[0] == "RTP", !components[1].isEmpty,
            components[1].count <= 8, components[1].allSatisfy({ $0.isASCII && $0.isLetter })
        else { throw invalid("unsupported transport protocol '\(RTSPError.excerpt(protocolPart))'") }
        var transport = RTSPTransport(
            profile: "RTP/\(components[1])",
            lowerTransport: .udp
        )
        if components.count == 3 {
            switch components[2] {
            case "TCP": transport.lowerTransport = .tcp
            case "UDP": transport.lowerTransport = .udp
            default: throw invalid("unsupported lower transport '\(RTSPError.excerpt(components[2]))'")
            }
        }
        for part in parts.dropFirst() {
            let (key, value) = HeaderParameters.keyValue(part)
            switch key.lowercased() {
            case "unicast": transport.isMulticast = false
            case "multicast": transport.isMulticast = true
            case "interleaved":
                let range = try parseRange(value, name: "interleaved", allowZero: true, max: 255)
                transport.interleavedChannels = ChannelPair(first: UInt8(range.first), last: UInt8(range.last))
            case "client_port": transport.clientPort = try parseRange(value, name: "client_port")
            case "server_port": transport.serverPort = try parseRange(value, name: "server_port")
            case "port": transport.port = try parseRange(value, name: "port")
            case "ssrc": transport.ssrc = try parseSSRC(value)
            case "mode":
                guard let value, !value.isEmpty, value.allSatisfy({ $0.isLetter }) else { throw invalid("bad mode") }
                transport.mode = value.uppercased()
            case "destination": transport.destination = try address(value, name: "destination")
            case "source": transport.source = try address(value, name: "source")
            case "ttl":
                guard let value, let ttl = HeaderParameters.decimal(value, maxDigits: 3, as: UInt8.self) else {
                    throw invalid("bad ttl")
                }
                transport.ttl = ttl
            default:
                break  // append, layers, rtcp-mux and vendor parameters: not used by the gateway
            }
        }
        if transport.lowerTransport == .tcp, transport.clientPort != nil || transport.serverPort != nil {
            // Harmless in practice (some clients send both), so only the ports are dropped.
            transport.clientPort = nil
            transport.serverPort = nil
        }
        return transport
    }

    private static func parseRange(
        _ value: Substring?,
        name: String,
        allowZero: Bool = false,
        max: Int = 65535
    ) throws(RTSPError) -> PortRange {
        guard let value else { throw invalid("\(name) without a value") }
        let bounds = value.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        var numbers: [UInt16] = []
        for bound in bounds {
            guard let number = HeaderParameters.decimal(bound.trimmingASCIIWhitespace(), maxDigits: 5, as: Int.self),
                number <= max, allowZero || number > 0
            else { throw invalid("\(name) '\(RTSPError.excerpt(value))'") }
            numbers.append(UInt16(number))
        }
        let first = numbers[0]
        var last = numbers.count == 2 ? numbers[1] : first
        if numbers.count == 1, name == "interleaved" {
            // A single channel implies the next one for RTCP (RFC 2326 §12.39).
            guard first < 255 else { throw invalid("interleaved channel 255 leaves no RTCP channel") }
            last = first + 1
        }
        guard last >= first else { throw invalid("\(name) '\(RTSPError.excerpt(value))' runs backwards") }
        return PortRange(first: first, last: last)
    }

    /// An address parameter, kept (so a server can refuse it) only when it looks like a host: letters, digits,
    /// `.`, `:`, `-`.
    private static func address(_ value: Substring?, name: String) throws(RTSPError) -> String {
        guard let value, (1...255).contains(value.utf8.count),
            value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == ":" || $0 == "-") })
        else { throw invalid("\(name) '\(RTSPError.excerpt(value ?? ""))'") }
        return String(value)
    }

    /// 1 to 8 hex digits, leading whitespace tolerated (Hikvision sends `ssrc= d6d6627`).
    private static func parseSSRC(_ value: Substring?) throws(RTSPError) -> UInt32 {
        guard let value else { throw invalid("ssrc without a value") }
        let hex = value.trimmingASCIIWhitespace()
        guard (1...8).contains(hex.utf8.count), let ssrc = UInt32(hex, radix: 16) else {
            throw invalid("ssrc '\(RTSPError.excerpt(value))'")
        }
        return ssrc
    }

    private static func invalid(_ detail: String) -> RTSPError {
        RTSPError(.invalidHeaderValue, "Transport: \(detail)")
    }

    // MARK: Writing

    /// The header value, in the canonical form the gateway writes (ssrc as 8 hex digits).
    public var headerValue: String {
        var parts = [self.profile + (self.lowerTransport == .tcp ? "/TCP" : "")]
        parts.append(self.isMulticast ? "multicast" : "unicast")
        if let destination { parts.append("destination=\(destination)") }
        if let source { parts.append("source=\(source)") }
        if let channels = self.interleavedChannels { parts.append("interleaved=\(channels.first)-\(channels.last)") }
        if let port { parts.append("port=\(port)") }
        if let ttl { parts.append("ttl=\(ttl)") }
        if let clientPort { parts.append("client_port=\(clientPort)") }
        if let serverPort { parts.append("server_port=\(serverPort)") }
        if let ssrc { parts.append("ssrc=" + hex8(ssrc)) }
        if let mode { parts.append("mode=\"\(mode)\"") }
        return parts.joined(separator: ";")
    }

    public static func == (lhs: RTSPTransport, rhs: RTSPTransport) -> Bool {
        lhs.headerValue == rhs.headerValue
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.headerValue)
    }
}

func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
