import Foundation
import TestSupport
import Testing

/// Camera edits with the egress lock loaded (in a network namespace the test makes): the CLI changes only the
/// edited camera's set elements, so what the cameras tried stays counted; without CAP_NET_ADMIN the edit is saved
/// and the CLI says the lock is out of date (exit 77).
@Suite(
    .enabled(if: NetworkNamespace.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"))
)
struct FirewallSyncTests {
    @Test func cameraEditsUpdateTheLoadedSetsAndKeepTheCounts() async throws {
        let gateway = try await NetworkNamespace.create()
        let cameras = try await NetworkNamespace.create()
        let site = try AdminCLITests.Site(
            AdminCLITests.Site.initial
                + "\n[appliance]\ncamera_interface = \"cam0\"\ncamera_side_address = \"192.0.2.1\"\n"
        )
        do {
            try await gateway.link(
                address: "192.0.2.1/24",
                to: cameras,
                address: "192.0.2.10/24",
                multicastRoute: false,
                name: "cam0"
            )
            func camgw(_ arguments: [String], dropNetAdmin: Bool = false) async throws -> ExternalTool.Result {
                let command = [GatewayProcess.executable.path] + arguments + ["--config", site.config]
                return try await dropNetAdmin
                    ? gateway.run("/usr/bin/setpriv", ["--bounding-set=-net_admin"] + command, timeout: 30)
                    : gateway.run(command[0], Array(command.dropFirst()), timeout: 30)
            }
            func elements(_ table: String, _ set: String) async throws -> String {
                let listing = try await gateway.run(
                    "/usr/sbin/nft",
                    ["list", "set"] + table.split(separator: " ").map(String.init) + [set],
                    timeout: 10
                )
                return listing.stdout
            }

            // No lock loaded yet: the edit is simply saved.
            let first = try await camgw([
                "camera", "add", "lobby", "--address", "192.0.2.10", "--mac", "02:00:00:00:00:10", "--stream",
                "main=/main",
            ])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(!first.stdout.contains("egress lock"), "\(first.stdout)")
            let apply = try await camgw(["firewall", "apply"])
            #expect(apply.status == 0, "\(apply.stderr)")
            // Something the lobby camera tried before the edits.
            _ = try await gateway.run(
                "/usr/sbin/nft",
                ["add element inet camgw egress { 192.0.2.10 . 203.0.113.10 . tcp . 80 }"],
                timeout: 10
            )

            let added = try await camgw([
                "camera", "add", "gate", "--address", "192.0.2.11", "--port", "8554", "--transport", "udp", "--mac",
                "02:00:00:00:00:11", "--stream", "main=/main",
            ])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("egress lock updated in place"), "\(added.stdout)")
            #expect(try await elements("inet camgw", "cameras").contains("192.0.2.10, 192.0.2.11"))
            #expect(try await elements("inet camgw", "udp_cameras").contains("192.0.2.11"))
            #expect(try await elements("inet camgw", "camera_services").contains("192.0.2.11 . tcp . 8554"))
            #expect(try await elements("netdev camgw_l2", "camera_macs").contains("192.0.2.11 . 02:00:00:00:00:11"))

            let moved = try await camgw(["camera", "set", "lobby", "--mac", "02:00:00:00:00:99"])
            #expect(moved.status == 0, "\(moved.stderr)")
            let macs = try await elements("netdev camgw_l2", "camera_macs")
            #expect(macs.contains("192.0.2.10 . 02:00:00:00:00:99") && !macs.contains("02:00:00:00:00:10"), "\(macs)")

            let removed = try await camgw(["camera", "remove", "gate"])
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(!(try await elements("inet camgw", "cameras").contains("192.0.2.11")))
            #expect(!(try await elements("inet camgw", "udp_cameras").contains("192.0.2.11")))
            #expect(!(try await elements("netdev camgw_l2", "camera_macs").contains("192.0.2.11")))
            // No full reload happened: the count from before the edits is still there.
            #expect(try await elements("inet camgw", "egress").contains("192.0.2.10 . 203.0.113.10 . tcp . 80"))

            // Without CAP_NET_ADMIN: saved, but the loaded lock is out of date, and the CLI says so.
            let unprivileged = try await camgw(
                ["camera", "set", "lobby", "--port", "10554"],
                dropNetAdmin: true
            )
            #expect(unprivileged.status == 77, "\(unprivileged.stdout) \(unprivileged.stderr)")
            #expect(unprivileged.stderr.contains("run `camgw firewall apply` as root"), "\(unprivileged.stderr)")
            #expect(site.text.contains("port = 10554"))
            #expect(!(try await elements("inet camgw", "camera_services").contains("10554")))
            // The next edit with the privilege repairs it: the loaded elements are read back, not assumed.
            let repaired = try await camgw(["camera", "set", "lobby", "--always-on"])
            #expect(repaired.status == 0, "\(repaired.stderr)")
            let services = try await elements("inet camgw", "camera_services")
            #expect(services.contains("192.0.2.10 . tcp . 10554") && !services.contains(". 554"), "\(services)")
        } catch {
            Issue.record(error)
        }
        site.remove()
        for namespace in [gateway, cameras] { await namespace.delete() }
    }
}
