import NIOCore
import TestSupport
import Testing

@testable import RTSPRelay

/// The backchannel's protocol pieces without sockets: the upstream client's `Require` and its fallback, the
/// server's 551, the two gateway descriptions, and the rate limit on what readers send toward a camera.
@Suite struct BackchannelProtocolTests {
    static let url = RTSPURL(host: "198.51.100.7", port: 554, pathAndQuery: "/onvif/media")

    static func answer(_ action: RTSPClientStateMachine.Action, _ status: RTSPStatus) throws -> RTSPResponse {
        guard case .send(let request) = action else { throw TestFailure() }
        var response = RTSPResponse(status: status)
        response.headers.add(name: RTSPHeaders.cseq, value: String(try #require(request.cseq)))
        return response
    }

    @Test func theClientAsksThenFallsBackWhenTheCameraHasNoBackchannel() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.url, backchannel: true))
        let options = machine.connected()
        let describe = machine.received(try Self.answer(options, .ok))
        guard case .send(let first) = describe else { throw TestFailure() }
        #expect(first.method == .describe)
        #expect(first.headers[RTSPHeaders.require] == RTSPHeaders.onvifBackchannel)
        let again = machine.received(try Self.answer(describe, .optionNotSupported))
        guard case .send(let second) = again else { throw TestFailure() }
        #expect(second.method == .describe)
        #expect(second.headers[RTSPHeaders.require] == nil)
        #expect(!machine.requiresBackchannel)
    }

    @Test func theCamerasSendonlyMediaBecomesTheBackchannelTrack() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.url, backchannel: true))
        let describe = machine.received(try Self.answer(machine.connected(), .ok))
        var reply = try Self.answer(describe, .ok)
        reply.headers.add(name: RTSPHeaders.contentType, value: "application/sdp")
        reply.body = ByteBuffer(
            string: """
                v=0\r
                o=- 1 1 IN IP4 198.51.100.7\r
                s=cam\r
                t=0 0\r
                m=video 0 RTP/AVP 96\r
                a=rtpmap:96 H264/90000\r
                a=control:trackID=0\r
                a=recvonly\r
                m=audio 0 RTP/AVP 0\r
                a=rtpmap:0 PCMU/8000\r
                a=control:trackID=1\r
                a=sendonly\r

                """
        )
        guard case .send(let setup) = machine.received(reply) else { throw TestFailure() }
        #expect(setup.method == .setup)
        #expect(setup.headers[RTSPHeaders.require] == RTSPHeaders.onvifBackchannel)
        let camera = try SDPParser.parse(String(buffer: reply.body))
        let tracks = camera.media.enumerated().map { index, media in
            RTSPClientStateMachine.Track(
                index: index,
                media: media,
                controlURL: "x",
                payloadTypes: PayloadTypeSet([UInt8(media.formats[0])!]),
                clockRate: 90000,
                codec: nil,
                isBackchannel: media.attributes.contains { $0.name == "sendonly" }
            )
        }
        let plain = GatewaySDP.make(from: camera, tracks: tracks, sessionName: "cam/main", sessionID: "1")
        let talking = GatewaySDP.make(
            from: camera,
            tracks: tracks,
            sessionName: "cam/main",
            sessionID: "1",
            backchannel: true
        )
        #expect(plain.media.count == 1)
        #expect(talking.media.count == 2)
        #expect(talking.media[1].attributes.contains { $0.name == "sendonly" })
        #expect(talking.media[1].control == "trackID=1")
    }

    @Test func theServerRefusesUnknownOptionsByName() {
        var machine = RTSPServerSessionStateMachine(now: .now())
        var request = RTSPRequest(method: .describe, uri: "rtsp://gw/cam/main")
        request.headers.add(name: RTSPHeaders.cseq, value: "2")
        request.headers.add(name: RTSPHeaders.require, value: "\(RTSPHeaders.onvifBackchannel), play.basic")
        guard case .respond(let refused) = machine.received(request, now: .now()) else {
            Issue.record("expected a response")
            return
        }
        #expect(refused.status == .optionNotSupported)
        #expect(refused.headers[RTSPHeaders.unsupported] == "play.basic")
        request.headers.replaceOrAdd(name: RTSPHeaders.require, value: RTSPHeaders.onvifBackchannel)
        #expect(
            machine.received(request, now: .now())
                == .describe(StreamPath(camera: "cam", stream: "main"), backchannel: true, cseq: 2)
        )
    }

    @Test func theRateLimiterAdmitsABurstThenTheRate() {
        var limiter = PacketRateLimiter(rate: 100, burst: 50)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let burst = (0..<60).filter { _ in limiter.admit(now: start) }.count
        #expect(burst == 50)
        // 100 ms later: ten more tokens, no more.
        let later = start + .milliseconds(100)
        let refill = (0..<20).filter { _ in limiter.admit(now: later) }.count
        #expect(refill == 10)
    }
}
