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

        // GStreamer's rtspsrc over RTSPS (GnuTLS through glib-networking), counting decoded frames. It is told
        // not to validate: trust is the openssl checks' below; this is whether it can stream over our TLS.
        let gst = try await ExternalTool.run(
            "gst-launch-1.0",
            [
                "-q", "rtspsrc", "location=\(url)", "user-id=vms", "user-pw=tls-secret", "protocols=tcp",
                "tls-validation-flags=0", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!",
                "identity", "eos-after=25", "!", "fakesink",
            ],
            timeout: 30
        )
        #expect(gst.status == 0, "GStreamer over RTSPS: \(gst.stderr) \(gst.stdout)")

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

        // A key that is not the certificate's, swapped in before SIGHUP: the reload says it failed (not
        // "configuration reloaded"), and RTSPS keeps the certificate it had.
        let reloadsBefore = gateway.stderr.components(separatedBy: "SIGHUP: configuration reloaded").count
        let other = directory.appendingPathComponent("other")
        try await Self.makeCertificates(in: other)
        let key = directory.appendingPathComponent("server-key.pem")
        try FileManager.default.removeItem(at: key)
        try FileManager.default.copyItem(at: other.appendingPathComponent("server-key.pem"), to: key)
        gateway.signal(SIGHUP)
        var refused = false
        for _ in 0..<50 where !refused {
            try await Task.sleep(for: .milliseconds(100))
            refused = gateway.stderr.contains("SIGHUP: reload failed")
        }
        #expect(refused, "\(gateway.stderr.suffix(1500))")
        #expect(gateway.stderr.contains("does not go with certificate"))
        #expect(gateway.stderr.components(separatedBy: "SIGHUP: configuration reloaded").count == reloadsBefore)
        let kept = try await Self.verify(port: port, ca: directory.appendingPathComponent("ca.pem"))
        #expect(kept.stdout.contains("Verify return code: 0 (ok)"), "\(kept.stdout)")
        #expect(gateway.isRunning)
        #expect(await gateway.terminate() == 0)
        #expect(await camera.terminate() == 0)
    }

    /// Who: anyone on the VMS network, past its connection limit on the RTSPS port. A refused connection is
    /// closed at accept: no TLS handshake is spent on it, and it holds no descriptor while a 503 waits.
    @Test func overTheLimitRTSPSIsClosedAtAccept() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.makeCertificates(in: directory)
        let config = directory.appendingPathComponent("gateway.toml")
        try """
        [admin]
        socket = "control.sock"
        metrics_port = 0

        [server]
        listen = "127.0.0.1"
        port = 0
        allow_anonymous = true
        max_connections_per_source = 2

        [tls]
        certificate = "server.pem"
        private_key = "server-key.pem"
        port = 0

        [[camera]]
        name = "cam"
        address = "192.0.2.10"
        on_demand = true

          [[camera.stream]]
          name = "main"
          path = "/Streaming/Channels/101"
        """.write(to: config, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["run", "--config", config.path])
        do {
            let url = try await gateway.waitForOutput(matching: "rtsps://127\\.0\\.0\\.1:[0-9]+/cam/main")
            let port = try #require(Int(url.split(separator: ":")[2].split(separator: "/")[0]))
            let script = """
                import socket, ssl, time
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                held = [context.wrap_socket(socket.create_connection(("127.0.0.1", \(port)))) for _ in range(2)]
                print("held", len(held), flush=True)
                closed = 0
                for _ in range(20):
                    s = socket.create_connection(("127.0.0.1", \(port)))
                    s.settimeout(2)
                    start = time.time()
                    try:
                        closed += s.recv(1) == b"" and time.time() - start < 1
                    except ConnectionResetError:
                        closed += 1
                    except socket.timeout:
                        pass
                print("closed at accept", closed, flush=True)
                held[0].sendall(b"OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n")
                print("held answers", held[0].recv(64).split(b" ")[1].decode(), flush=True)
                """
            let result = try await ExternalTool.run("python3", ["-c", script], timeout: 30)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("held 2"), "\(result.stdout) \(result.stderr)")
            #expect(lines.contains("closed at accept 20"), "\(result.stdout) \(result.stderr)")
            #expect(lines.contains("held answers 200"), "\(result.stdout) \(result.stderr)")
            #expect(gateway.isRunning)
        } catch {
            Issue.record(error)
        }
        _ = await gateway.terminate()
    }

    /// TLS material that would fail at start or at a reload is refused by `camgw check` and `camgw run` with the
    /// file, line and reason: a missing key, an empty certificate, a key of another certificate, a key in place
    /// of the certificate.
    @Test func unusableTLSMaterialIsRefusedByTheCheck() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.makeCertificates(in: directory)
        try await Self.makeCertificates(in: directory.appendingPathComponent("other"))
        try Data().write(to: directory.appendingPathComponent("empty.pem"))
        let cases: [(certificate: String, key: String, reason: String)] = [
            ("server.pem", "absent-key.pem", "private_key \(directory.path)/absent-key.pem: cannot load a PEM key"),
            ("empty.pem", "server-key.pem", "certificate \(directory.path)/empty.pem: "),
            ("server.pem", "other/server-key.pem", "does not go with certificate"),
            ("server-key.pem", "server-key.pem", "certificate \(directory.path)/server-key.pem: "),
        ]
        for (certificate, key, reason) in cases {
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [server]
            port = 0

            [tls]
            certificate = "\(certificate)"
            private_key = "\(key)"
            port = 0
            """.write(to: config, atomically: true, encoding: .utf8)
            let checked = try await ExternalTool.run(
                GatewayProcess.executable.path,
                ["check", "--config", config.path],
                timeout: 10
            )
            #expect(checked.status == 65, "\(certificate)/\(key) passed the check")
            #expect(checked.stderr.contains("gateway.toml:4: [tls] "), "\(checked.stderr)")
            #expect(checked.stderr.contains(reason), "\(certificate)/\(key): \(checked.stderr)")
            let run = try await ExternalTool.run(
                GatewayProcess.executable.path,
                ["run", "--config", config.path],
                timeout: 10
            )
            #expect(run.status != 0 && run.stderr.contains(reason), "\(certificate)/\(key): \(run.stderr)")
        }
    }
}
