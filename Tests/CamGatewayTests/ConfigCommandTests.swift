import Foundation
import TestSupport
import Testing

/// `camgw run --config FILE`, through the real executable: a configured camera is relayed, and a bad file is
/// refused with the file, the line where the parser knows it, and the reason.
@Suite struct ConfigCommandTests {
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func configuredCameraIsRelayed() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let passwordFile = directory.appendingPathComponent("lobby.password")
        try "Lobby-Cam-1\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let (camera, cameraPort) = try await GatewayProcess.simulator([
            "--user", "admin", "--password-file", passwordFile.path,
        ])
        // The VMS account, made as an admin would: the password on stdin, only its digests in the file.
        let hashed = try await GatewayProcess.hashPassword(user: "vms", password: "Vms-Secret-9", streams: ["lobby/*"])
        #expect(hashed.status == 0, "\(hashed.stderr)")
        #expect(!hashed.stdout.contains("Vms-Secret-9"))
        let config = directory.appendingPathComponent("gateway.toml")
        try """
        [admin]
        socket = "control.sock"
        metrics_port = 0

        [server]
        listen = "127.0.0.1"
        port = 0

        \(hashed.stdout)

        [[camera]]
        name = "lobby"
        address = "127.0.0.1"
        port = \(cameraPort)
        username = "admin"
        password_file = "lobby.password"

          [[camera.stream]]
          name = "main"
          path = "/Streaming/Channels/101"
        """.write(to: config, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["run", "--config", config.path])
        let url = try await gateway.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/lobby/main")
        let probe = try await ExternalTool.run(
            "ffprobe",
            [
                "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width,height", "-of",
                "csv=p=0", url.replacingOccurrences(of: "rtsp://", with: "rtsp://vms:Vms-Secret-9@"),
            ],
            timeout: 30
        )
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "h264,640,360", "\(probe.stderr)")
        let anonymous = try await ExternalTool.run(
            "ffprobe",
            ["-v", "error", "-rtsp_transport", "tcp", url],
            timeout: 30
        )
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains("401"))
        #expect(await gateway.terminate() == 0)
        #expect(await camera.terminate() == 0)
        // One line per session start and stop, with reader address, camera and stream.
        #expect(gateway.stderr.contains("reader started"))
        #expect(gateway.stderr.contains("camera=lobby"))
    }

    static let badConfigs: [(String, String, String)] = [
        (
            "inline password",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nusername = \"u\"\npassword = \"p\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "inline password refused"
        ),
        (
            "unknown key",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\non_demnd = true\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "unknown key 'on_demnd'"
        ),
        ("syntax error", "[server]\nport = 8554\nlisten = \n", "gateway.toml:3:"),
        (
            "duplicate camera",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n[[camera]]\nname = \"a\"\naddress = \"192.0.2.2\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "camera 'a' is listed twice"
        ),
        ("bad port", "[server]\nport = 70000\n", "port must be 0–65535"),
        // The validator itself trapped on `low + 1` (at `check`, and in a running daemon at reload).
        (
            "UDP ports past Int", "[relay]\nreader_udp_ports = [9223372036854775807, 2]\n",
            "reader_udp_ports must be"
        ),
        (
            "UDP ports below Int", "[relay]\nreader_udp_ports = [1024, -9223372036854775808]\n",
            "reader_udp_ports must be"
        ),
        (
            "user with a password", "[[user]]\nname = \"vms\"\npassword = \"x\"\nstreams = [\"*\"]\n",
            "passwords are not stored"
        ),
        (
            "user with a bad network",
            "[[user]]\nname = \"vms\"\nha1_md5 = \"0123456789abcdef0123456789abcdef\"\nstreams = [\"*\"]\nsources = [\"300.1.1.1/8\"]\n",
            "sources must be networks"
        ),
        ("bad name", "[[camera]]\nname = \"a b\"\naddress = \"192.0.2.1\"\n", "name must be"),
        (
            "missing password source",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nusername = \"u\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "needs password_file or password_env"
        ),
        (
            "backchannel over UDP",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\ntransport = \"udp\"\nbackchannel = true\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "backchannel needs transport = \"tcp\""
        ),
        (
            "unicast address as multicast group",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\nmulticast_group = \"192.0.2.50\"\nmulticast_port = 5004\n",
            "multicast_group must be an IPv4 multicast address"
        ),
        (
            "odd multicast port",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\nmulticast_group = \"239.1.1.1\"\nmulticast_port = 5005\n",
            "multicast_port must be even"
        ),
        (
            "overlapping multicast",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\nmulticast_group = \"239.1.1.1\"\nmulticast_port = 5004\n[[camera]]\nname = \"b\"\naddress = \"192.0.2.2\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\nmulticast_group = \"239.1.1.1\"\nmulticast_port = 5010\n",
            "multicast 239.1.1.1:5010 overlaps camera 'a' stream 'm'"
        ),
        (
            "multicast port without group",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\nmulticast_port = 5004\n",
            "multicast_port needs multicast_group"
        ),
        // Values that once passed the check and then trapped the daemon (issue 20) or failed after start.
        (
            "control character in the realm", "[server]\nrealm = \"Cam\\u0001Gateway\"\n",
            "gateway.toml:1: [server] realm must be"
        ),
        ("DEL in the realm", "[server]\nrealm = \"Cam\\u007FGateway\"\n", "[server] realm must be"),
        ("C1 control in the realm", "[server]\nrealm = \"Cam\\u0085Gateway\"\n", "[server] realm must be"),
        ("backslash in the realm", "[server]\nrealm = \"Cam\\\\Gateway\"\n", "[server] realm must be"),
        (
            "control character in a camera username",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nusername = \"ad\\u0001min\"\npassword_env = \"HOME\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "gateway.toml:1: camera 'a': username must be"
        ),
        (
            "line feed in a camera username",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nusername = \"admin\\r\\nX-Injected: 1\"\npassword_env = \"HOME\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "camera 'a': username must be"
        ),
        (
            "colon in a camera username (Basic would split it)",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nusername = \"ad:min\"\npassword_env = \"HOME\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "camera 'a': username must be"
        ),
        (
            "fullwidth digits in a MAC",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nmac = \"\u{FF10}\u{FF10}:11:22:aa:bb:cc\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "camera 'a': mac must be six hex pairs"
        ),
        (
            "Arabic-Indic digits in a MAC",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nmac = \"\u{0661}\u{0662}:11:22:aa:bb:cc\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "camera 'a': mac must be six hex pairs"
        ),
        (
            "fullwidth hex in an HA1",
            "[[user]]\nname = \"vms\"\nha1_md5 = \"\(String(repeating: "\u{FF41}", count: 32))\"\nstreams = [\"*\"]\n",
            "ha1_md5 must be 32 lower-case hex digits"
        ),
        (
            "missing TLS files", "[tls]\ncertificate = \"absent.pem\"\nprivate_key = \"absent-key.pem\"\n",
            "gateway.toml:1: [tls] certificate"
        ),
        (
            "metrics on the RTSP port", "[server]\nport = 18554\n[admin]\nmetrics_port = 18554\n",
            "gateway.toml:3: [admin] metrics_port 18554 is also [server] port"
        ),
        (
            "path mode on the RTSP port of the wildcard address",
            "[server]\nlisten = \"0.0.0.0\"\nport = 18554\n[onvif]\nlisten = \"127.0.0.1\"\npath_mode_port = 18554\n",
            "[onvif] path_mode_port 18554 is also [server] port"
        ),
        (
            "a virtual device on the metrics port",
            "[admin]\nmetrics_port = 18000\nmetrics_listen = \"127.0.0.1\"\n[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\ngateway_onvif_port = 18000\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n",
            "gateway.toml:4: camera 'a' gateway_onvif_port 18000 is also [admin] metrics_port"
        ),
        (
            "one address with two MACs",
            "[[camera]]\nname = \"a\"\naddress = \"192.0.2.1\"\nmac = \"00:11:22:aa:bb:cc\"\n[[camera.stream]]\nname = \"m\"\npath = \"/x\"\n[[camera]]\nname = \"b\"\naddress = \"192.0.2.1\"\nmac = \"00:11:22:aa:bb:cd\"\n[[camera.stream]]\nname = \"m\"\npath = \"/y\"\n",
            "gateway.toml:8: camera 'b': address 192.0.2.1 already has mac 00:11:22:aa:bb:cc (camera 'a'), not 00:11:22:aa:bb:cd"
        ),
    ]

    /// Refused by `camgw check` (exit 65, every problem with file, line and reason) and by `camgw run`, which
    /// must end with the same reason rather than start and trap or leave a listener off.
    @Test(arguments: badConfigs)
    func badConfigIsRefusedWithTheReason(_ name: String, _ text: String, _ expected: String) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("gateway.toml")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let checked = try await ExternalTool.run(
            GatewayProcess.executable.path,
            ["check", "--config", config.path],
            timeout: 10
        )
        #expect(checked.status == 65, "\(name) passed camgw check: \(checked.stdout)")
        #expect(checked.stderr.contains(expected), "\(name): \(checked.stderr)")
        let result = try await ExternalTool.run(
            GatewayProcess.executable.path,
            ["run", "--config", config.path],
            timeout: 10
        )
        #expect(result.status != 0, "\(name) was accepted")
        #expect(result.status != 128 + SIGILL && result.status != SIGILL, "\(name) trapped")
        #expect(result.stderr.contains(expected), "\(name): \(result.stderr)")
    }

    /// `--port` outside 0–65535 would have listened on its low 16 bits (getaddrinfo keeps them): refused with
    /// the usage exit code before anything binds.
    @Test(arguments: ["70000", "-1", "9223372036854775807"])
    func runRefusesAPortNoSocketHas(_ port: String) async throws {
        let result = try await ExternalTool.run(GatewayProcess.executable.path, ["run", "--port=\(port)"], timeout: 10)
        #expect(result.status == 64, "\(port): \(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("--port must be 0–65535"), "\(result.stderr)")
        #expect(!result.stdout.contains("rtsp://"), "\(result.stdout)")
    }

    /// `camgw camera add` with a username that would split an RTSP header: refused (65) with the reason, the
    /// file byte for byte as it was.
    @Test func cameraAddRefusesAUsernameWithAControlCharacter() async throws {
        let site = try AdminCLITests.Site()
        defer { site.remove() }
        let before = site.bytes
        for username in ["ad\u{1}min", "admin\r\nX-Injected: 1", "ad\u{7F}min"] {
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "192.0.2.10", "--stream", "main=/Streaming/Channels/101",
                    "--username", username, "--password-stdin",
                ],
                input: "secret\n"
            )
            #expect(add.status == 65, "\(add.stdout) \(add.stderr)")
            #expect(add.stderr.contains("username must be"), "\(add.stderr)")
            #expect(site.bytes == before)
        }
    }

    /// Near misses that are valid: a realm with spaces and punctuation, a username with a space or UTF-8, a MAC
    /// in upper case with dashes, the same port on two distinct addresses, port 0 twice.
    @Test func oddButValidValuesPass() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("gateway.toml")
        try """
        [server]
        realm = "Site 7 / Gate-B (east)"
        listen = "127.0.0.1"
        port = 0

        [admin]
        metrics_listen = "127.0.0.2"
        metrics_port = 0

        [[camera]]
        name = "a"
        address = "192.0.2.1"
        username = "Überwachung admin"
        password_env = "HOME"
        mac = "00-11-22-AA-BB-CC"
        gateway_onvif_port = 0

          [[camera.stream]]
          name = "m"
          path = "/x"
        """.write(to: config, atomically: true, encoding: .utf8)
        let checked = try await ExternalTool.run(
            GatewayProcess.executable.path,
            ["check", "--config", config.path],
            timeout: 10
        )
        #expect(checked.status == 0, "\(checked.stderr)")
    }
}
