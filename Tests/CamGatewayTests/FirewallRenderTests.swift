import Foundation
import TestSupport
import Testing

/// `camgw firewall render` over sample allowlists, against golden files (regenerate one with
/// `camgw firewall render --config Tests/CamGatewayTests/Golden/X.toml > Tests/CamGatewayTests/Golden/X.nft` and
/// read the difference before committing it). When nft is installed, each golden ruleset also loads in a
/// network namespace the test makes, so the golden files are rulesets nft accepts, not only text.
@Suite struct FirewallRenderTests {
    static let golden = Fixtures.packageRoot.appendingPathComponent("Tests/CamGatewayTests/Golden")
    static let samples = ["two-cameras", "no-cameras"]

    @Test(arguments: samples)
    func rendersTheGoldenFile(_ name: String) async throws {
        let config = Self.golden.appendingPathComponent("\(name).toml").path
        let result = try await ExternalTool.run(
            GatewayProcess.executable.path,
            ["firewall", "render", "--config", config],
            timeout: 10
        )
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try String(contentsOf: Self.golden.appendingPathComponent("\(name).nft"), encoding: .utf8)
        // The golden files name the sample by its path in the repository.
        let rendered = result.stdout.replacingOccurrences(of: Fixtures.packageRoot.path + "/", with: "")
        #expect(rendered == expected, "regenerate and review: camgw firewall render --config \(config)")
    }

    @Test(
        .enabled(if: NetworkNamespace.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft")),
        arguments: samples
    )
    func goldenRulesetsLoadInNft(_ name: String) async throws {
        let namespace = try await NetworkNamespace.create()
        do {
            // The interface the netdev table hooks must exist: a veth pair with the sample's name on one end.
            let ruleset = try String(contentsOf: Self.golden.appendingPathComponent("\(name).nft"), encoding: .utf8)
            let interface = name == "no-cameras" ? "eth1" : "cam0"
            let link = try await ExternalTool.run(
                "/usr/sbin/ip",
                ["-n", namespace.name, "link", "add", interface, "type", "veth", "peer", "name", "peer0"],
                timeout: 10
            )
            #expect(link.status == 0, "\(link.stderr)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString).nft")
            try ruleset.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let check = try await namespace.run("/usr/sbin/nft", ["-c", "-f", file.path], timeout: 20)
            #expect(check.status == 0, "\(check.stderr)")
            let load = try await namespace.run("/usr/sbin/nft", ["-f", file.path], timeout: 20)
            #expect(load.status == 0, "\(load.stderr)")
            // Loading again replaces both tables (the apply idiom), without duplicates.
            let again = try await namespace.run("/usr/sbin/nft", ["-f", file.path], timeout: 20)
            #expect(again.status == 0, "\(again.stderr)")
            let tables = try await namespace.run("/usr/sbin/nft", ["list", "tables"], timeout: 10)
            #expect(tables.stdout.split(separator: "\n").sorted() == ["table inet camgw", "table netdev camgw_l2"])
        } catch {
            Issue.record(error)
        }
        await namespace.delete()
    }

    /// With an `[appliance]`, the allowlist is the source of the ruleset: an edit that leaves a camera without a
    /// MAC or an IPv4 address is refused with the camera's line, and the file stays as it was.
    @Test func camerasWithoutMACOrIPv4AreRefusedWithTheReason() async throws {
        let site = try AdminCLITests.Site(
            AdminCLITests.Site.initial
                + "\n[appliance]\ncamera_interface = \"cam0\"\ncamera_side_address = \"192.0.2.1\"\n"
        )
        defer { site.remove() }
        let before = site.bytes
        let noMAC = try await site.camgw(["camera", "add", "lobby", "--address", "192.0.2.10", "--stream", "main=/x"])
        #expect(noMAC.status == 65)
        #expect(noMAC.stderr.contains(/gateway\.toml:[0-9]+: camera 'lobby' has no mac/), "\(noMAC.stderr)")
        #expect(site.bytes == before)
        try await site.camgw([
            "camera", "add", "lobby", "--address", "192.0.2.10", "--mac", "00:11:22:33:44:55", "--stream", "main=/x",
        ])
        let withMAC = site.bytes
        let hostname = try await site.camgw(["camera", "set", "lobby", "--address", "lobby-cam.example"])
        #expect(hostname.status == 65)
        #expect(
            hostname.stderr.contains("the egress lock needs an IPv4 address, not 'lobby-cam.example'"),
            "\(hostname.stderr)"
        )
        #expect(site.bytes == withMAC)
        let rendered = try await site.camgw(["firewall", "render"])
        #expect(rendered.stdout.contains("192.0.2.10 . 00:11:22:33:44:55"), "\(rendered.stderr)")
    }
}
