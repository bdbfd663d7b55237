import Foundation
import TestSupport
import Testing

/// The units in deploy/systemd, as systemd applies them: their `systemd-analyze security` exposure stays under 2.0,
/// and the daemon works inside its sandbox (own user, only CAP_NET_BIND_SERVICE, no new privileges, a read-only
/// system, the @system-service system-call filter, W^X memory). No systemd runs in CI, so the test boots one: a
/// throwaway systemd as PID 1 of its own PID and mount namespaces, inside a network namespace, whose unit path
/// holds only these units and drop-ins that point them at the test's binary and configuration (the hardening
/// lines are the files' own). The egress unit (CAP_NET_ADMIN only) hands the kernel's counts to the daemon. The users `camgw` and `camgw-admin` exist only in that mount namespace.
@Suite struct SystemdUnitTests {
    static let directory = Fixtures.packageRoot.appendingPathComponent("deploy/systemd")

    static let units = ["camgw.service", "camgw-egress.service"]

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")), arguments: units)
    func exposureStaysUnderTwo(_ unit: String) async throws {
        let result = try await ExternalTool.run(
            "/usr/bin/systemd-analyze",
            ["security", "--offline=true", Self.directory.appendingPathComponent(unit).path],
            timeout: 30
        )
        let line = result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
        let score = line.split(separator: ":").last.flatMap { Double($0.split(separator: " ").first ?? "") }
        #expect(score != nil && score! < 2.0, "\(result.stdout.suffix(400)) \(result.stderr)")
    }

    static var canBootSystemd: Bool {
        NetworkNamespace.isAvailable
            && ["/lib/systemd/systemd", "/usr/bin/unshare", "/usr/bin/nsenter", "/usr/bin/systemctl"].allSatisfy {
                FileManager.default.isExecutableFile(atPath: $0)
            }
    }

    @Test(.enabled(if: canBootSystemd))
    func theHardenedUnitRunsTheDaemon() async throws {
        let gateway = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var processes: [GatewayProcess] = []
        do {
            let (_, cameraInterface) = try await gateway.link(
                address: "192.0.2.1/24",
                to: camera,
                address: "192.0.2.10/24",
                multicastRoute: false,
                name: "cam0"
            )
            let mac = try await camera.mac(of: cameraInterface)
            let (simulator, cameraPort) = try await GatewayProcess.simulator(
                ["--listen", "192.0.2.10"],
                namespace: camera
            )
            processes.append(simulator)
            try Self.prepare(directory, cameraPort: cameraPort, mac: mac)
            // The egress lock, loaded by the admin (root): the egress unit reads its counts.
            let apply = try await gateway.run(
                GatewayProcess.executable.path,
                ["firewall", "apply", "--config", directory.appendingPathComponent("gateway.toml").path],
                timeout: 30
            )
            try #require(apply.status == 0, "\(apply.stderr)")

            // PID 1 of new PID and mount namespaces, in the gateway's network namespace.
            let boot = try GatewayProcess(
                arguments: [
                    "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--propagation", "private",
                    "/bin/bash",
                    directory.appendingPathComponent("boot.sh").path, directory.path,
                ],
                namespace: gateway,
                executable: URL(fileURLWithPath: "/usr/bin/unshare")
            )
            processes.append(boot)
            let systemd = try await Self.child(of: boot.processIdentifier)
            // Commands inside: its mounts (/run) and PIDs, the gateway's network.
            func inside(_ arguments: [String], timeout: Double = 30) async throws -> ExternalTool.Result {
                try await ExternalTool.run(
                    "/usr/bin/nsenter",
                    ["-t", String(systemd), "-m", "-p", "-n"] + arguments,
                    timeout: timeout
                )
            }
            func showUnit(_ property: String, _ unit: String) async throws -> String {
                try await inside(["/usr/bin/systemctl", "show", "-P", property, unit]).stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            func show(_ property: String) async throws -> String { try await showUnit(property, "camgw.service") }
            var state = ""
            for _ in 0..<150 {
                state = (try? await show("ActiveState")) ?? ""
                if state == "active" || state == "failed" { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let log = {
                (try? String(contentsOf: directory.appendingPathComponent("daemon.log"), encoding: .utf8)) ?? ""
            }
            try #require(state == "active", "camgw.service is \(state): \(log()) \(boot.stderr)")

            // The sandbox is in force: its own user, one capability, no new privileges, a system-call filter.
            let pid = try await show("MainPID")
            let status = try await inside(["/bin/cat", "/proc/\(pid)/status"]).stdout
            func field(_ name: String) -> String {
                status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map {
                    $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
                } ?? ""
            }
            #expect(field("Uid").hasPrefix("990"), "\(status)")
            #expect(field("CapEff") == "0000000000000400", "CAP_NET_BIND_SERVICE only: \(status)")
            #expect(field("CapBnd") == "0000000000000400")
            #expect(field("NoNewPrivs") == "1")
            #expect(field("Seccomp") == "2")

            // And the daemon works in it: RTSP on the privileged port 554 pulled from the camera, ffmpeg reading it…
            let read = try await gateway.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", "rtsp://127.0.0.1:554/lobby/main",
                    "-frames:v", "25", "-f", "null", "-",
                ],
                timeout: 40
            )
            #expect(read.status == 0, "\(read.stderr) \(log())")
            // …the virtual ONVIF device on port 80, parsing SOAP with libxml2 under W^X memory…
            let soap = try await gateway.run(
                "curl",
                [
                    "-s", "-H", "Content-Type: application/soap+xml", "--data",
                    """
                    <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                    <GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>
                    """,
                    "http://127.0.0.1:80/onvif/device_service",
                ],
                timeout: 10
            )
            #expect(soap.stdout.contains("GetSystemDateAndTimeResponse"), "\(soap.stdout) \(log())")
            // …the DNS decoy on the camera side's port 53…
            let dns = try await camera.run(
                "python3",
                [ExternalTool.peerScript("dns_query.py"), "udp", "192.0.2.1", "53", "dev.hik-connect.com"],
                timeout: 10
            )
            #expect(
                dns.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "192.0.2.1 3 True",
                "\(dns.stdout) \(dns.stderr)"
            )
            // …the control socket in its RuntimeDirectory, for an admin…
            let statusCommand = try await inside([
                "/run/camgw-test/camgw", "status", "--json", "--config", "/run/camgw-test/gateway.toml",
            ])
            #expect(
                statusCommand.stdout.contains("\"dnsNames\" : 1"),
                "\(statusCommand.stdout) \(statusCommand.stderr)"
            )
            // …reload through systemd (SIGHUP, RELOADING=1 then READY=1)…
            let reload = try await inside(["/usr/bin/systemctl", "reload", "camgw.service"])
            #expect(reload.status == 0, "\(reload.stderr) \(log())")
            #expect(log().contains("configuration reloaded"), "\(log())")
            // …and the watchdog (2 s in the drop-in) fed all along: still active, never restarted.
            try await Task.sleep(for: .seconds(3))
            #expect(try await show("ActiveState") == "active")
            #expect(try await show("NRestarts") == "0")
            // The egress counts, read by their own unit (CAP_NET_ADMIN only, a dynamic user) into the metrics.
            let push = try await inside(["/usr/bin/systemctl", "start", "camgw-egress.service"], timeout: 20)
            let egressLog =
                (try? String(contentsOf: directory.appendingPathComponent("egress.log"), encoding: .utf8)) ?? ""
            #expect(push.status == 0, "\(push.stderr) \(egressLog)")
            #expect(try await showUnit("Result", "camgw-egress.service") == "success", "\(egressLog)")
            let metricsURL = try #require(log().firstMatch(of: /http:\/\/127\.0\.0\.1:[0-9]+\/metrics/)).output
            let metrics = try await gateway.run("curl", ["-sf", String(metricsURL)], timeout: 10)
            #expect(metrics.stdout.contains("camgw_egress_counts_timestamp_seconds"), "\(metrics.stdout)")
            #expect(metrics.stdout.contains("camgw_egress_decoyed_connections{camera=\"lobby\"}"), "\(metrics.stdout)")
            // A clean stop.
            let stop = try await inside(["/usr/bin/systemctl", "stop", "camgw.service"])
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(try await show("Result") == "success", "\(log())")
        } catch {
            Issue.record(error)
        }
        for process in processes { _ = await process.terminate() }
        for namespace in [gateway, camera] { await namespace.delete() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The binary, the configuration, the unit with its drop-in, the users, and the script that becomes PID 1.
    static func prepare(_ directory: URL, cameraPort: Int, mac: String) throws {
        func write(_ text: String, _ name: String) throws {
            let file = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        // A copy, where the sandbox can read it whatever the checkout's path (ProtectHome hides /root and /home).
        try FileManager.default.copyItem(at: GatewayProcess.executable, to: directory.appendingPathComponent("camgw"))
        try write(
            """
            [server]
            listen = "127.0.0.1"
            port = 554
            allow_anonymous = true

            [admin]
            socket = "/run/camgw/control.sock"
            socket_group = "camgw-admin"
            metrics_port = 0

            [appliance]
            camera_interface = "cam0"
            camera_side_address = "192.0.2.1"

            [[camera]]
            name = "lobby"
            address = "192.0.2.10"
            port = \(cameraPort)
            mac = "\(mac)"
            gateway_onvif_port = 80

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
            """,
            "gateway.toml"
        )
        for unit in Self.units {
            try write(
                try String(contentsOf: Self.directory.appendingPathComponent(unit), encoding: .utf8),
                "units/\(unit)"
            )
        }
        try write(
            """
            # Only where the test differs from an appliance: the binary's and configuration's paths, the output
            # (no journald here), a short watchdog, and no default dependencies (this systemd has no other units).
            [Unit]
            DefaultDependencies=no

            [Service]
            ExecStart=
            ExecStart=/run/camgw-test/camgw run --config /run/camgw-test/gateway.toml --log-format json
            ReadOnlyPaths=
            ReadOnlyPaths=/run/camgw-test
            StandardOutput=append:/run/camgw-test/daemon.log
            StandardError=append:/run/camgw-test/daemon.log
            WatchdogSec=2
            """,
            "units/camgw.service.d/test.conf"
        )
        try write(
            """
            [Unit]
            DefaultDependencies=no

            [Service]
            ExecStart=
            ExecStart=/run/camgw-test/camgw egress --push --config /run/camgw-test/gateway.toml
            ReadOnlyPaths=
            ReadOnlyPaths=/run/camgw-test
            StandardOutput=append:/run/camgw-test/egress.log
            StandardError=append:/run/camgw-test/egress.log
            """,
            "units/camgw-egress.service.d/test.conf"
        )
        try write(
            """
            [Unit]
            DefaultDependencies=no
            Wants=camgw.service
            """,
            "units/camgw-test.target"
        )
        let passwd = try String(contentsOfFile: "/etc/passwd", encoding: .utf8)
        let group = try String(contentsOfFile: "/etc/group", encoding: .utf8)
        try write(passwd + "camgw:x:990:990:CamGateway:/nonexistent:/usr/sbin/nologin\n", "passwd")
        try write(group + "camgw:x:990:\ncamgw-admin:x:991:\n", "group")
        try write(
            """
            set -euo pipefail
            # The host's files stay as they are: everything here is in this mount namespace only.
            mount --make-rprivate /
            mount -t tmpfs -o mode=0755 tmpfs /run
            mkdir /run/camgw-test
            mount --bind "$1" /run/camgw-test
            mount -t tmpfs tmpfs /tmp
            mount -t tmpfs tmpfs /var/tmp
            mount --bind /run/camgw-test/passwd /etc/passwd
            mount --bind /run/camgw-test/group /etc/group
            exec env container=camgw-test SYSTEMD_UNIT_PATH=/run/camgw-test/units \\
                /lib/systemd/systemd --system --unit=camgw-test.target --log-target=console --show-status=no
            """,
            "boot.sh"
        )
    }

    /// The forked child of `unshare`: systemd, as the host sees it.
    static func child(of parent: Int32) async throws -> Int32 {
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8),
                let pid = text.split(separator: " ").first.flatMap({ Int32($0) })
            {
                return pid
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NetworkNamespace.Failure(command: "unshare", "no child process appeared")
    }
}
