import Foundation
import TestSupport
import Testing

/// RTSPS through the real executable: certificates made by `certs/make-certs.sh`, ffmpeg reading `rtsps://`,
/// openssl checking the chain against the test CA, TLS 1.2 as the floor, Basic credentials only over TLS, and a
/// new certificate picked up on SIGHUP.
@Suite struct RTSPSCommandTests {
    static func makeCertificates(in directory: URL) async throws {
        let script = Fixtures.packageRoot.appendingPathComponent("certs/make-certs.sh").path
        let result = try await ExternalTool.run(
            "/bin/bash",
            [script, directory.path, "localhost", "127.0.0.1"],
            timeout: 30
        )
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// `openssl s_client` against the RTSPS port, verifying the chain and the address with `ca`.
    static func verify(port: Int, ca: URL, extra: [String] = []) async throws -> ExternalTool.Result {
        try await ExternalTool.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", ca.path, "-verify_return_error", "-verify_ip",
                "127.0.0.1",
            ] + extra,
            input: "",
            timeout: 15
        )
    }

    @Test func rtspsWithTheApplianceCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.makeCertificates(in: directory)
        let firstCA = directory.appendingPathComponent("first-ca.pem")
        try FileManager.default.copyItem(at: directory.appendingPathComponent("ca.pem"), to: firstCA)

        let (camera, cameraPort) = try await GatewayProcess.simulator()
        let hashed = try await GatewayProcess.hashPassword(user: "vms", password: "tls-secret", streams: ["*"])
        let config = directory.appendingPathComponent("gateway.toml")
        try """
        [admin]
        socket = "control.sock"
        metrics_port = 0

        [server]
        listen = "127.0.0.1"
        port = 0

        [tls]
        certificate = "server.pem"
        private_key = "server-key.pem"
        port = 0

        \(hashed.stdout)
        [[camera]]
        name = "cam"
        address = "127.0.0.1"
        port = \(cameraPort)

          [[camera.stream]]
          name = "main"
          path = "/Streaming/Channels/101"
        """.write(to: config, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["run", "--config", config.path])
        let url = try await gateway.waitForOutput(matching: "rtsps://127\\.0\\.0\\.1:[0-9]+/cam/main")
        let port = try #require(Int(url.split(separator: ":")[2].split(separator: "/")[0]))

        // ffmpeg over RTSPS; it answers the last challenge offered, which over TLS is Basic.
        let probe = try await ExternalTool.run(
            "ffprobe",
            [
                "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                url.replacingOccurrences(of: "rtsps://", with: "rtsps://vms:tls-secret@"),
            ],
            timeout: 30
        )
        #expect(probe.stdout.contains("h264"), "\(probe.stderr)")
        #expect(gateway.stderr.contains("reader authenticated"))

        // The chain verifies against the appliance CA, for the address the VMS uses; TLS 1.1 is refused.
        let verified = try await Self.verify(port: port, ca: firstCA)
        #expect(verified.stdout.contains("Verify return code: 0 (ok)"), "\(verified.stdout)\(verified.stderr)")
        // SECLEVEL=0 lets this client offer TLS 1.1, so the refusal is the gateway's.
        let old = try await Self.verify(port: port, ca: firstCA, extra: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(old.status != 0, "TLS 1.1 was accepted: \(old.stdout)")

        // A renewed certificate (from a new CA) is used after SIGHUP, without a restart.
        try await Self.makeCertificates(in: directory)
        gateway.signal(SIGHUP)
        var renewed = false
        for _ in 0..<50 where !renewed {
            try await Task.sleep(for: .milliseconds(100))
            renewed = try await Self.verify(port: port, ca: directory.appendingPathComponent("ca.pem")).stdout.contains(
                "Verify return code: 0 (ok)"
            )
        }
        #expect(renewed, "the new certificate was not picked up on SIGHUP")
        let stale = try await Self.verify(port: port, ca: firstCA)
        #expect(!stale.stdout.contains("Verify return code: 0 (ok)"))
        #expect(gateway.isRunning)
        #expect(await gateway.terminate() == 0)
        #expect(await camera.terminate() == 0)
    }
}
