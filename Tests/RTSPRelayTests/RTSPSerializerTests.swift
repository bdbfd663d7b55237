import NIOCore
import RTSPRelay
import Testing

@Suite struct RTSPSerializerTests {
    @Test func requestRoundTrips() throws {
        var request = RTSPRequest(method: .setup, uri: "rtsp://gw:8554/cam1/main/trackID=0")
        request.headers.add(name: "CSeq", value: "3")
        request.headers.add(name: "Transport", value: "RTP/AVP/TCP;unicast;interleaved=0-1")
        request.body = ByteBuffer(string: "param: 1\r\n")
        var buffer = ByteBuffer()
        RTSPMessageSerializer.write(request, into: &buffer)
        #expect(String(buffer: buffer).hasPrefix("SETUP rtsp://gw:8554/cam1/main/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n"))
        #expect(String(buffer: buffer).contains("Content-Length: 10\r\n\r\nparam: 1\r\n"))
        var expected = request
        expected.headers.add(name: "Content-Length", value: "10")
        #expect(parseAll(buffer).frames == [.request(expected)])
    }

    @Test func responseRoundTripsAndDropsForeignContentLength() throws {
        var response = RTSPResponse(status: .sessionNotFound)
        response.headers.add(name: "CSeq", value: "12")
        response.headers.add(name: "Content-Length", value: "9999")  // never trusted: the body decides
        var buffer = ByteBuffer()
        RTSPMessageSerializer.write(response, into: &buffer)
        #expect(String(buffer: buffer) == "RTSP/1.0 454 Session Not Found\r\nCSeq: 12\r\n\r\n")
        var expected = response
        expected.headers.remove(name: "Content-Length")
        #expect(parseAll(buffer).frames == [.response(expected)])
    }

    @Test func interleavedFrameRoundTrips() {
        let frame = InterleavedFrame(channel: 2, payload: ByteBuffer(bytes: [0x80, 0x60, 0, 1]))
        var buffer = ByteBuffer()
        RTSPMessageSerializer.write(.interleaved(frame), into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x24, 2, 0, 4, 0x80, 0x60, 0, 1])
        #expect(parseAll(buffer).frames == [.interleaved(frame)])
    }

    @Test func statusReasonIsOurs() {
        #expect(RTSPStatus(code: 461).reason == "Unsupported Transport")
        #expect(RTSPStatus(code: 431).reason == "Request Header Fields Too Large")
    }
}
