import Foundation
import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// The daemon with readers attached while an admin edits: only what changed restarts, and a reader of an
/// untouched camera does not lose a packet. Then the metrics endpoint, read with curl, against traffic counted
/// by the reader itself.
@Suite struct LiveReloadTests {
    struct Daemon {
        let site: AdminCLITests.Site
        let camera: GatewayProcess
        let gateway: GatewayProcess
        let port: Int
        let metricsURL: String

        func url(_ camera: String) -> String { "rtsp://127.0.0.1:\(self.port)/\(camera)/main" }

        func stop() async {
            _ = await self.gateway.terminate()
            _ = await self.camera.terminate()
            self.site.remove()
        }
    }

    /// A simulator, and the daemon relaying `cameras` (all pointing at it) with the control socket and metrics on.
    static func start(
        cameras: [String],
        server: String = "allow_anonymous = true",
        arguments: [String] = []
    ) async throws -> Daemon {
        let (camera, cameraPort) = try await GatewayProcess.simulator()
        let blocks = cameras.map { name in
            """
            [[camera]]
            name = "\(name)"
            address = "127.0.0.1"
            port = \(cameraPort)

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
            """
        }
        let site = try AdminCLITests.Site(
            """
            [server]
            listen = "127.0.0.1"
            port = 0
            \(server)

            [admin]
            socket = "control.sock"
            metrics_port = 0

            """ + blocks.joined(separator: "\n\n") + "\n"
        )
        let gateway = try GatewayProcess(arguments: ["run", "--config", site.config] + arguments)
        let url = try await gateway.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/")
        let metrics = try await gateway.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/metrics")
        let port = Int(url.split(separator: ":").last!.dropLast())!
        // The control socket is up once the daemon answers status.
        let deadline = ContinuousClock.now + .seconds(10)
        while try await site.camgw(["status"]).status != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        // The control socket is for the owner and the admins' group only.
        let socket = site.directory.appendingPathComponent("control.sock").path
        let mode = try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int
        #expect(mode == 0o660, "control socket mode \(String(mode ?? 0, radix: 8))")
        return Daemon(site: site, camera: camera, gateway: gateway, port: port, metricsURL: metrics)
    }

    @Test func addRemoveAndChangeWhileAnUntouchedReaderLosesNothing() async throws {
        let daemon = try await Self.start(cameras: ["keep", "gone", "changing"])
        do {
            var readers: [String: TestRTSPClient] = [:]
            for name in ["keep", "gone", "changing"] {
                let reader = try await TestRTSPClient.connect(port: daemon.port)
                _ = try await reader.play(daemon.url(name), timeout: .seconds(10))
                _ = try await reader.interleavedFrames(count: 10)
                readers[name] = reader
            }
            let keep = readers["keep"]!
            var frames = keep.takeInterleaved()

            let added = try await daemon.site.camgw([
                "camera", "add", "fresh", "--address", "127.0.0.1", "--port", String(try await Self.cameraPort(daemon)),
                "--stream", "main=/Streaming/Channels/101",
            ])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("daemon reloaded: started fresh; 3 camera(s) untouched"), "\(added.stdout)")
            let removed = try await daemon.site.camgw(["camera", "remove", "gone"])
            #expect(
                removed.stdout.contains("daemon reloaded: stopped gone; 3 camera(s) untouched"),
                "\(removed.stdout)"
            )
            let changed = try await daemon.site.camgw(["camera", "set", "changing", "--always-on"])
            #expect(
                changed.stdout.contains("daemon reloaded: restarted changing; 2 camera(s) untouched"),
                "\(changed.stdout)"
            )

            // The removed and the changed camera's readers are let go; the new camera plays.
            #expect(await readers["gone"]!.waitUntilClosed())
            #expect(await readers["changing"]!.waitUntilClosed())
            let fresh = try await TestRTSPClient.connect(port: daemon.port)
            _ = try await fresh.play(daemon.url("fresh"), timeout: .seconds(10))
            #expect(try await fresh.interleavedFrames(count: 10).count == 10)
            let again = try await TestRTSPClient.connect(port: daemon.port)
            _ = try await again.play(daemon.url("changing"), timeout: .seconds(10))
            #expect(try await again.interleavedFrames(count: 10).count == 10)

            // A configuration the running daemon cannot take live is refused whole; it keeps the old one.
            let text = daemon.site.text.replacingOccurrences(of: "\nport = 0\n", with: "\nport = 18554\n")
            try text.write(toFile: daemon.site.config, atomically: true, encoding: .utf8)
            let refused = try await daemon.site.camgw(["reload"])
            #expect(refused.status == 69)
            #expect(refused.stderr.contains("needs a restart"), "\(refused.stderr)")

            // Through all of it, the untouched reader's packets kept coming, every sequence number in order.
            try await Task.sleep(for: .milliseconds(500))
            frames += keep.takeInterleaved()
            let sequences = frames.compactMap(ReceivedRTP.init).map(\.sequence)
            #expect(sequences.count > 50)
            let gaps = zip(sequences, sequences.dropFirst()).filter { $1 != $0 &+ 1 }
            #expect(gaps.isEmpty, "gaps in the untouched stream: \(gaps)")
            #expect(!keep.isClosed)
            for reader in [keep, fresh, again] { await reader.close() }
        } catch {
            await daemon.stop()
            throw error
        }
        await daemon.stop()
    }

    @Test func metricsCountWhatTheReaderGot() async throws {
        let daemon = try await Self.start(cameras: ["cam"], server: "")
        do {
            let user = try await daemon.site.camgw(
                ["user", "add", "vms", "--stream", "cam/*", "--password-stdin"],
                input: "Vms-Secret-3\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            // Two failed logins, then a reader that reads until it tears down.
            for _ in 0..<2 {
                let intruder = try await TestRTSPClient.connect(
                    port: daemon.port,
                    authenticator: ClientAuthenticator(username: "vms", password: "wrong")
                )
                #expect(try await intruder.request(.describe, daemon.url("cam")).status == .unauthorized)
                await intruder.close()
            }
            let reader = try await TestRTSPClient.connect(
                port: daemon.port,
                authenticator: ClientAuthenticator(username: "vms", password: "Vms-Secret-3")
            )
            let session = try await reader.play(daemon.url("cam"), timeout: .seconds(10))
            let first = try await reader.interleavedFrames(count: 100, timeout: .seconds(15))
            let teardown = try await reader.request(
                .teardown,
                daemon.url("cam"),
                headers: [RTSPHeaders.session: session]
            )
            #expect(teardown.status == .ok)
            // Everything the gateway wrote to the reader came before its TEARDOWN answer, on the same connection.
            let frames = first + reader.takeInterleaved()
            let bytes = frames.reduce(0) { $0 + 4 + $1.payload.readableBytes }
            let metrics = try await ExternalTool.run("curl", ["-sf", daemon.metricsURL], timeout: 10)
            #expect(metrics.status == 0)
            let values = Self.parse(metrics.stdout)
            #expect(values["camgw_packets_out_total{camera=\"cam\",stream=\"main\"}"] == Double(frames.count))
            #expect(values["camgw_bytes_out_total{camera=\"cam\",stream=\"main\"}"] == Double(bytes))
            #expect(values["camgw_readers{camera=\"cam\",stream=\"main\"}"] == 0)
            #expect(values["camgw_upstream_up{camera=\"cam\",stream=\"main\"}"] == 1)
            #expect(values["camgw_auth_failures_total"] == 2)
            #expect((values["camgw_packets_in_total{camera=\"cam\",stream=\"main\"}"] ?? 0) > 100)
            await reader.close()
        } catch {
            await daemon.stop()
            throw error
        }
        await daemon.stop()
    }

    /// SIGHUP reloads a file edited by hand; the logs are JSON, one event per line.
    @Test func sighupReloadsAndLogsAreJSONLines() async throws {
        let daemon = try await Self.start(cameras: ["one"], arguments: ["--log-format", "json"])
        do {
            let port = try await Self.cameraPort(daemon, camera: "one")
            let text =
                daemon.site.text + """

                    [[camera]]
                    name = "two"
                    address = "127.0.0.1"
                    port = \(port)

                      [[camera.stream]]
                      name = "main"
                      path = "/Streaming/Channels/101"

                    """
            try text.write(toFile: daemon.site.config, atomically: true, encoding: .utf8)
            daemon.gateway.signal(SIGHUP)
            try await Self.eventually {
                let status = try await daemon.site.camgw(["status", "--json"])
                return status.stdout.contains("\"name\" : \"two\"")
            }
            let reader = try await TestRTSPClient.connect(port: daemon.port)
            _ = try await reader.play(daemon.url("two"), timeout: .seconds(10))
            _ = try await reader.interleavedFrames(count: 5)
            await reader.close()
            let lines = daemon.gateway.stderr.split(separator: "\n")
            #expect(lines.count > 3)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
                #expect(object?["message"] != nil && object?["level"] != nil && object?["time"] != nil, "\(line)")
            }
            #expect(
                lines.contains {
                    $0.contains("\"message\":\"configuration applied\"") && $0.contains("\"added\":\"[\\\"two\\\"]\"")
                }
            )
        } catch {
            await daemon.stop()
            throw error
        }
        await daemon.stop()
    }

    static func eventually(_ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("not within 10 s")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func cameraPort(_ daemon: Daemon, camera: String = "keep") async throws -> Int {
        let show = try await daemon.site.camgw(["camera", "show", camera, "--json"])
        struct Camera: Decodable { var port: Int }
        return try JSONDecoder().decode(Camera.self, from: Data(show.stdout.utf8)).port
    }

    /// `name{labels} value` lines of the exposition format.
    static func parse(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            values[String(line[..<space])] = value
        }
        return values
    }
}
