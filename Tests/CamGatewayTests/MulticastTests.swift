import Foundation
import TestSupport
import Testing

/// Multicast readers, with real peers, inside a network namespace the test makes: multicast is routed to that
/// namespace's loopback only, so no packet leaves it.
@Suite(.enabled(if: NetworkNamespace.isAvailable, "needs root and iproute2 for a network namespace"))
struct MulticastTests {
    @Test func ffmpegAndGStreamerJoinTheStreamsGroup() async throws {
        let namespace = try await NetworkNamespace.create(multicastLoopback: true)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let (camera, cameraPort) = try await GatewayProcess.simulator(
                ["--media", "h264,pcma"],
                namespace: namespace
            )
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [admin]
            socket = "control.sock"
            metrics_port = 0

            [server]
            listen = "127.0.0.1"
            port = 0
            allow_anonymous = true

            [[camera]]
            name = "cam"
            address = "127.0.0.1"
            port = \(cameraPort)

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
              multicast_group = "239.255.42.1"
              multicast_port = 5004

              [[camera.stream]]
              name = "unicast"
              path = "/Streaming/Channels/101"
            """.write(to: config, atomically: true, encoding: .utf8)
            let gateway = try GatewayProcess(arguments: ["run", "--config", config.path], namespace: namespace)
            let url = try await gateway.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/cam/main")
            // Two ffmpeg readers and GStreamer on the one group: video and audio decoded by each.
            async let first = namespace.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "udp_multicast", "-i", url, "-map", "0", "-t", "3",
                    "-f",
                    "null", "-",
                ],
                timeout: 40
            )
            async let second = namespace.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "udp_multicast", "-i", url, "-frames:v", "50", "-f",
                    "null", "-",
                ],
                timeout: 40
            )
            async let gstreamer = namespace.run(
                "gst-launch-1.0",
                [
                    "-q", "rtspsrc", "location=\(url)", "protocols=udp-mcast", "!", "application/x-rtp,media=video",
                    "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "num-buffers=50",
                ],
                timeout: 40
            )
            let results = try await [("ffmpeg 1", first), ("ffmpeg 2", second), ("gstreamer", gstreamer)]
            for (name, result) in results {
                #expect(result.status == 0 && !result.timedOut, "\(name): \(result.stderr)")
            }
            // The group was opened once, from the interface the readers reached the gateway on.
            let opened = gateway.stderr.components(separatedBy: "multicast sender open").count - 1
            #expect(opened == 1, "\(gateway.stderr)")
            #expect(gateway.stderr.contains("group=239.255.42.1:5004"))

            // A stream without a group refuses multicast (461) rather than falling back in silence.
            let refused = try await namespace.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "udp_multicast", "-i",
                    url.replacingOccurrences(of: "/cam/main", with: "/cam/unicast"), "-frames:v", "5", "-f", "null",
                    "-",
                ],
                timeout: 30
            )
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("461"), "\(refused.stderr)")
            #expect(await gateway.terminate() == 0)
            _ = await camera.terminate()
        } catch {
            await namespace.delete()
            throw error
        }
        await namespace.delete()
    }
}
