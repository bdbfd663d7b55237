import Foundation
import TestSupport
import Testing

/// The README's first command, run as a newcomer would: `camgw` with no configuration serves the demo camera,
/// prints its URL, and that URL plays in ffprobe; SIGTERM stops it cleanly.
@Suite struct DemoCommandTests {
    @Test func demoServesAStreamFFprobeCanRead() async throws {
        let gateway = try GatewayProcess(arguments: ["run", "--port", "0"])
        let url = try await gateway.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/demo/main")
        #expect(gateway.stdout.contains("ffplay -rtsp_transport tcp \(url)"))
        let probe = try await ExternalTool.run(
            "ffprobe",
            [
                "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width,height", "-of",
                "csv=p=0", url,
            ],
            timeout: 30
        )
        #expect(probe.status == 0, "\(probe.stderr)")
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "h264,640,360")
        #expect(await gateway.terminate() == 0)
    }

    /// The demo is also a virtual ONVIF device: onvif-zeep-async signs in with the printed demo credentials and
    /// gets the demo stream's gateway URI.
    @Test(.enabled(if: ExternalTool.peerPython != nil, "needs .build-venv: run scripts/test.sh"))
    func demoIsAVirtualONVIFDevice() async throws {
        let gateway = try GatewayProcess(arguments: ["run", "--port", "0"])
        let url = try await gateway.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/demo/main")
        let onvif = try await gateway.waitForOutput(
            matching: "onvif: http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service demo"
        )
        let password = try await gateway.waitForOutput(matching: "user demo, password [0-9a-f]+").split(separator: " ")
            .last!
        let port = onvif.split(separator: "127.0.0.1:")[1].split(separator: "/")[0]
        let result = try await ExternalTool.run(
            ExternalTool.peerPython!,
            [
                ExternalTool.peerScript("onvif_client.py"), "--host", "127.0.0.1", "--port", String(port), "--user",
                "demo",
                "--password", String(password),
            ],
            timeout: 60
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"manufacturer\": \"CamGateway\""))
        #expect(result.stdout.contains("\"stream_uri\": \"\(url)\""), "\(result.stdout)")
        #expect(result.stdout.contains("\"reboot\": \"refused"))
        #expect(await gateway.terminate() == 0)
    }

    @Test func helpShowsExamples() async throws {
        let help = try await ExternalTool.run(GatewayProcess.executable.path, ["--help"], timeout: 10)
        #expect(help.status == 0)
        #expect(help.stdout.contains("Examples:"))
        #expect(help.stdout.contains("simulator"))
    }

    @Test func badArgumentsExitNonZeroWithTheReason() async throws {
        let result = try await ExternalTool.run(
            GatewayProcess.executable.path,
            ["simulator", "--user", "admin"],
            timeout: 10
        )
        #expect(result.status != 0)
        #expect(result.stderr.contains("--user and --password-file go together"))
    }

    @Test func standaloneSimulatorWithPasswordFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let passwordFile = directory.appendingPathComponent("pw")
        try "s3cret\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let simulator = try GatewayProcess(arguments: [
            "simulator", "--port", "0", "--user", "admin", "--password-file", passwordFile.path,
        ])
        let url = try await simulator.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/Streaming/Channels/101")
        let withCredentials = url.replacingOccurrences(of: "rtsp://", with: "rtsp://admin:s3cret@")
        let probe = try await ExternalTool.run(
            "ffprobe",
            [
                "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                withCredentials,
            ],
            timeout: 30
        )
        #expect(probe.stdout.contains("h264"), "\(probe.stderr)")
        #expect(await simulator.terminate() == 0)
    }
}
