import Foundation
import NIOCore
import NIOTestUtils
import RTSPRelay
import TestSupport
import Testing

/// Every RTSP reply in `../shared/fixtures/rtsp/` (real Hikvision, Dahua and Longse cameras) through the parser,
/// whole, byte by byte and in odd chunk sizes, with the same result each way.
@Suite struct RTSPParserFixtureTests {
    static let responseFixtures: [String] =
        (try? Fixtures.files(in: "rtsp"))?
        .map(\.lastPathComponent).filter { !$0.hasSuffix("_sdp.txt") } ?? []

    @Test func fixturesArePresent() {
        #expect(Self.responseFixtures.count >= 9, "fixtures not found at \(Fixtures.root.path)")
    }

    @Test(arguments: responseFixtures)
    func parsesWholeAndDripFed(_ name: String) throws {
        let bytes = try Fixtures.bytes("rtsp/\(name)")
        let whole = parseAll(bytes)
        #expect(whole.error == nil)
        #expect(whole.frames.count == 1)
        let response = try #require(whole.frames.first?.response)
        #expect(response.cseq != nil)
        for chunkSize in [1, 2, 3, 7, 64] {
            let dripped = parseAll(bytes, chunkSize: chunkSize)
            #expect(dripped.error == nil)
            #expect(dripped.frames == whole.frames, "chunk size \(chunkSize)")
        }
        if response.headers[RTSPHeaders.contentType] == "application/sdp" {
            let sdp = try SDPParser.parse(String(buffer: response.body))
            #expect(!sdp.media.isEmpty)
        }
    }

    /// The same check through NIO's own verifier, which also feeds the decoder through a real pipeline.
    @Test func nioDecoderVerifierAgreesOnAllFixtures() throws {
        var pairs: [(ByteBuffer, [RTSPFrame])] = []
        for name in Self.responseFixtures {
            let bytes = try Fixtures.bytes("rtsp/\(name)")
            pairs.append((bytes, parseAll(bytes).frames))
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RTSPMessageDecoder() }
    }

    @Test func hikvisionSetupHasPaddedSessionAndSSRC() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_hikvision_setup.txt")).frames.first?.response
        )
        let session = try RTSPSessionHeader.parse(try #require(response.headers[RTSPHeaders.session]))
        #expect(session == RTSPSessionHeader(id: "708345999", timeout: 60))
        let transport = try RTSPTransport.parseList(try #require(response.headers[RTSPHeaders.transport]))
        #expect(transport.count == 1)
        #expect(transport[0].lowerTransport == .tcp)
        #expect(transport[0].interleaved?.rtp == 0)
        #expect(transport[0].interleaved?.rtcp == 1)
        #expect(transport[0].ssrc == 0x4CAC_C3D1)
        #expect(transport[0].mode == "PLAY")
    }

    @Test func hikvisionShortSSRCWithLeadingSpace() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_hikvision_setup_ssrc_space.txt")).frames.first?.response
        )
        let transport = try RTSPTransport.parseList(try #require(response.headers[RTSPHeaders.transport]))
        #expect(transport[0].ssrc == 0x0D6D_6627)
    }

    @Test func dahuaPlayRTPInfoHasThreeStreams() throws {
        let response = try #require(parseAll(try Fixtures.bytes("rtsp/retina_dahua_play.txt")).frames.first?.response)
        let info = try RTPInfo.parse(try #require(response.headers[RTSPHeaders.rtpInfo]))
        #expect(info.entries.map(\.url) == ["trackID=0", "trackID=1", "trackID=4"])
        #expect(info.entries.map(\.seq) == [47121, 45186, 36583])
        #expect(info.entries.map(\.rtptime) == [3_475_222_385, 2_234_446_919, 816_418_535])
        #expect(
            try RTSPRange.parse(try #require(response.headers[RTSPHeaders.range]))
                == .npt(start: .seconds(milliseconds: 0), end: nil)
        )
    }

    @Test func hikvisionPlayRTPInfoKeepsCameraURLWithQuery() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_hikvision_play.txt")).frames.first?.response
        )
        let info = try RTPInfo.parse(try #require(response.headers[RTSPHeaders.rtpInfo]))
        #expect(info.entries.count == 1)
        let url = try #require(RTSPURL(info.entries[0].url))
        #expect(url.host == "192.168.5.106")
        #expect(url.pathAndQuery == "/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1")
        #expect(info.entries[0].seq == 24104)
        #expect(info.entries[0].rtptime == 1_270_711_678)
    }

    @Test func dahuaOptionsPublicListsKeepAliveMethods() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_dahua_options.txt")).frames.first?.response
        )
        let methods = RTSPMethodList.parse(try #require(response.headers[RTSPHeaders.public]))
        #expect(methods.contains(.getParameter))
        #expect(methods.contains(.setParameter))
        #expect(methods.count == 10)
    }

    @Test func longseUnauthorizedHasPaddedCSeqAndDigestChallenge() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_longse_unauthorized.txt")).frames.first?.response
        )
        #expect(response.status.code == 401)
        #expect(response.cseq == 1)
        let challenges = try AuthenticationParameters.parseList(
            try #require(response.headers[RTSPHeaders.wwwAuthenticate])
        )
        #expect(challenges.count == 1)
        #expect(challenges[0].isScheme("Digest"))
        #expect(challenges[0]["realm"] == "Surveillance Server")
        #expect(challenges[0]["nonce"] == "98481030")
    }

    @Test func dahuaDescribeContentBaseHasSlashAfterQuery() throws {
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_dahua_describe_h264_aac_onvif.txt")).frames.first?.response
        )
        let contentBase = try #require(response.headers[RTSPHeaders.contentBase])
        let base = try #require(RTSPURL(contentBase))
        #expect(base.host == "192.168.5.111")
        #expect(base.port == 554)
        #expect(base.pathAndQuery == "/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif/")
        #expect(response.body.readableBytes == 705)
    }
}
