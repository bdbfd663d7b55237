import CameraSimulator
import Foundation
import TestSupport
import Testing

/// Someone on the VMS network names the ONVIF operations: every refused name used to be kept for the daemon's
/// life, in its counts and as a Prometheus label, so distinct names grew its memory and its scrape without bound
/// (and `camgw status` then failed with "answer too large"). Through the real daemon: POSTs, then a scrape and
/// `camgw status`.
@Suite struct ONVIFBoundsTests {
    /// One line of the Prometheus text exposition format: a metric name, optional `{label="value",...}` with
    /// values escaped, a number.
    static let sampleLine = try! NSRegularExpression(
        pattern:
            #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? [-+0-9.eE]+(Inf|NaN)?$"#
    )

    @Test func refusedNamesAreCountedUnderOneLabel() async throws {
        let site = try AdminCLITests.Site(AdminCLITests.Site.initial + "\n[onvif]\nallow_anonymous = true\n")
        defer { site.remove() }
        let add = try await site.camgw([
            "camera", "add", "lobby", "--address", "127.0.0.1", "--port", "1", "--onvif-port", "1",
            "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101",
        ])
        #expect(add.status == 0, "\(add.stderr)")
        let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
        defer { Task { _ = await daemon.terminate() } }
        let onvifURL = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
        let onvifPort = try #require(Int(onvifURL.split(separator: ":")[2].split(separator: "/")[0]))
        let metricsURL = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/metrics")
        let before = try #require(Self.residentKilobytes(daemon.processIdentifier))

        let flood = try await ExternalTool.run(
            "python3",
            [ExternalTool.peerScript("onvif_flood.py"), "--port", String(onvifPort), "--count", "400"],
            timeout: 120
        )
        #expect(flood.status == 0, "\(flood.stderr)")
        let statuses = try JSONDecoder().decode([String: Int].self, from: Data(flood.stdout.utf8))
        // Each gets the protocol's answer (a SOAP fault), none kills the connection handling.
        #expect(statuses.values.reduce(0, +) == 400)
        #expect(statuses["error"] == nil, "\(statuses)")
        #expect(daemon.isRunning)

        let metrics = try await ExternalTool.run("curl", ["-sf", metricsURL], timeout: 20)
        #expect(metrics.status == 0)
        let calls = metrics.stdout.split(separator: "\n").filter { $0.hasPrefix("camgw_onvif_calls_total") }
        #expect(
            calls.contains("camgw_onvif_calls_total{camera=\"lobby\",operation=\"unknown\",result=\"refused\"} 400"),
            "\(calls.prefix(3))"
        )
        #expect(calls.count == 1, "one series for every name the sender chose: \(calls.prefix(3))")
        #expect(metrics.stdout.utf8.count < 64 * 1024, "the scrape grew to \(metrics.stdout.utf8.count) bytes")
        for line in metrics.stdout.split(separator: "\n") where !line.hasPrefix("#") {
            let text = String(line)
            #expect(
                Self.sampleLine.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil,
                "not a Prometheus sample line: \(text.prefix(200))"
            )
        }
        let status = try await site.camgw(["status", "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("\"unknown\" : 400"), "\(status.stdout.prefix(2000))")
        #expect(!status.stdout.contains("Op1xxxx"))
        // The audit log still says what was refused, cut short.
        #expect(daemon.stderr.contains("ONVIF call refused by policy"))
        #expect(!daemon.stderr.contains(String(repeating: "x", count: 200)), "a 4 KB name went into the log")
        if let after = Self.residentKilobytes(daemon.processIdentifier) {
            // 400 names of 4 KB kept twice (counts and labels) would be several MB; allocator noise is less.
            #expect(after - before < 20_000, "RSS grew from \(before) to \(after) kB")
        }
        #expect(await daemon.terminate() == 0)
    }

    /// `[server] allow_anonymous` (video) does not open ONVIF; `[onvif] allow_anonymous` opens its reads only: a
    /// PTZ move, a subscription and a write still need a VMS user, on a camera whose policy grants PTZ and events.
    @Test func anonymousONVIFIsItsOwnSettingAndReadsOnly() async throws {
        for onvifAnonymous in [false, true] {
            let site = try AdminCLITests.Site(
                AdminCLITests.Site.initial.replacingOccurrences(
                    of: "[server]\n",
                    with: "[server]\nallow_anonymous = true\n"
                )
                    + (onvifAnonymous ? "\n[onvif]\nallow_anonymous = true\n" : "")
            )
            defer { site.remove() }
            let add = try await site.camgw([
                "camera", "add", "dome", "--address", "127.0.0.1", "--port", "1", "--onvif-port", "1",
                "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101", "--policy", "ptz,events",
            ])
            #expect(add.status == 0, "\(add.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            let url = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
            func post(_ body: String) async throws -> String {
                let envelope =
                    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\(body)</s:Body></s:Envelope>"
                return try await ExternalTool.run(
                    "curl",
                    [
                        "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/soap+xml",
                        "--data", envelope, url,
                    ],
                    timeout: 10
                ).stdout
            }
            let scopes = try await post("<tds:GetScopes xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"/>")
            let move = try await post(
                "<tptz:ContinuousMove xmlns:tptz=\"http://www.onvif.org/ver20/ptz/wsdl\"><tptz:ProfileToken>p</tptz:ProfileToken></tptz:ContinuousMove>"
            )
            let subscribe = try await post(
                "<tev:CreatePullPointSubscription xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\"/>"
            )
            let write = try await post(
                "<tds:SetNTP xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"><tds:FromDHCP>false</tds:FromDHCP></tds:SetNTP>"
            )
            #expect(scopes == (onvifAnonymous ? "200" : "401"), "GetScopes, onvif anonymous \(onvifAnonymous)")
            #expect(
                [move, subscribe, write] == ["401", "401", "401"],
                "anonymous \(onvifAnonymous): \([move, subscribe, write])"
            )
            #expect(await daemon.terminate() == 0)
        }
    }

    /// Connections without credentials are bounded at accept: from one source only 16 (as configured here; 256 by
    /// default) stay open (the 17th on is
    /// closed before it can send a byte) while another source still gets in; a request sent a byte a second (a
    /// slowloris) is closed within the 10 s a request may take.
    @Test func onvifConnectionsAreBoundedPerSourceAndInTime() async throws {
        let site = try AdminCLITests.Site(AdminCLITests.Site.initial + "\n[onvif]\nmax_connections_per_source = 16\n")
        defer { site.remove() }
        let add = try await site.camgw([
            "camera", "add", "lobby", "--address", "127.0.0.1", "--port", "1", "--onvif-port", "1",
            "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101",
        ])
        #expect(add.status == 0, "\(add.stderr)")
        let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
        let url = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
        let port = try #require(Int(url.split(separator: ":")[2].split(separator: "/")[0]))
        let script = """
            import socket, time
            def alive(s):
                s.settimeout(0.3)
                try:
                    return s.recv(1) != b""
                except socket.timeout:
                    return True
                except OSError:
                    return False
            held = [socket.create_connection(("127.0.0.1", \(port))) for _ in range(24)]
            time.sleep(0.5)
            print("open", sum(alive(s) for s in held))
            other = socket.create_connection(("127.0.0.1", \(port)), source_address=("127.0.0.5", 0))
            other.sendall(b"POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n")
            other.settimeout(5)
            print("other", other.recv(64).split(b" ")[1].decode())
            slow = socket.create_connection(("127.0.0.1", \(port)), source_address=("127.0.0.6", 0))
            start = time.time()
            slow.settimeout(1)
            closed = None
            for byte in b"POST /onvif/device_service HTTP/1.1\\r\\nHost: gateway.example\\r\\nX-Padding: " + b"a" * 40:
                try:
                    slow.send(bytes([byte]))
                    if slow.recv(1) == b"":
                        closed = time.time() - start
                        break
                except socket.timeout:
                    continue
                except OSError:
                    closed = time.time() - start
                    break
            print("slow", round(closed, 1) if closed else "never")
            """
        let result = try await ExternalTool.run("python3", ["-c", script], timeout: 60)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("open 16"), "\(result.stdout) \(result.stderr)")
        #expect(lines.contains("other 401"), "another source was shut out: \(result.stdout)")
        let slow = lines.first { $0.hasPrefix("slow ") }.flatMap { Double($0.dropFirst(5)) }
        #expect(slow.map { (9...13).contains($0) } == true, "slowloris: \(result.stdout)")
        #expect(daemon.isRunning)
        #expect(await daemon.terminate() == 0)
    }

    static func residentKilobytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(whereSeparator: \.isWhitespace)[1]) }
    }
}

/// Anyone on the VMS network, from many addresses at once, holding connections to the RTSP port and the virtual
/// ONVIF devices: one budget bounds both, whatever the sources, and a camera that drops its session meanwhile is
/// pulled again (the gateway keeps the descriptors the cameras need).
@Suite struct VMSSideBudgetTests {
    @Test func rtspAndONVIFShareOneBudgetThatLeavesTheCamerasTheirs() async throws {
        var cameraConfiguration = CameraSimulator.Configuration()
        cameraConfiguration.credentials = .init(username: "admin", password: "Cam-Pass-4")
        let camera = try CameraSimulator(configuration: cameraConfiguration)
        try await camera.start()
        let site = try AdminCLITests.Site(
            AdminCLITests.Site.initial.replacingOccurrences(
                of: "listen = \"127.0.0.1\"\nport = 0\n",
                with: "listen = \"127.0.0.1\"\nport = 0\nmax_connections = 20\nmax_connections_per_source = 8\n"
            ) + "\n[onvif]\nmax_connections_per_source = 8\n"
        )
        var gateway: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "127.0.0.1", "--port", String(camera.port), "--onvif-port",
                    "1", "--gateway-onvif-port", "0", "--stream", "main=\(cameraConfiguration.path)", "--always-on",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-4\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let rtsp = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/lobby/main")
            let rtspPort = try #require(Int(rtsp.split(separator: ":")[2].split(separator: "/")[0]))
            let onvif = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
            let onvifPort = try #require(Int(onvif.split(separator: ":")[2].split(separator: "/")[0]))
            let deadline = ContinuousClock.now + .seconds(10)
            while camera.sessionsOpened < 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(camera.sessionsOpened == 1, "the always-on camera is pulled")

            let script = """
                import select, socket, sys, time
                def alive(s):
                    # Readable now means closed (the server sends nothing unasked); no wait per socket.
                    if not select.select([s], [], [], 0)[0]:
                        return True
                    try:
                        return s.recv(1) != b""
                    except OSError:
                        return False
                held, ports = [], {}
                for host in range(2, 6):
                    for port in [\(rtspPort)] * 6 + [\(onvifPort)] * 6:
                        try:
                            held.append(socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.%d" % host, 0)))
                            ports[held[-1]] = port
                        except OSError:
                            pass
                time.sleep(3)
                print("open", sum(alive(s) for s in held), flush=True)
                # Which surface got how many of the 20 depends on which server accepted first: counted apart.
                onvif = [s for s in held if ports[s] == \(onvifPort) and alive(s)]
                rtsp = [s for s in held if ports[s] == \(rtspPort) and alive(s)]
                late = socket.create_connection(("127.0.0.1", \(rtspPort)), source_address=("127.0.0.9", 0))
                late.sendall(b"OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n")
                late.settimeout(5)
                print("late", late.recv(64).split(b" ")[1].decode(), flush=True)
                time.sleep(3)
                print("still", sum(alive(s) for s in held), flush=True)
                time.sleep(9)
                # 15 s on: the RTSP ones, which never set up a session, are closed; the ONVIF ones idle on.
                print("after", "rtsp", sum(alive(s) for s in rtsp), "onvif", len(onvif) - sum(alive(s) for s in onvif), flush=True)
                """
            async let flood = ExternalTool.run("python3", ["-c", script], timeout: 60)
            // The flood holds its connections for 15 s: the camera is pulled again inside that time.
            // While the VMS side is full, the camera drops its session: the gateway must pull it again.
            try await Task.sleep(for: .seconds(4))
            camera.closeAllConnections()
            // A stall (no RTP for stall_timeout, 5 s) or the closed session: either way, pulled again within 10 s.
            let reconnect = ContinuousClock.now + .seconds(10)
            while camera.activeSessions < 1 || camera.sessionsOpened < 2, ContinuousClock.now < reconnect {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(
                camera.sessionsOpened == 2 && camera.activeSessions == 1,
                "the camera was pulled again: \(camera.sessionsOpened) \(camera.activeSessions) \(daemon.stderr.suffix(800))"
            )
            let result = try await flood
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(
                lines.contains("open 20"),
                "RTSP and ONVIF together hold the budget: \(result.stdout) \(result.stderr)"
            )
            #expect(lines.contains("late 503"), "\(result.stdout)")
            #expect(lines.contains("still 20"), "\(result.stdout)")
            #expect(
                lines.contains("after rtsp 0 onvif 0"),
                "RTSP connections without a session closed, none of the ONVIF ones: \(result.stdout)"
            )
            #expect(daemon.isRunning)
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        try? await camera.stop()
        site.remove()
    }

    /// Who: one host on the VMS network with an IPv6 /64, rotating through its addresses. 40 connections from 40
    /// addresses of one /64 count as one source (8 admitted, the rest 503), so they cannot fill the VMS-side
    /// budget (20) and another /64 is still served. Inside a namespace the test makes, on documentation
    /// prefixes routed to its loopback.
    @Test func oneSixtyFourIsOneSource() async throws {
        let namespace = try await NetworkNamespace.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var daemon: GatewayProcess?
        do {
            // The gateway's address on the loopback; both /64s local to it, the clients binding with IP_FREEBIND.
            for command in [
                ["-6", "addr", "add", "2001:db8:2::1/128", "dev", "lo", "nodad"],
                ["-6", "route", "add", "local", "2001:db8:1::/64", "dev", "lo"],
                ["-6", "route", "add", "local", "2001:db8:2::/64", "dev", "lo"],
            ] {
                let result = try await namespace.run("/usr/sbin/ip", command)
                #expect(result.status == 0, "\(command): \(result.stderr)")
            }
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [server]
            listen = "2001:db8:2::1"
            port = 0
            allow_anonymous = true
            max_connections = 20
            max_connections_per_source = 8

            [admin]
            socket = "control.sock"
            metrics_port = 0

            [[camera]]
            name = "lobby"
            address = "192.0.2.10"
            on_demand = true

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
            """.write(to: config, atomically: true, encoding: .utf8)
            let process = try GatewayProcess(arguments: ["run", "--config", config.path], namespace: namespace)
            daemon = process
            let url = try await process.waitForOutput(matching: "rtsp://\\[2001:db8:2::1\\]:[0-9]+/lobby/main")
            let port = try #require(Int(url.split(separator: "]")[1].dropFirst().split(separator: "/")[0]))
            let script = """
                import socket
                def options(source):
                    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: an address of the local /64
                    s.bind((source, 0))
                    s.connect(("2001:db8:2::1", \(port)))
                    s.sendall(b"OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n")
                    s.settimeout(5)
                    return s, s.recv(64).split(b" ")[1].decode()
                held = [options("2001:db8:1::%x" % host) for host in range(1, 41)]
                statuses = [status for _, status in held]
                print("rotating", statuses.count("200"), statuses.count("503"), flush=True)
                print("other", options("2001:db8:2::5")[1], flush=True)
                """
            let result = try await namespace.run("python3", ["-c", script], timeout: 30)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("rotating 8 32"), "\(result.stdout) \(result.stderr)")
            #expect(lines.contains("other 200"), "\(result.stdout) \(result.stderr)")
            #expect(process.isRunning)
        } catch {
            Issue.record(error)
        }
        if let daemon { _ = await daemon.terminate() }
        await namespace.delete()
    }
}
