import NIOCore
import TestSupport
import Testing

@testable import RTSPRelay

/// The SDP the gateway serves, made from every camera SDP in the fixtures: each track's codec survives (H.264
/// with its parameter sets, AAC with its config, Hikvision's PCM audio, ONVIF metadata), and nothing of the
/// camera's own (addresses, controls, vendor lines) does.
@Suite struct GatewaySDPTests {
    @Test func everyFixtureTrackSurvivesAndNothingOfTheCameraDoes() throws {
        let sdps = try SDPTests.fixtureSDPs()
        #expect(sdps.count >= 3)
        for (name, text) in sdps {
            let camera = try SDPParser.parse(text)
            let tracks = camera.media.enumerated().map { index, media in
                let types = media.formats.compactMap { UInt8($0) }
                return RTSPClientStateMachine.Track(
                    index: index,
                    media: media,
                    controlURL: "rtsp://198.51.100.7/x/trackID=\(index)",
                    payloadTypes: PayloadTypeSet(types),
                    clockRate: media.rtpmap(payloadType: media.formats[0])?.clockRate ?? 8000,
                    codec: media.rtpmap(payloadType: media.formats[0]).flatMap { VideoCodec(encoding: $0.encoding) }
                )
            }
            let gateway = GatewaySDP.make(from: camera, tracks: tracks, sessionName: "cam/main", sessionID: "1")
            let written = SDPWriter.write(gateway)
            #expect(try SDPParser.parse(written) == gateway, "\(name)")
            #expect(!written.contains("192.168"), "\(name)")
            #expect(!written.contains("Media_header") && !written.contains("packetization-supported"), "\(name)")
            #expect(gateway.media.count == camera.media.count, "\(name)")
            for (ours, theirs) in zip(gateway.media, camera.media) {
                #expect(ours.type == theirs.type)
                #expect(ours.formats == theirs.formats)
                for format in theirs.formats {
                    #expect(ours.rtpmap(payloadType: format)?.encoding == theirs.rtpmap(payloadType: format)?.encoding)
                    #expect(ours.fmtp(payloadType: format) == theirs.fmtp(payloadType: format))
                }
            }
            #expect(gateway.media.map { $0.control } == gateway.media.indices.map { "trackID=\($0)" })
        }
    }

    @Test func hikvisionPCMAndDahuaAACAndMetadata() throws {
        let hikvision = try SDPParser.parse(try Fixtures.text("rtsp/go2rtc_hikvision_pcm_sdp.txt"))
        #expect(hikvision.media[1].rtpmap(payloadType: "11")?.clockRate == 48000)
        let response = try #require(
            parseAll(try Fixtures.bytes("rtsp/retina_dahua_describe_h264_aac_onvif.txt")).frames.first?.response
        )
        let dahua = try SDPParser.parse(String(buffer: response.body))
        #expect(
            dahua.media.map { $0.rtpmap(payloadType: $0.formats[0])?.encoding } == [
                "H264", "MPEG4-GENERIC", "vnd.onvif.metadata",
            ]
        )
    }
}
