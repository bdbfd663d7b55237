import NIOCore

/// Writes RTSP messages and interleaved frame headers. The gateway always writes its own messages from models:
/// Content-Length comes from the body, never from a header a peer supplied.
public enum RTSPMessageSerializer {
    public static func write(_ request: RTSPRequest, into buffer: inout ByteBuffer) {
        buffer.writeString(request.method.rawValue)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(request.uri)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(request.version.description)
        buffer.writeStaticString("\r\n")
        self.writeHeadersAndBody(request.headers, request.body, into: &buffer)
    }

    public static func write(_ response: RTSPResponse, into buffer: inout ByteBuffer) {
        buffer.writeString(response.version.description)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(String(response.status.code))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(response.status.reason)
        buffer.writeStaticString("\r\n")
        self.writeHeadersAndBody(response.headers, response.body, into: &buffer)
    }

    public static func write(_ frame: RTSPFrame, into buffer: inout ByteBuffer) {
        switch frame {
        case .request(let request): self.write(request, into: &buffer)
        case .response(let response): self.write(response, into: &buffer)
        case .interleaved(let frame):
            self.writeInterleavedHeader(channel: frame.channel, length: frame.payload.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(frame.payload)
        }
    }

    /// The 4-byte `$` header of an interleaved frame (RFC 2326 §10.12).
    public static func writeInterleavedHeader(channel: UInt8, length: Int, into buffer: inout ByteBuffer) {
        precondition(length <= 0xFFFF, "interleaved payload over 65535 bytes")
        buffer.writeMultipleIntegers(UInt8(ascii: "$"), channel, UInt16(truncatingIfNeeded: length))
    }

    private static func writeHeadersAndBody(_ headers: RTSPHeaders, _ body: ByteBuffer, into buffer: inout ByteBuffer) {
        for field in headers where !field.name.caseInsensitiveEquals(RTSPHeaders.contentLength) {
            buffer.writeString(field.name)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        if body.readableBytes > 0 {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(body.readableBytes))
            buffer.writeStaticString("\r\n\r\n")
            buffer.writeImmutableBuffer(body)
        } else {
            buffer.writeStaticString("\r\n")
        }
    }
}
