import NIOCore

/// The protocol version. The gateway speaks RTSP/1.0 (RFC 2326) on both sides, as every camera and VMS does.
public struct RTSPVersion: Hashable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public static let v1_0 = RTSPVersion(major: 1, minor: 0)

    public var description: String { "RTSP/\(self.major).\(self.minor)" }
}

public struct RTSPRequest: Hashable, Sendable {
    public var method: RTSPMethod
    public var uri: String
    public var version: RTSPVersion
    public var headers: RTSPHeaders
    public var body: ByteBuffer

    public init(
        method: RTSPMethod,
        uri: String,
        version: RTSPVersion = .v1_0,
        headers: RTSPHeaders = [:],
        body: ByteBuffer = ByteBuffer()
    ) {
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The sequence number; the parser guarantees every parsed request has one.
    public var cseq: UInt32? { self.headers[RTSPHeaders.cseq].flatMap(parseCSeq) }
}

public struct RTSPResponse: Hashable, Sendable {
    public var version: RTSPVersion
    public var status: RTSPStatus
    public var headers: RTSPHeaders
    public var body: ByteBuffer

    public init(
        status: RTSPStatus,
        version: RTSPVersion = .v1_0,
        headers: RTSPHeaders = [:],
        body: ByteBuffer = ByteBuffer()
    ) {
        self.version = version
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var cseq: UInt32? { self.headers[RTSPHeaders.cseq].flatMap(parseCSeq) }
}

/// One `$`-framed binary packet on an RTSP connection (RFC 2326 §10.12). `payload` is a slice of the buffer it was
/// read from.
public struct InterleavedFrame: Hashable, Sendable {
    public var channel: UInt8
    public var payload: ByteBuffer

    public init(channel: UInt8, payload: ByteBuffer) {
        self.channel = channel
        self.payload = payload
    }
}

/// What arrives on an RTSP connection: messages in either direction, and interleaved binary data.
public enum RTSPFrame: Hashable, Sendable {
    case request(RTSPRequest)
    case response(RTSPResponse)
    case interleaved(InterleavedFrame)
}

/// CSeq is 1*9DIGIT (RFC 7826 §18.20), which always fits in 32 bits; padding around it is tolerated (cameras send
/// `CSeq: 1 `).
func parseCSeq(_ value: String) -> UInt32? {
    let trimmed = value.trimmingASCIIWhitespace()
    guard (1...9).contains(trimmed.utf8.count), trimmed.utf8.allSatisfy(isDigit) else { return nil }
    return UInt32(trimmed)
}
