import Foundation
import TestSupport
import Testing

/// The layer-2 guard against tagged frames, from a compromised camera with raw sockets (AF_PACKET), in two
/// network namespaces the test makes: an ARP spoof of another camera's address carried in a VLAN-0 priority tag
/// (which the kernel handles as untagged, and which once passed the guard and moved the gateway's neighbour
/// entry), in an 802.1Q tag, in 802.1ad double tags, and a frame of another ethertype. The gateway's neighbour
/// table is unchanged and `camgw egress` shows each under the sender's camera.
@Suite(
    .enabled(if: NetworkNamespace.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"))
)
struct Layer2GuardTests {
    @Test func taggedFramesAndOtherEthertypesAreDropped() async throws {
        let gateway = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let (_, cameraInterface) = try await gateway.link(
                address: "192.0.2.1/24",
                to: camera,
                address: "192.0.2.10/24",
                multicastRoute: false,
                name: "cam0"
            )
            let sysctl = try await gateway.run(
                "/usr/sbin/sysctl",
                ["-p", Fixtures.packageRoot.appendingPathComponent("deploy/sysctl.d/90-camgw.conf").path],
                timeout: 10
            )
            #expect(sysctl.status == 0, "\(sysctl.stderr)")
            let mac = try await camera.mac(of: cameraInterface)
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [admin]
            socket = "control.sock"
            metrics_port = 0

            [appliance]
            camera_interface = "cam0"
            camera_side_address = "192.0.2.1"

            [[camera]]
            name = "lobby"
            address = "192.0.2.10"
            mac = "\(mac)"

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"

            [[camera]]
            name = "yard"
            address = "192.0.2.20"
            mac = "02:00:00:00:00:20"

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
            """.write(to: config, atomically: true, encoding: .utf8)
            let apply = try await gateway.run(
                GatewayProcess.executable.path,
                ["firewall", "apply", "--config", config.path],
                timeout: 30
            )
            #expect(apply.status == 0, "\(apply.stderr)")

            // "Who has 192.0.2.1? Tell 192.0.2.20" from lobby's MAC: taking yard's address. Untagged it is the plain
            // ARP spoof; each tag shape around it; then LLDP-like and IPX-like ethertypes.
            let frames = try await camera.run(
                "python3",
                [
                    "-c",
                    """
                    import socket, struct, sys
                    mac = bytes.fromhex(sys.argv[2].replace(":", ""))
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
                    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton("192.0.2.20"),
                                      bytes(6), socket.inet_aton("192.0.2.1"))
                    head = b"\\xff" * 6 + mac
                    shapes = {
                        "vlan0": b"\\x81\\x00\\x00\\x00\\x08\\x06",
                        "vlan0-prio": b"\\x81\\x00\\xe0\\x00\\x08\\x06",
                        "vlan5": b"\\x81\\x00\\x00\\x05\\x08\\x06",
                        "qinq": b"\\x88\\xa8\\x00\\x07\\x81\\x00\\x00\\x00\\x08\\x06",
                    }
                    for name, tag in shapes.items():
                        for _ in range(3): s.send(head + tag + arp)
                    for ethertype in (b"\\x88\\xcc", b"\\x81\\x37"):
                        for _ in range(2): s.send(head + ethertype + bytes(46))
                    print("sent")
                    """,
                    cameraInterface, mac,
                ],
                timeout: 10
            )
            #expect(frames.stdout.contains("sent"), "\(frames.stderr)")
            try await Task.sleep(for: .milliseconds(300))
            let neighbours = try await gateway.run("/usr/sbin/ip", ["neigh", "show", "192.0.2.20"], timeout: 10)
            #expect(neighbours.stdout.isEmpty, "a tagged ARP spoof was learnt: \(neighbours.stdout)")

            let report = try await gateway.run(
                GatewayProcess.executable.path,
                ["egress", "--config", config.path, "--json"],
                timeout: 20
            )
            #expect(report.status == 0, "\(report.stderr)")
            struct Camera: Decodable {
                struct Drop: Decodable {
                    var kind: String
                    var packets: Int
                }
                var camera: String
                var layer2: [Drop]
            }
            let cameras = try JSONDecoder().decode([Camera].self, from: Data(report.stdout.utf8))
            let lobby = try #require(cameras.first { $0.camera == "lobby" }, "\(report.stdout)")
            let tagged = lobby.layer2.filter { $0.kind == "vlan-tagged" }.reduce(0) { $0 + $1.packets }
            #expect(tagged >= 12, "tagged frames counted: \(lobby.layer2)")
            #expect(
                Set(lobby.layer2.map(\.kind)).isSuperset(of: ["ethertype 0x88cc", "ethertype 0x8137"]),
                "\(lobby.layer2)"
            )
            #expect(cameras.first { $0.camera == "yard" }?.layer2.isEmpty == true, "drops blamed on the wrong camera")
        } catch {
            Issue.record(error)
        }
        await gateway.delete()
        await camera.delete()
    }
}
