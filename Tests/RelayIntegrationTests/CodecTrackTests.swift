import CameraSimulator
import Foundation
import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// Every track a Hikvision or Dahua camera offers goes through the relay: H.264 or H.265 video, AAC, PCMA and
/// PCMU audio, ONVIF metadata. The clips are ffmpeg's (scripts/make-demo-clip.sh); ffmpeg and GStreamer decode
/// them on the far side of the gateway.
@Suite struct CodecTrackTests {
    /// The name ffprobe gives each codec.
    static let ffprobeNames: [MediaClip.Codec: String] = [
        .h264: "h264", .h265: "hevc", .aac: "aac", .pcma: "pcm_alaw", .pcmu: "pcm_mulaw",
    ]

    @Test(arguments: [
        [MediaClip.Codec.h264, .aac],
        [.h265, .pcma],
        [.h264, .pcmu, .metadata],
        [.h265, .aac, .pcma, .pcmu, .metadata],
        [.pcma],
    ])
    func ffmpegDecodesEveryTrackThroughTheGateway(media: [MediaClip.Codec]) async throws {
        try await RelayFixture.run(.init(media: media)) { fixture in
            let probe = try await ExternalTool.run(
                "ffprobe",
                ["-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json", fixture.url],
                timeout: 30
            )
            #expect(probe.status == 0, "\(probe.stderr)")
            let streams = try JSONDecoder().decode(Probe.self, from: Data(probe.stdout.utf8)).streams
            #expect(
                streams.map(\.codec_type)
                    == media.map { $0 == .metadata ? "data" : (Self.isVideo($0) ? "video" : "audio") }
            )
            #expect(streams.compactMap(\.codec_name) == media.compactMap { Self.ffprobeNames[$0] })

            // Three seconds of every audio and video track, decoded; framecrc prints one line per decoded frame.
            let decode = try await ExternalTool.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", fixture.url, "-map", "0:v?", "-map",
                    "0:a?", "-t", "3", "-f", "framecrc", "-",
                ],
                timeout: 40
            )
            #expect(decode.status == 0 && !decode.timedOut)
            // ffmpeg names the metadata track it cannot decode; anything else is a decoding error.
            let errors = decode.stderr.split(separator: "\n").filter { !$0.contains("Unsupported codec with id 0") }
            #expect(errors.isEmpty, "ffmpeg: \(errors)")
            var framesPerStream: [Int: Int] = [:]
            for line in decode.stdout.split(separator: "\n") where !line.hasPrefix("#") {
                if let index = Int(line.prefix { $0 != "," }.trimmingCharacters(in: .whitespaces)) {
                    framesPerStream[index, default: 0] += 1
                }
            }
            // At least one of the three seconds of each decoded track (a loaded machine delays the start), in the
            // order ffmpeg mapped them.
            let decoded = media.filter(Self.isVideo) + media.filter { !Self.isVideo($0) && $0 != .metadata }
            for (index, codec) in decoded.enumerated() {
                let perSecond = ["h264": 25, "hevc": 25, "aac": 15, "pcm_alaw": 50, "pcm_mulaw": 50][
                    Self.ffprobeNames[codec]!
                ]!
                #expect(framesPerStream[index, default: 0] >= perSecond, "\(codec): \(framesPerStream)")
            }
        }
    }

    /// GStreamer's H.265 and AAC depayloaders on the far side of the gateway, over UDP.
    @Test func gstreamerDecodesH265AndAACOverUDP() async throws {
        try await RelayFixture.run(.init(media: [.h265, .aac])) { fixture in
            let result = try await ExternalTool.run(
                "gst-launch-1.0",
                [
                    "-q", "rtspsrc", "name=s", "location=\(fixture.url)", "protocols=udp",
                    "s.", "!", "application/x-rtp,media=video", "!", "rtph265depay", "!", "h265parse", "!",
                    "avdec_h265",
                    "!", "fakesink", "num-buffers=50",
                    "s.", "!", "application/x-rtp,media=audio", "!", "rtpmp4gdepay", "!", "aacparse", "!", "avdec_aac",
                    "!", "fakesink", "num-buffers=30",
                ],
                timeout: 40
            )
            #expect(result.status == 0 && !result.timedOut, "gstreamer: \(result.stderr)")
            #expect(fixture.simulator.sessionsOpened == 1)
        }
    }

    /// GStreamer's H.264 and G.711 depayloaders (both laws, one stream each) on the far side of the gateway, over
    /// TCP: with the H.265/AAC case above, every clip codec decodes in GStreamer as in ffmpeg.
    @Test func gstreamerDecodesH264AndG711OverTCP() async throws {
        try await RelayFixture.run(.init(media: [.h264, .pcma, .pcmu])) { fixture in
            let result = try await ExternalTool.run(
                "gst-launch-1.0",
                [
                    "-q", "rtspsrc", "name=s", "location=\(fixture.url)", "protocols=tcp",
                    "s.", "!", "application/x-rtp,media=video", "!", "rtph264depay", "!", "h264parse", "!",
                    "avdec_h264", "!", "fakesink", "num-buffers=50",
                    "s.", "!", "application/x-rtp,encoding-name=PCMA", "!", "rtppcmadepay", "!", "alawdec", "!",
                    "fakesink", "num-buffers=30",
                    "s.", "!", "application/x-rtp,encoding-name=PCMU", "!", "rtppcmudepay", "!", "mulawdec", "!",
                    "fakesink", "num-buffers=30",
                ],
                timeout: 40
            )
            #expect(result.status == 0 && !result.timedOut, "gstreamer: \(result.stderr)")
        }
    }

    /// A reader joining a running H.265 stream starts at a keyframe at once: the keyframe cache knows H.265's
    /// IRAP pictures and parameter sets as it knows H.264's IDR.
    @Test func aLateH265ReaderStartsAtAKeyframe() async throws {
        try await RelayFixture.run(.init(media: [.h265, .pcmu])) { fixture in
            let first = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await first.play(fixture.url, allTracks: true)
            _ = try await first.interleavedFrames(count: 30)
            try await Task.sleep(for: .milliseconds(700))  // between the clip's keyframes, 2 s apart
            let late = try await TestRTSPClient.connect(port: fixture.port)
            let joined = ContinuousClock.now
            _ = try await late.play(fixture.url, allTracks: true)
            let frames = try await late.interleavedFrames(count: 80)
            #expect(ContinuousClock.now - joined < .seconds(1))
            let video = try #require(frames.first { $0.channel == 0 })
            var payload = video.payload
            payload.moveReaderIndex(forwardBy: 12)
            #expect(KeyframeDetector.startsKeyframe(payload, codec: .h265))
            #expect(frames.contains { $0.channel == 2 }, "the audio track is relayed too")
            await late.close()
            await first.close()
        }
    }

    /// ONVIF metadata documents arrive whole: the packets of a document reassemble, up to the marker, into the
    /// camera's `tt:MetadataStream` XML.
    @Test func onvifMetadataDocumentsArriveWhole() async throws {
        try await RelayFixture.run(.init(media: [.h264, .metadata])) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let (_, sdp) = try await client.play(fixture.url, allTracks: true)
            #expect(sdp.media.map(\.type) == ["video", "application"])
            #expect(sdp.media[1].rtpmap(payloadType: sdp.media[1].formats[0])?.encoding == "vnd.onvif.metadata")
            // The camera starts at its next keyframe (up to 2 s away), then sends a document a second.
            try await Task.sleep(for: .milliseconds(4500))
            var documents: [String] = []
            var current: [UInt8] = []
            for frame in client.takeInterleaved() where frame.channel == 2 {
                guard let rtp = ReceivedRTP(frame) else { continue }
                current += frame.payload.readableBytesView.dropFirst(12)
                if rtp.marker {
                    documents.append(String(decoding: current, as: UTF8.self))
                    current = []
                }
            }
            #expect(documents.count >= 2)
            for document in documents {
                // The gateway's writer (its declaration on a line of its own), not the camera's bytes.
                #expect(document.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tt:MetadataStream"))
                #expect(document.hasSuffix("</tt:MetadataStream>"))
                #expect(document.contains("tns1:RuleEngine/CellMotionDetector/Motion"))
            }
            // The camera's motion state alternates every second; both states made it through.
            #expect(documents.contains { $0.contains("Name=\"IsMotion\" Value=\"true\"") })
            #expect(documents.contains { $0.contains("Name=\"IsMotion\" Value=\"false\"") })
            await client.close()
        }
    }

    /// A camera whose metadata documents carry a DTD (an entity expansion aimed at the VMS's XML parser): none of
    /// them reaches the reader, each is counted, and the video beside it plays on.
    @Test func hostileMetadataDocumentsAreDropped() async throws {
        try await RelayFixture.run(.init(media: [.h264, .metadata])) { fixture in
            fixture.simulator.setHostile(.metadataWithDTD)
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url, allTracks: true)
            try await Task.sleep(for: .milliseconds(4500))
            let frames = client.takeInterleaved()
            #expect(!frames.contains { $0.channel == 2 }, "a metadata packet reached the reader")
            #expect(frames.compactMap(ReceivedRTP.init).filter { $0.marker && $0.payloadType == 96 }.count > 25)
            let stream = try #require(try await fixture.relay.stats().stream("cam", "main"))
            #expect(stream.dropped[.badMetadata, default: 0] >= 2, "\(stream.dropped)")
            await client.close()
        }
    }

    static func isVideo(_ codec: MediaClip.Codec) -> Bool { codec == .h264 || codec == .h265 }

    struct Probe: Decodable {
        struct Stream: Decodable {
            var codec_type: String
            var codec_name: String?
        }
        var streams: [Stream]
    }
}
