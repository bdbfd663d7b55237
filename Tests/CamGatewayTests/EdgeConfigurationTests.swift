import Foundation
import TestSupport
import Testing

/// Valid but unusual configurations, through the real daemon: each starts, then is scraped (twice), asked for
/// `camgw status` and `camgw egress`, reloaded, scraped again, and must still serve. Two cameras at one address
/// (a recorder's channels) once ended the daemon at its first scrape. Each runs in a network namespace of its own,
/// so the one with empty sections can listen on its default ports without touching the host's.
@Suite(.enabled(if: NetworkNamespace.isAvailable, "needs root and iproute2 for a network namespace"))
struct EdgeConfigurationTests {
    static let cases = [
        "two cameras at one address", "no camera", "200 cameras", "names differing only in case",
        "every optional section empty",
    ]

    static func camera(_ name: String, port: Int, extra: String = "") -> String {
        """

        [[camera]]
        name = "\(name)"
        address = "127.0.0.1"
        port = \(port)
        \(extra)
          [[camera.stream]]
          name = "main"
          path = "/Streaming/Channels/101"

        """
    }

    static func configuration(_ name: String, cameraPort: Int) -> (text: String, cameras: [String]) {
        let sections = """
            [server]
            listen = "127.0.0.1"
            port = 0
            allow_anonymous = true

            [admin]
            socket = "control.sock"
            metrics_port = 0

            """
        switch name {
        case "two cameras at one address":
            // Two channels of one recorder: one address, one MAC, two paths (here the simulator's one path twice).
            let cameras = ["ch1", "ch2"]
            return (
                sections
                    + cameras.map {
                        camera(
                            $0,
                            port: cameraPort,
                            extra: "mac = \"00:11:22:aa:bb:cc\"\ngateway_onvif_port = 0\nonvif_port = 1"
                        )
                    }.joined(),
                cameras
            )
        case "no camera":
            return (sections, [])
        case "200 cameras":
            let cameras = (1...200).map { "cam\($0)" }
            return (
                sections
                    + cameras.enumerated().map { index, name in
                        camera(
                            name,
                            port: cameraPort,
                            extra: "on_demand = true\n"
                                + (index % 20 == 0 ? "gateway_onvif_port = 0\nonvif_port = 1\n" : "")
                        )
                    }.joined(),
                cameras
            )
        case "names differing only in case":
            let cameras = ["Lobby", "lobby", "LOBBY"]
            return (sections + cameras.map { camera($0, port: cameraPort) }.joined(), cameras)
        default:
            // Only what cannot be left out: where the control socket is, and anonymous reading for the check.
            return (
                "[server]\nallow_anonymous = true\n\n[relay]\n\n[onvif]\n\n[admin]\nsocket = \"control.sock\"\n"
                    + camera("lobby", port: cameraPort),
                ["lobby"]
            )
        }
    }

    @Test(arguments: cases)
    func daemonSurvivesScrapeStatusEgressAndReload(_ name: String) async throws {
        let namespace = try await NetworkNamespace.create()
        let site = try AdminCLITests.Site("")
        var processes: [GatewayProcess] = []
        do {
            let (camera, cameraPort) = try await GatewayProcess.simulator(namespace: namespace)
            processes.append(camera)
            let (text, cameras) = Self.configuration(name, cameraPort: cameraPort)
            try text.write(toFile: site.config, atomically: true, encoding: .utf8)
            let checked = try await site.camgw(["check"])
            #expect(checked.status == 0, "\(name): \(checked.stderr)")

            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config], namespace: namespace)
            processes.append(daemon)
            let metricsURL = try await daemon.waitForOutput(
                matching: "http://127\\.0\\.0\\.1:[0-9]+/metrics",
                timeout: .seconds(60)
            )
            for _ in 0..<2 {
                let scrape = try await namespace.run("curl", ["-sf", "--max-time", "10", metricsURL])
                #expect(scrape.status == 0, "\(name): scrape failed: \(daemon.stderr.suffix(1500))")
                #expect(scrape.stdout.contains("camgw_auth_failures_total"), "\(name)")
            }
            #expect(daemon.isRunning, "\(name): a scrape ended the daemon: \(daemon.stderr.suffix(1500))")

            let status = try await site.camgw(["status", "--json"])
            #expect(status.status == 0, "\(name): \(status.stderr)")
            for camera in cameras.prefix(20) {
                #expect(status.stdout.contains("\"\(camera)\""), "\(name): status lacks \(camera)")
            }
            let egress = try await site.camgw(["egress"])
            #expect(egress.status == 0, "\(name): egress \(egress.status): \(egress.stderr)")
            let reload = try await site.camgw(["reload"])
            #expect(reload.status == 0, "\(name): reload: \(reload.stderr)")
            let again = try await namespace.run("curl", ["-sf", "--max-time", "10", metricsURL])
            #expect(again.status == 0, "\(name): scrape after reload failed")

            if let first = cameras.first {
                let port = try #require(
                    try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/\(first)/main")
                        .split(separator: ":")[2].split(separator: "/").first.flatMap { Int($0) }
                )
                for camera in Set([first, cameras.last!]) {
                    let probe = try await namespace.run(
                        "ffprobe",
                        [
                            "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of",
                            "csv=p=0", "rtsp://127.0.0.1:\(port)/\(camera)/main",
                        ],
                        timeout: 40
                    )
                    #expect(probe.stdout.contains("h264"), "\(name): \(camera) not served: \(probe.stderr)")
                }
            }
            #expect(daemon.isRunning, "\(name): \(daemon.stderr.suffix(1500))")
            #expect(await daemon.terminate() == 0)
        } catch {
            Issue.record(error)
        }
        for process in processes { _ = await process.terminate() }
        site.remove()
        await namespace.delete()
    }
}
