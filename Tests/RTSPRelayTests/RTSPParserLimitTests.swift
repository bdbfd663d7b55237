import NIOCore
import RTSPRelay
import Testing

/// Each named limit of ``RTSPLimits`` at the limit (accepted) and one past it (refused with its status, and the
/// connection closed).
@Suite struct RTSPParserLimitTests {
    /// A request whose request line is exactly `length` bytes.
    static func request(lineLength length: Int, headers: String = "CSeq: 1\r\n") -> String {
        let fixed = "DESCRIBE rtsp://camera/ RTSP/1.0".utf8.count
        let line = "DESCRIBE rtsp://camera/" + String(repeating: "a", count: length - fixed) + " RTSP/1.0"
        return line + "\r\n" + headers + "\r\n"
    }

    static func expectRefused(_ result: (frames: [RTSPFrame], error: RTSPError?), _ code: RTSPError.Code, status: Int) {
        #expect(result.frames.isEmpty)
        #expect(result.error?.code == code)
        #expect(result.error?.status.code == status)
        #expect(result.error?.closesConnection == true)
    }

    @Test func requestLine() {
        var limits = RTSPLimits()
        limits.maxStartLineLength = 300
        let atLimit = parseAll(Self.request(lineLength: 300), limits: limits)
        #expect(atLimit.error == nil)
        #expect(atLimit.frames.first?.request?.uri.utf8.count == 300 - " RTSP/1.0".utf8.count - "DESCRIBE ".utf8.count)
        Self.expectRefused(parseAll(Self.request(lineLength: 301), limits: limits), .uriTooLong, status: 414)
    }

    @Test func requestLineAtDefaultLimit() {
        #expect(parseAll(Self.request(lineLength: RTSPLimits.default.maxStartLineLength)).error == nil)
        Self.expectRefused(
            parseAll(Self.request(lineLength: RTSPLimits.default.maxStartLineLength + 1)),
            .uriTooLong,
            status: 414
        )
    }

    /// A line that never ends is refused as soon as it is too long, not when (if ever) its LF arrives.
    @Test func unterminatedRequestLineIsRefusedEarly() {
        var limits = RTSPLimits()
        limits.maxStartLineLength = 100
        let slowLoris = "DESCRIBE rtsp://camera/" + String(repeating: "a", count: 200)
        Self.expectRefused(parseAll(slowLoris, chunkSize: 1, limits: limits), .uriTooLong, status: 414)
        let endless = "RTSP/1.0 200 " + String(repeating: "O", count: 200)
        Self.expectRefused(parseAll(endless, chunkSize: 5, limits: limits), .startLineTooLong, status: 400)
    }

    @Test func statusLine() {
        var limits = RTSPLimits()
        limits.maxStartLineLength = 64
        let reason = { (n: Int) in String(repeating: "K", count: n - "RTSP/1.0 200 ".utf8.count) }
        #expect(parseAll("RTSP/1.0 200 \(reason(64))\r\nCSeq: 1\r\n\r\n", limits: limits).error == nil)
        Self.expectRefused(
            parseAll("RTSP/1.0 200 \(reason(65))\r\nCSeq: 1\r\n\r\n", limits: limits),
            .startLineTooLong,
            status: 400
        )
    }

    @Test func headerLine() {
        var limits = RTSPLimits()
        limits.maxHeaderLineLength = 128
        let header = { (n: Int) in "X-Pad: " + String(repeating: "v", count: n - "X-Pad: ".utf8.count) + "\r\n" }
        let ok = parseAll("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\(header(128))\r\n", chunkSize: 3, limits: limits)
        #expect(ok.error == nil)
        #expect(ok.frames.count == 1)
        Self.expectRefused(
            parseAll("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\(header(129))\r\n", limits: limits),
            .headerLineTooLong,
            status: 431
        )
        Self.expectRefused(
            parseAll(
                "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Pad: " + String(repeating: "v", count: 500),
                chunkSize: 1,
                limits: limits
            ),
            .headerLineTooLong,
            status: 431
        )
    }

    @Test func headerCount() {
        var limits = RTSPLimits()
        limits.maxHeaderCount = 10
        let headers = { (n: Int) in "CSeq: 1\r\n" + (1..<n).map { "X-H\($0): v\r\n" }.joined() }
        let ok = parseAll("OPTIONS * RTSP/1.0\r\n\(headers(10))\r\n", limits: limits)
        #expect(ok.error == nil)
        #expect(ok.frames.first?.request?.headers.count == 10)
        Self.expectRefused(
            parseAll("OPTIONS * RTSP/1.0\r\n\(headers(11))\r\n", limits: limits),
            .tooManyHeaders,
            status: 431
        )
    }

    @Test func headerBytes() {
        var limits = RTSPLimits()
        limits.maxHeaderBytes = 200
        // "CSeq: 1\r\n" is 9 bytes; the padding header fills the rest exactly.
        let pad = { (total: Int) in "X-Pad: " + String(repeating: "p", count: total - 9 - 9) + "\r\n" }
        let ok = parseAll("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\(pad(200))\r\n", limits: limits)
        #expect(ok.error == nil)
        Self.expectRefused(
            parseAll("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\(pad(201))\r\n", limits: limits),
            .headersTooLarge,
            status: 431
        )
    }

    @Test func bodySize() {
        var limits = RTSPLimits()
        limits.maxBodySize = 1000
        let message = { (n: Int) in
            "SET_PARAMETER rtsp://c/ RTSP/1.0\r\nCSeq: 2\r\nContent-Length: \(n)\r\n\r\n"
                + String(repeating: "b", count: n)
        }
        let ok = parseAll(message(1000), chunkSize: 17, limits: limits)
        #expect(ok.error == nil)
        #expect(ok.frames.first?.request?.body.readableBytes == 1000)
        Self.expectRefused(parseAll(message(1001), limits: limits), .bodyTooLarge, status: 413)
    }

    @Test func bodySizeAtDefaultLimit() {
        let limit = RTSPLimits.default.maxBodySize
        let head = { (n: Int) in "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: \(n)\r\n\r\n" }
        let ok = parseAll(head(limit) + String(repeating: "x", count: limit))
        #expect(ok.frames.first?.response?.body.readableBytes == limit)
        Self.expectRefused(parseAll(head(limit + 1)), .bodyTooLarge, status: 413)
    }

    @Test func interleavedFrameSize() {
        var limits = RTSPLimits()
        limits.maxInterleavedFrameSize = 1500
        let frame = { (n: Int) -> ByteBuffer in
            var buffer = ByteBuffer()
            buffer.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(0), UInt16(n))
            buffer.writeRepeatingByte(0xAB, count: n)
            return buffer
        }
        let ok = parseAll(frame(1500), limits: limits)
        #expect(ok.frames.first?.interleaved?.payload.readableBytes == 1500)
        // Refused from its 4-byte header alone, before the payload is waited for.
        var header = frame(1501)
        header.moveWriterIndex(to: 4)
        Self.expectRefused(parseAll(header, limits: limits), .frameTooLarge, status: 413)
    }

    @Test func emptyLinesBetweenMessages() {
        let limit = RTSPLimits.default.maxEmptyLinesBetweenMessages
        let message = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        let ok = parseAll(message + String(repeating: "\r\n", count: limit) + message, chunkSize: 1)
        #expect(ok.error == nil)
        #expect(ok.frames.count == 2)
        let refused = parseAll(message + String(repeating: "\r\n", count: limit + 1) + message)
        #expect(refused.frames.count == 1)
        #expect(refused.error?.code == .malformedStartLine)
    }
}
