import NIOCore
import RTSPRelay
import TestSupport
import Testing

@Suite struct SDPTests {
    /// The SDP of every fixture: bare SDP files and the bodies of DESCRIBE replies.
    static func fixtureSDPs() throws -> [(name: String, text: String)] {
        try Fixtures.files(in: "rtsp").compactMap { url in
            let name = url.lastPathComponent
            let bytes = try Fixtures.bytes("rtsp/\(name)")
            if name.hasSuffix("_sdp.txt") { return (name, String(buffer: bytes)) }
            guard let response = parseAll(bytes).frames.first?.response,
                response.headers[RTSPHeaders.contentType] == "application/sdp"
            else { return nil }
            return (name, String(buffer: response.body))
        }
    }

    @Test func everyFixtureParsesAndRoundTrips() throws {
        let sdps = try Self.fixtureSDPs()
        #expect(sdps.count >= 3)
        for (name, text) in sdps {
            let model = try SDPParser.parse(text)
            let written = SDPWriter.write(model)
            #expect(try SDPParser.parse(written) == model, "\(name)")
            #expect(!written.contains("\n\n") && written.hasSuffix("\r\n"))
            #expect(written.split(separator: "\r\n").allSatisfy { $0.count >= 2 && $0.dropFirst().first == "=" })
        }
    }

    @Test func hikvisionDescribe() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_hikvision_describe.txt")).frames.first?.response
        )
        let sdp = try SDPParser.parse(String(buffer: response.body))
        #expect(sdp.media.count == 2)
        let video = sdp.media[0]
        #expect(video.type == "video")
        #expect(video.formats == ["96"])
        #expect(video.rtpmap(payloadType: "96")?.encoding == "H264")
        #expect(video.rtpmap(payloadType: "96")?.clockRate == 90000)
        #expect(video.fmtp(payloadType: "96")["packetization-mode"] == "1")
        #expect(
            video.fmtp(payloadType: "96")["sprop-parameter-sets"] == "Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,aO48gA=="
        )
        #expect(
            video.control
                == "rtsp://192.168.5.106:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1"
        )
        #expect(video.bandwidths == [.init(type: "AS", kbps: 5000)])
        #expect(sdp.media[1].rtpmap(payloadType: "107")?.encoding == "vnd.onvif.metadata")
    }

    @Test func dahuaDescribeHasThreeMedia() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_dahua_describe_h264_aac_onvif.txt")).frames.first?.response
        )
        let sdp = try SDPParser.parse(String(buffer: response.body))
        #expect(sdp.media.map(\.type) == ["video", "audio", "application"])
        #expect(sdp.media.map(\.control) == ["trackID=0", "trackID=1", "trackID=4"])
        #expect(sdp.media[1].rtpmap(payloadType: "97")?.encoding == "MPEG4-GENERIC")
        #expect(sdp.media[1].fmtp(payloadType: "97")["config"] == "1188")
        #expect(sdp.attribute("control") == "*")
    }

    @Test func hikvisionPCMAudio() throws {
        let sdp = try SDPParser.parse(try Fixtures.text("rtsp/go2rtc_hikvision_pcm_sdp.txt"))
        #expect(sdp.media.count == 2)
        #expect(sdp.media[1].formats == ["11"])
        #expect(sdp.media[1].rtpmap(payloadType: "11")?.encoding == "PCM")
        #expect(sdp.media[1].rtpmap(payloadType: "11")?.clockRate == 48000)
    }

    @Test func toleratesLineFeedsAndMissingTiming() throws {
        let sdp = try SDPParser.parse("v=0\no=- 1 1 IN IP4 0.0.0.0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000  \n")
        #expect(sdp.sessionName == "")
        #expect(sdp.timing == (0, 0))
        #expect(sdp.media[0].rtpmap(payloadType: "96")?.encoding == "H264")
        #expect(try SDPParser.parse(SDPWriter.write(sdp)) == sdp)
    }

    @Test func limits() throws {
        let head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\n"
        let limits = SDPLimits()
        let media = { (n: Int) in head + String(repeating: "m=video 0 RTP/AVP 96\r\n", count: n) }
        #expect(try SDPParser.parse(media(limits.maxMediaCount)).media.count == limits.maxMediaCount)
        #expect { try SDPParser.parse(media(limits.maxMediaCount + 1)) } throws: {
            ($0 as? RTSPError)?.code == .sdpLimitExceeded
        }
        let attributes = { (n: Int) in
            head + "m=video 0 RTP/AVP 96\r\n" + String(repeating: "a=x-vendor:1\r\n", count: n)
        }
        #expect(
            try SDPParser.parse(attributes(limits.maxAttributesPerSection)).media[0].attributes.count
                == limits.maxAttributesPerSection
        )
        #expect { try SDPParser.parse(attributes(limits.maxAttributesPerSection + 1)) } throws: {
            ($0 as? RTSPError)?.code == .sdpLimitExceeded
        }
        let line = { (n: Int) in head + "a=x:" + String(repeating: "l", count: n - 4) + "\r\n" }
        #expect(try SDPParser.parse(line(limits.maxLineLength)).attributes.count == 1)
        #expect { try SDPParser.parse(line(limits.maxLineLength + 1)) } throws: {
            ($0 as? RTSPError)?.code == .sdpLimitExceeded
        }
        let thousands = head + String(repeating: "m=audio 0 RTP/AVP 0\r\n", count: 5000)
        #expect(throws: RTSPError.self) { try SDPParser.parse(thousands) }
    }

    @Test(arguments: [
        "", "o=- 1 1 IN IP4 0.0.0.0\r\n", "v=1\r\no=- 1 1 IN IP4 x\r\n", "v=0\r\ns=no origin\r\n",
        "v=0\r\no=- 1 1 IN IP4 x\r\nm=video\r\n", "v=0\r\no=- 1 1 IN IP4 x\r\nm=video x RTP/AVP 96\r\n",
        "v=0\r\no=- 1 1 IN IP4 x\r\na=x:\u{1}\r\n", "v=0\r\no=- 1 1 IN IP4 x\r\ngarbage\r\n",
        "v=0\r\no=- 1 1 IN IP4 x\r\nv=0\r\n", "v=0\r\no=short\r\n",
    ])
    func refused(_ text: String) {
        #expect(throws: RTSPError.self) { try SDPParser.parse(text) }
    }
}
