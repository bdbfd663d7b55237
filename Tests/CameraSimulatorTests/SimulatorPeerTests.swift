import CameraSimulator
import Foundation
import RTSPRelay
import TestSupport
import Testing

/// The simulator against real RTSP clients: ffprobe, ffmpeg and GStreamer.
@Suite struct SimulatorPeerTests {
    @Test func ffprobeReportsH264AtTheClipResolution() async throws {
        try await withSimulator { simulator in
            let result = try await ExternalTool.run(
                "ffprobe",
                [
                    "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
                    "stream=codec_type,codec_name,width,height", "-of", "csv=p=0", simulator.url,
                ],
                timeout: 30
            )
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "h264,video,640,360")
        }
    }

    @Test(arguments: ["tcp", "udp"])
    func ffmpegDecodesSixtyFramesWithoutError(transport: String) async throws {
        try await withSimulator { simulator in
            let result = try await ExternalTool.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", transport, "-i", simulator.url, "-frames:v", "60",
                    "-f", "null", "-",
                ],
                timeout: 40
            )
            #expect(result.status == 0)
            #expect(!result.timedOut)
            #expect(result.stderr.isEmpty, "ffmpeg reported: \(result.stderr)")
            #expect(simulator.sessionsOpened == 1)
        }
    }

    @Test func gstreamerRTSPSourceDecodes() async throws {
        try await withSimulator { simulator in
            let result = try await ExternalTool.run(
                "gst-launch-1.0",
                [
                    "-q", "rtspsrc", "location=\(simulator.url)", "protocols=tcp", "!", "rtph264depay", "!",
                    "h264parse", "!", "avdec_h264", "!", "fakesink", "num-buffers=50",
                ],
                timeout: 40
            )
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.timedOut)
        }
    }

    @Test func ffmpegAnswersTheDigestChallenge() async throws {
        try await withSimulator(credentials: .init(username: "admin", password: "Cam3ra!")) { simulator in
            let port = simulator.port
            let path = simulator.configuration.path
            let good = try await ExternalTool.run(
                "ffprobe",
                [
                    "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                    "rtsp://admin:Cam3ra%21@127.0.0.1:\(port)\(path)",
                ],
                timeout: 30
            )
            #expect(good.status == 0, "\(good.stderr)")
            #expect(good.stdout.contains("h264"))
            let bad = try await ExternalTool.run(
                "ffprobe",
                ["-v", "error", "-rtsp_transport", "tcp", "rtsp://admin:wrong@127.0.0.1:\(port)\(path)"],
                timeout: 30
            )
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("401"))
            #expect(simulator.sessionsOpened == 1)
        }
    }
}
