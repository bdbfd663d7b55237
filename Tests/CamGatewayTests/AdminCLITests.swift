import Foundation
import TestSupport
import Testing

/// `camgw camera` and `camgw user` through the real executable, on a real file: edits land, bad input is refused
/// with the reason and the file unchanged byte for byte, a crash at any step of a write leaves the old or the
/// new file, and two admins editing at once both land.
@Suite struct AdminCLITests {
    /// A directory with a configuration file holding a comment an admin wrote, removed afterwards.
    struct Site {
        let directory: URL
        var config: String { self.directory.appendingPathComponent("gateway.toml").path }

        static let initial = """
            # Site gateway: written by hand; camgw keeps this comment.
            [server]
            listen = "127.0.0.1"
            port = 0

            [admin]
            socket = "control.sock"
            metrics_port = 0

            """

        init(_ text: String = Site.initial) throws {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
            try text.write(toFile: self.config, atomically: true, encoding: .utf8)
        }

        func remove() { try? FileManager.default.removeItem(at: self.directory) }

        var text: String { (try? String(contentsOfFile: self.config, encoding: .utf8)) ?? "" }
        var bytes: Data { FileManager.default.contents(atPath: self.config) ?? Data() }

        @discardableResult
        func camgw(
            _ arguments: [String],
            input: String? = nil,
            environment: [String: String] = [:]
        ) async throws -> ExternalTool.Result {
            try await ExternalTool.run(
                GatewayProcess.executable.path,
                arguments + ["--config", self.config],
                input: input,
                environment: environment,
                timeout: 30
            )
        }
    }

    static let lobby = [
        "camera", "add", "lobby", "--address", "192.0.2.10", "--mac", "00-11-22-AA-BB-CC", "--stream",
        "main=/Streaming/Channels/101", "--stream", "sub=/Streaming/Channels/102", "--username", "admin",
        "--password-stdin",
    ]

    @Test func addSetShowListRemove() async throws {
        let site = try Site()
        defer { site.remove() }
        let added = try await site.camgw(Self.lobby, input: "Cam-Secret-1\n")
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("camera 'lobby' added"))
        #expect(added.stdout.contains("no daemon running"))
        // The password went to a secrets file only the service user reads, never into the configuration.
        let secret = site.directory.appendingPathComponent("secrets/lobby.password").path
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == "Cam-Secret-1\n")
        let mode = try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int
        #expect(mode == 0o640, "the owner and the service's group only")
        #expect(!site.text.contains("Cam-Secret-1"))
        #expect(site.text.hasPrefix("# Site gateway: written by hand; camgw keeps this comment."))

        try await site.camgw([
            "camera", "add", "door", "--address", "door-cam.example", "--stream", "main=/h264", "--always-on",
        ])
        let set = try await site.camgw(["camera", "set", "lobby", "--policy", "ptz,events", "--onvif-port", "8080"])
        #expect(set.status == 0, "\(set.stderr)")

        let show = try await site.camgw(["camera", "show", "lobby", "--json"])
        let lobby = try JSONDecoder().decode(Camera.self, from: Data(show.stdout.utf8))
        #expect(lobby.address == "192.0.2.10")
        #expect(lobby.mac == "00:11:22:aa:bb:cc")
        #expect(lobby.policy == "events,ptz")
        #expect(lobby.onvifPort == 8080)
        #expect(lobby.streams.map(\.name) == ["main", "sub"])
        #expect(lobby.mode == "on-demand")
        #expect(!show.stdout.contains("Cam-Secret-1"))

        let list = try await site.camgw(["camera", "list", "--json"])
        let cameras = try JSONDecoder().decode([Camera].self, from: Data(list.stdout.utf8))
        #expect(cameras.map(\.name) == ["lobby", "door"])
        #expect(cameras[1].mode == "always-on")
        let table = try await site.camgw(["camera", "list"])
        #expect(table.stdout.split(separator: "\n").first?.hasPrefix("NAME") == true)
        #expect(!table.stdout.contains("\u{1B}["), "no colours when stdout is not a terminal")

        // Streams replaced wholesale by set; the rest of the block stays.
        try await site.camgw(["camera", "set", "lobby", "--stream", "main=/Streaming/Channels/201"])
        let after = try JSONDecoder().decode(
            Camera.self,
            from: Data(try await site.camgw(["camera", "show", "lobby", "--json"]).stdout.utf8)
        )
        #expect(after.streams.map(\.path) == ["/Streaming/Channels/201"])
        #expect(after.policy == "events,ptz")

        let removed = try await site.camgw(["camera", "remove", "door"])
        #expect(removed.status == 0)
        #expect(!site.text.contains("door"))
        #expect(site.text.contains("# Site gateway: written by hand; camgw keeps this comment."))
        // The previous version is kept.
        #expect(try String(contentsOfFile: site.config + ".bak", encoding: .utf8).contains("door-cam.example"))
        let check = try await site.camgw(["check"])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func usersAreStoredAsDigestsOnly() async throws {
        let site = try Site()
        defer { site.remove() }
        let added = try await site.camgw(
            ["user", "add", "vms", "--stream", "lobby/*", "--source", "198.51.100.0/24", "--password-stdin"],
            input: "Vms-Secret-2\n"
        )
        #expect(added.status == 0, "\(added.stderr)")
        #expect(!site.text.contains("Vms-Secret-2"))
        #expect(site.text.contains("ha1_sha256 = \""))
        try await site.camgw(["user", "set", "vms", "--stream", "*"])
        let list = try await site.camgw(["user", "list", "--json"])
        #expect(list.stdout.contains("\"*\""))
        #expect(list.stdout.contains("198.51.100.0/24"))
        #expect(!list.stdout.contains("ha1"))
        try await site.camgw(["user", "remove", "vms"])
        #expect(!site.text.contains("[[user]]"))
    }

    /// Each bad edit: refused with its reason, exit 65, the file byte for byte as it was.
    static let refusals: [(String, [String], String)] = [
        (
            "duplicate name", ["camera", "add", "lobby", "--address", "192.0.2.20", "--stream", "main=/x"],
            "camera 'lobby' exists already"
        ),
        (
            "bad address", ["camera", "add", "cam2", "--address", "192.0.2.1/24", "--stream", "main=/x"],
            "not an IP address or a host name"
        ),
        (
            "address with a URL in it",
            ["camera", "add", "cam2", "--address", "evil@192.0.2.1", "--stream", "main=/x"], "not an IP address"
        ),
        (
            "ONVIF port clash",
            [
                "camera", "add", "cam2", "--address", "192.0.2.20", "--stream", "main=/x", "--gateway-onvif-port",
                "8001",
            ],
            "gateway_onvif_port 8001 is already camera 'lobby''s"
        ),
        ("unknown policy", ["camera", "set", "lobby", "--policy", "reboot"], "unknown policy 'reboot'"),
        ("bad MAC", ["camera", "set", "lobby", "--mac", "00:11:22:33:44"], "is not a MAC address"),
        ("bad stream", ["camera", "set", "lobby", "--stream", "main"], "is not name=/path"),
        ("unknown camera", ["camera", "remove", "garage"], "no camera named 'garage'"),
        (
            "bad source network",
            ["user", "add", "vms", "--stream", "*", "--source", "300.0.0.0/8", "--password-file", "/etc/hostname"],
            "is not a network"
        ),
    ]

    @Test(arguments: refusals)
    func badEditsAreRefusedAndLeaveTheFileAsItWas(_ name: String, _ arguments: [String], _ reason: String) async throws
    {
        let site = try Site()
        defer { site.remove() }
        try await site.camgw(Self.lobby, input: "pw\n")
        try await site.camgw(["camera", "set", "lobby", "--gateway-onvif-port", "8001"])
        let before = site.bytes
        let result = try await site.camgw(arguments)
        #expect(result.status == 65, "\(name): exit \(result.status), \(result.stderr)")
        #expect(result.stderr.contains(reason), "\(name): \(result.stderr)")
        #expect(site.bytes == before, "\(name) changed the file")
    }

    /// The write killed right after each of its steps: the file is always the old or the new one, whole.
    @Test(arguments: ["backup-written", "temporary-written", "temporary-synced", "renamed", "directory-synced"])
    func aCrashAtAnyStepLeavesTheOldOrTheNewFile(_ step: String) async throws {
        let site = try Site()
        defer { site.remove() }
        try await site.camgw(Self.lobby, input: "pw\n")
        let old = site.text
        let reference = try Site(old)
        defer { reference.remove() }
        let door = ["camera", "add", "door", "--address", "192.0.2.11", "--stream", "main=/h264"]
        try await reference.camgw(door)
        let new = reference.text
        #expect(new != old)

        let crashed = try await site.camgw(door, environment: ["CAMGW_TEST_CRASH_AFTER": step])
        #expect(crashed.status == 99, "the write did not stop at \(step): \(crashed.stderr)")
        let after = site.text
        #expect(after == old || after == new, "after a crash at \(step) the file is neither version:\n\(after)")
        #expect(after == (["renamed", "directory-synced"].contains(step) ? new : old))
        // The next edit goes through, and cleans what the dead one left.
        let next = try await site.camgw(["camera", "set", "lobby", "--port", "8554"])
        #expect(next.status == 0, "\(next.stderr)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: site.directory.path).filter {
            $0.contains(".tmp-")
        }
        #expect(leftovers.isEmpty)
    }

    @Test func twoEditorsAtOnceBothLand() async throws {
        let site = try Site()
        defer { site.remove() }
        let results = try await withThrowingTaskGroup(of: ExternalTool.Result.self) { group in
            for index in 0..<6 {
                group.addTask {
                    try await site.camgw([
                        "camera", "add", "cam\(index)", "--address", "192.0.2.\(index + 1)", "--stream", "main=/x",
                    ])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
        let list = try await site.camgw(["camera", "list", "--json"])
        let names = try JSONDecoder().decode([Camera].self, from: Data(list.stdout.utf8)).map(\.name)
        #expect(Set(names) == Set((0..<6).map { "cam\($0)" }))
    }

    @Test func checkPrintsEveryProblemWithItsLine() async throws {
        let site = try Site(
            """
            [server]
            port = 70000

            [[camera]]
            name = "a"
            address = "192.0.2.1"
            policy = ["reboot"]
              [[camera.stream]]
              name = "main"
              path = "/x"

            [[camera]]
            name = "b"
            address = "not a host"
              [[camera.stream]]
              name = "main"
              path = "/x"
            """
        )
        defer { site.remove() }
        let result = try await site.camgw(["check"])
        #expect(result.status == 65)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 3, "\(result.stderr)")
        #expect(result.stderr.contains("gateway.toml:1: [server] port must be"))
        #expect(result.stderr.contains("gateway.toml:4: camera 'a': unknown policy 'reboot'"))
        #expect(result.stderr.contains("gateway.toml:12: camera 'b': address must be"))
    }

    struct Camera: Decodable {
        struct Stream: Decodable {
            var name: String
            var path: String
        }
        var name: String
        var address: String
        var mode: String
        var policy: String
        var mac: String?
        var onvifPort: Int?
        var streams: [Stream]
    }
}

/// `--help` shows examples, and completion scripts come from the argument parser.
@Suite struct AdminHelpTests {
    @Test(arguments: [["camera", "--help"], ["user", "--help"], ["status", "--help"], ["check", "--help"]])
    func helpHasExamples(_ arguments: [String]) async throws {
        let result = try await ExternalTool.run(GatewayProcess.executable.path, arguments, timeout: 10)
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "\(result.stdout)")
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScripts(_ shell: String) async throws {
        let result = try await ExternalTool.run(
            GatewayProcess.executable.path,
            ["--generate-completion-script", shell],
            timeout: 10
        )
        #expect(result.status == 0)
        #expect(result.stdout.contains("camera"))
        #expect(result.stdout.contains("discover"))
    }
}
