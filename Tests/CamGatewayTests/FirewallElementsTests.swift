import Foundation
import Testing

@testable import CamGateway

/// The per-camera set elements (what an allowlist edit changes in the loaded lock) and the phone-home report read
/// from nft's JSON listings, as plain values.
@Suite struct FirewallElementsTests {
    static func configuration(_ cameras: String) throws -> GatewayConfiguration {
        try GatewayConfig.parse(
            """
            [appliance]
            camera_interface = "cam0"
            camera_side_address = "192.0.2.1"
            \(cameras)
            """,
            file: "test.toml",
            readSecrets: false
        )
    }

    static let lobby = """
        [[camera]]
        name = "lobby"
        address = "192.0.2.10"
        mac = "00:11:22:AA:BB:01"
        gateway_onvif_port = 8081
        [[camera.stream]]
        name = "main"
        path = "/main"
        """

    @Test func anEditBecomesDeletionsThenAdditions() throws {
        let before = try FirewallElements(Self.configuration(Self.lobby))
        #expect(before[.cameras] == ["192.0.2.10"])
        #expect(before[.cameraServices] == ["192.0.2.10 . tcp . 554", "192.0.2.10 . tcp . 80"])
        #expect(before[.cameraMACs] == ["192.0.2.10 . 00:11:22:aa:bb:01"])
        #expect(before.update(from: before).isEmpty)

        // The lobby camera's MAC changes and a UDP camera joins.
        let after = try FirewallElements(
            Self.configuration(
                Self.lobby.replacingOccurrences(of: "AA:BB:01", with: "AA:BB:09") + """

                    [[camera]]
                    name = "gate"
                    address = "192.0.2.11"
                    port = 8554
                    transport = "udp"
                    mac = "3c:ef:8c:00:00:02"
                    [[camera.stream]]
                    name = "main"
                    path = "/main"
                    """
            )
        )
        #expect(
            after.update(from: before) == [
                "delete element netdev camgw_l2 camera_macs { 192.0.2.10 . 00:11:22:aa:bb:01 }",
                "add element inet camgw cameras { 192.0.2.11 }",
                "add element inet camgw camera_services { 192.0.2.11 . tcp . 8554 }",
                "add element inet camgw udp_cameras { 192.0.2.11 }",
                "add element netdev camgw_l2 camera_macs { 192.0.2.11 . 3c:ef:8c:00:00:02, 192.0.2.10 . 00:11:22:aa:bb:09 }",
            ]
        )
        // Back again: the gate camera's elements go, the old MAC returns.
        #expect(before.update(from: after).first == "delete element inet camgw cameras { 192.0.2.11 }")
    }

    @Test func theLoadedElementsAreReadFromNftJSON() throws {
        let listing = """
            {"nftables": [{"metainfo": {"version": "1.0.6"}},
             {"set": {"family": "inet", "name": "cameras", "table": "camgw", "type": "ipv4_addr", "elem": ["192.0.2.10"]}},
             {"set": {"family": "inet", "name": "camera_services", "table": "camgw",
                      "elem": [{"concat": ["192.0.2.10", "tcp", 554]}, {"concat": ["192.0.2.10", "tcp", 80]}]}},
             {"set": {"family": "netdev", "name": "camera_macs", "table": "camgw_l2",
                      "elem": [{"concat": ["192.0.2.10", "00:11:22:aa:bb:01"]}]}},
             {"set": {"family": "inet", "name": "egress", "table": "camgw", "elem": [{"elem": {"val": "x"}}]}}]}
            """
        let objects = try #require(
            (try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])?["nftables"]
                as? [[String: Any]]
        )
        let loaded = FirewallElements.loaded(fromJSON: objects)
        #expect(loaded[.cameras] == ["192.0.2.10"])
        #expect(loaded[.udpCameras] == [])
        #expect(try FirewallElements(Self.configuration(Self.lobby)).update(from: loaded).isEmpty)
    }

    @Test func theReportNamesEachDropByCameraWithFirstAndLastSeen() throws {
        // Timeouts of a week (604800 s): an element with 604790 s left was (re)started 10 s ago.
        let listing = """
            {"nftables": [
             {"set": {"family": "inet", "name": "egress", "table": "camgw", "timeout": 604800, "elem": [
               {"elem": {"val": {"concat": ["192.0.2.10", "203.0.113.10", "tcp", 80]}, "timeout": 604800,
                         "expires": 604790, "counter": {"packets": 3, "bytes": 180}}}]}},
             {"set": {"family": "inet", "name": "egress_first", "table": "camgw", "timeout": 604800, "elem": [
               {"elem": {"val": {"concat": ["192.0.2.10", "203.0.113.10", "tcp", 80]}, "timeout": 604800,
                         "expires": 604700}}]}},
             {"set": {"family": "inet", "name": "decoyed", "table": "camgw", "elem": [
               {"elem": {"val": {"concat": ["192.0.2.10", "8.8.8.8", "udp", 53]}, "timeout": 604800,
                         "expires": 604800, "counter": {"packets": 1, "bytes": 60}}}]}},
             {"set": {"family": "netdev", "name": "l2_drops", "table": "camgw_l2", "elem": [
               {"elem": {"val": {"concat": ["00:11:22:aa:bb:01", "arp", "192.0.2.77"]}, "timeout": 604800,
                         "expires": 604800, "counter": {"packets": 2, "bytes": 84}}},
               {"elem": {"val": {"concat": ["02:00:00:00:00:99", "ip6", "0.0.0.0"]}, "timeout": 604800,
                         "expires": 604800, "counter": {"packets": 5, "bytes": 400}}}]}}]}
            """
        let objects = try #require(
            (try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])?["nftables"]
                as? [[String: Any]]
        )
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let report = EgressReport(
            configuration: try Self.configuration(Self.lobby),
            names: [
                "192.0.2.10": [DecoyServer.Lookup(name: "litedev.hik-connect.com", count: 2, first: now, last: now)]
            ],
            sets: objects,
            now: now
        )
        #expect(report.cameras.map(\.camera) == ["lobby", "unknown device"])
        let lobby = report.cameras[0]
        #expect(lobby.names.map(\.name) == ["litedev.hik-connect.com"])
        #expect(
            lobby.destinations == [
                EgressReport.Destination(
                    address: "203.0.113.10",
                    protocolName: "tcp",
                    port: 80,
                    packets: 3,
                    first: now.addingTimeInterval(-100),
                    last: now.addingTimeInterval(-10)
                )
            ]
        )
        #expect(lobby.decoyed.map { "\($0.address):\($0.port)/\($0.protocolName)" } == ["8.8.8.8:53/udp"])
        #expect(lobby.layer2.map(\.kind) == ["arp-spoof"])
        #expect(lobby.layer2.first?.claimedAddress == "192.0.2.77")
        #expect(report.cameras[1].mac == "02:00:00:00:00:99")
        #expect(report.cameras[1].layer2.map(\.kind) == ["ipv6"])
        #expect(
            report.rows.map { $0[0] + " " + $0[1] + " " + $0[2] + " " + $0[3] } == [
                "lobby dns litedev.hik-connect.com 2",
                "lobby tcp 203.0.113.10:80 3",
                "lobby dns (decoy) 8.8.8.8:53/udp 1",
                "lobby arp-spoof 192.0.2.77 2",
                "unknown 02:00:00:00:00:99 ipv6 - 5",
            ]
        )
    }
}
