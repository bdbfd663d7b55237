import Foundation
import TestSupport
import Testing

/// The egress lock with the rendered ruleset loaded, in four network namespaces the test makes: a camera host
/// (the simulator), the gateway, a VMS host and an "internet" host, on documentation addresses that exist only
/// inside them. The VMS reads the camera through the gateway; nothing else crosses: TCP, UDP, ICMP, multicast
/// discovery, DNS and NTP aimed at the internet (answered by the decoys), an IP and an ARP spoof, IPv6. Each shows
/// in `camgw egress` under the camera's name, with its name, address and port, or kind.
@Suite(
    .enabled(if: NetworkNamespace.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"))
)
struct EgressLockTests {
    @Test func theCameraReachesOnlyTheGateway() async throws {
        let gateway = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        let vms = try await NetworkNamespace.create()
        let internet = try await NetworkNamespace.create()
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
            try await gateway.link(
                address: "198.51.100.1/24",
                to: vms,
                address: "198.51.100.10/24",
                multicastRoute: false
            )
            try await gateway.link(
                address: "203.0.113.1/24",
                to: internet,
                address: "203.0.113.10/24",
                multicastRoute: false
            )
            try await camera.defaultRoute(via: "192.0.2.1")
            try await vms.defaultRoute(via: "198.51.100.1")
            try await internet.defaultRoute(via: "203.0.113.1")
            // The appliance's own kernel settings (forwarding off, no IPv6 on cam0, ARP and reverse-path rules).
            let sysctl = try await gateway.run(
                "/usr/sbin/sysctl",
                ["-p", Fixtures.packageRoot.appendingPathComponent("deploy/sysctl.d/90-camgw.conf").path],
                timeout: 10
            )
            #expect(sysctl.status == 0, "\(sysctl.stderr)")
            let mac = try await camera.mac(of: cameraInterface)

            // The internet host records whatever reaches it on TCP 80 and UDP 9999, until told to stop from inside.
            async let internetHeard = internet.run(
                "python3",
                [
                    "-c",
                    """
                    import socket, select, time
                    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0", 80)); t.listen()
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 9999))
                    print("ready", flush=True); end = time.time() + 90
                    while time.time() < end:
                        r, _, _ = select.select([t, u], [], [], 0.2)
                        for s in r:
                            if s is t: c, a = t.accept(); print("tcp", a[0], flush=True); c.close()
                            else:
                                d, a = u.recvfrom(2048)
                                if a[0] == "127.0.0.1" and d == b"stop": end = 0
                                else: print("udp", a[0], flush=True)
                    """,
                ],
                timeout: 120
            )

            let (simulator, cameraPort) = try await GatewayProcess.simulator(
                ["--listen", "192.0.2.10"],
                namespace: camera
            )
            processes.append(simulator)
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [server]
            listen = "198.51.100.1"
            port = 0
            allow_anonymous = true

            [admin]
            socket = "control.sock"
            metrics_port = 0

            [appliance]
            camera_interface = "cam0"
            camera_side_address = "192.0.2.1"

            [[camera]]
            name = "lobby"
            address = "192.0.2.10"
            port = \(cameraPort)
            mac = "\(mac)"

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
            let daemon = try GatewayProcess(arguments: ["run", "--config", config.path], namespace: gateway)
            processes.append(daemon)
            let url = try await daemon.waitForOutput(matching: "rtsp://198\\.51\\.100\\.1:[0-9]+/lobby/main")
            let relayPort = url.split(separator: ":")[2].split(separator: "/")[0]

            // The VMS reads the camera through the gateway…
            let read = try await vms.run(
                "ffmpeg",
                ["-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-frames:v", "25", "-f", "null", "-"],
                timeout: 40
            )
            #expect(read.status == 0, "\(read.stderr)")
            // …and cannot reach the camera itself.
            let direct = try await vms.run(
                "curl",
                ["-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", "http://192.0.2.10:\(cameraPort)/"],
                timeout: 10
            )
            #expect(direct.stdout == "000")

            // The camera tries the internet (TCP, UDP, ICMP) and the gateway's own relay port: all fail.
            let tcp = try await camera.run(
                "curl",
                ["-s", "-m", "2", "-o", "/dev/null", "http://203.0.113.10/"],
                timeout: 10
            )
            #expect(tcp.status != 0)
            _ = try await camera.run(
                "python3",
                [
                    "-c",
                    "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b'x', ('203.0.113.10', 9999)) for _ in range(3)]",
                ],
                timeout: 10
            )
            // An ICMP echo, from a raw socket (no ping binary needed); no reply comes back.
            let ping = try await camera.run(
                "python3",
                [
                    "-c",
                    """
                    import socket, struct
                    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(1)
                    header = struct.pack("!BBHHH", 8, 0, 0, 1, 1); total = sum(struct.unpack("!HHHH", header))
                    checksum = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
                    s.sendto(struct.pack("!BBHHH", 8, 0, checksum, 1, 1), ("203.0.113.10", 0))
                    try: s.recvfrom(1024); print("reply")
                    except socket.timeout: print("no reply")
                    """,
                ],
                timeout: 10
            )
            #expect(ping.stdout.contains("no reply"), "\(ping.stdout) \(ping.stderr)")
            let lateral = try await camera.run(
                "curl",
                ["-s", "-m", "2", "-o", "/dev/null", "http://192.0.2.1:\(relayPort)/"],
                timeout: 10
            )
            #expect(lateral.status != 0, "the camera reached the gateway's relay port")

            // DNS aimed at a public resolver reaches the decoy instead: NXDOMAIN, and the name is recorded.
            let dns = try await camera.run(
                "python3",
                [ExternalTool.peerScript("dns_query.py"), "udp", "8.8.8.8", "53", "litedev.hik-connect.com"],
                timeout: 10
            )
            #expect(
                dns.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "8.8.8.8 3 True",
                "\(dns.stdout) \(dns.stderr)"
            )
            // NTP aimed at the internet host is answered by the gateway's clock.
            let ntp = try await camera.run(
                "python3",
                [
                    "-c",
                    """
                    import socket, struct, time
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
                    s.sendto(b"\\x23" + 47 * b"\\0", ("203.0.113.10", 123)); data, _ = s.recvfrom(512)
                    seconds = struct.unpack("!I", data[40:44])[0] - 2208988800
                    print(data[0] & 7, abs(seconds - time.time()) < 5)
                    """,
                ],
                timeout: 10
            )
            #expect(
                ntp.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4 True",
                "\(ntp.stdout) \(ntp.stderr)"
            )

            // DNS over TCP (the fallback resolvers use) reaches the decoy too.
            let tcpDNS = try await camera.run(
                "python3",
                [ExternalTool.peerScript("dns_query.py"), "tcp", "8.8.8.8", "53", "dev.hik-connect.com"],
                timeout: 10
            )
            #expect(
                tcpDNS.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "8.8.8.8 3 True",
                "\(tcpDNS.stdout) \(tcpDNS.stderr)"
            )

            // Vendor discovery and UPnP (SSDP 239.255.255.250:1900, Hikvision SADP :37020) never leave either; a
            // spoofed source address is dropped at layer 2, before anything routes or counts it at layer 3.
            _ = try await camera.run(
                "/usr/sbin/ip",
                ["addr", "add", "192.0.2.99/24", "dev", cameraInterface],
                timeout: 10
            )
            _ = try await camera.run(
                "python3",
                [
                    "-c",
                    """
                    import socket
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("192.0.2.10"))
                    for port in (1900, 37020): s.sendto(b"M-SEARCH * HTTP/1.1\\r\\n\\r\\n", ("239.255.255.250", port))
                    spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); spoof.bind(("192.0.2.99", 0))
                    for _ in range(3): spoof.sendto(b"spoofed", ("203.0.113.10", 9999))
                    """,
                ],
                timeout: 10
            )
            // An ARP spoof: the camera claims 192.0.2.77 in an ARP request to the gateway (raw frames, its own MAC).
            // Without the guard the gateway would answer and learn 192.0.2.77 at the camera's MAC.
            let arp = try await camera.run(
                "python3",
                [
                    "-c",
                    """
                    import socket, struct, sys
                    mac = bytes.fromhex(sys.argv[2].replace(":", ""))
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
                    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton("192.0.2.77"), bytes(6),
                                      socket.inet_aton("192.0.2.1"))
                    for _ in range(3): s.send(b"\\xff" * 6 + mac + b"\\x08\\x06" + arp)
                    """,
                    cameraInterface, mac,
                ],
                timeout: 10
            )
            #expect(arp.status == 0, "\(arp.stderr)")
            // IPv6: the camera gets an address and tries the gateway's link (all nodes) and a global address on it;
            // cam0 has no IPv6 (deploy/sysctl.d) and the layer-2 guard drops the frames before that. A listener on
            // the gateway hears none of it.
            _ = try await camera.run(
                "/usr/sbin/ip",
                ["-6", "addr", "add", "2001:db8:1::10/64", "dev", cameraInterface, "nodad"],
                timeout: 10
            )
            async let gatewayHeard6 = gateway.run(
                "python3",
                [
                    "-c",
                    """
                    import socket
                    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::", 9999)); u.settimeout(4)
                    print("ready", flush=True)
                    try: print("heard", u.recvfrom(2048)[1][0], flush=True)
                    except socket.timeout: pass
                    """,
                ],
                timeout: 20
            )
            try await Task.sleep(for: .seconds(1))
            let six = try await camera.run(
                "python3",
                [
                    "-c",
                    """
                    import socket, sys
                    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                    index = socket.if_nametoindex(sys.argv[1])
                    for _ in range(3): s.sendto(b"hello", ("ff02::1", 9999, 0, index))
                    try: s.sendto(b"hello", ("2001:db8:1::1", 9999))
                    except OSError: pass
                    """,
                    cameraInterface,
                ],
                timeout: 10
            )
            #expect(six.status == 0, "\(six.stderr)")
            #expect(try await gatewayHeard6.stdout.split(separator: "\n") == ["ready"])
            let neighbours = try await gateway.run("/usr/sbin/ip", ["neigh", "show", "192.0.2.77"], timeout: 10)
            #expect(neighbours.stdout.isEmpty, "the ARP spoof was learnt: \(neighbours.stdout)")

            // The phone-home report: each attempt under the camera's name, with its name, address or port.
            let report = try await gateway.run(
                GatewayProcess.executable.path,
                ["egress", "--json", "--config", config.path],
                timeout: 20
            )
            #expect(report.status == 0, "\(report.stderr)")
            let cameras = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(cameras.map { $0["camera"] as? String } == ["lobby"], "\(report.stdout)")
            let lobby = cameras.first ?? [:]
            func list(_ key: String, _ format: ([String: Any]) -> String) -> Set<String> {
                Set((lobby[key] as? [[String: Any]] ?? []).map(format))
            }
            let names = list("names") { "\($0["name"] ?? "")" }
            #expect(names == ["litedev.hik-connect.com", "dev.hik-connect.com"], "\(report.stdout)")
            let endpoint: ([String: Any]) -> String = {
                "\($0["protocolName"] ?? "") \($0["address"] ?? ""):\($0["port"] ?? "")"
            }
            let destinations = list("destinations", endpoint)
            for expected in [
                "tcp 203.0.113.10:80", "udp 203.0.113.10:9999", "icmp 203.0.113.10:0", "tcp 192.0.2.1:\(relayPort)",
                "udp 239.255.255.250:1900", "udp 239.255.255.250:37020",
            ] {
                #expect(destinations.contains(expected), "\(expected) not in \(destinations)")
            }
            #expect(!destinations.contains { $0.contains("192.0.2.99") }, "a spoofed source got past layer 2")
            #expect(
                list("decoyed", endpoint) == ["udp 8.8.8.8:53", "tcp 8.8.8.8:53", "udp 203.0.113.10:123"],
                "\(report.stdout)"
            )
            let layer2 = list("layer2") { "\($0["kind"] ?? "") \($0["claimedAddress"] ?? "-")" }
            #expect(
                layer2.isSuperset(of: ["ip-spoof 192.0.2.99", "arp-spoof 192.0.2.77", "ipv6 -"]),
                "\(report.stdout)"
            )
            let sixDrops = (lobby["layer2"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == "ipv6" }
            #expect((sixDrops?["packets"] as? Int ?? 0) >= 3, "\(report.stdout)")
            for entry in lobby["destinations"] as? [[String: Any]] ?? [] {
                #expect(entry["first"] != nil && entry["last"] != nil, "\(entry)")
            }
            // The table an admin reads.
            let table = try await gateway.run(
                GatewayProcess.executable.path,
                ["egress", "--config", config.path],
                timeout: 20
            )
            #expect(table.stdout.contains("FIRST"), "\(table.stdout)")
            #expect(table.stdout.contains("arp-spoof"))
            #expect(table.stdout.contains("ntp (decoy)"))

            // Also in status and the metrics.
            let status = try await gateway.run(
                GatewayProcess.executable.path,
                ["status", "--json", "--config", config.path],
                timeout: 20
            )
            #expect(status.stdout.contains("\"dnsNames\" : 2"), "\(status.stdout)")
            #expect(status.stdout.contains("\"egressDestinations\" : "), "\(status.stdout)")
            // The daemon cannot read the kernel's sets: `camgw egress --push` (the egress unit's job) hands it the
            // counts for its metrics.
            let push = try await gateway.run(
                GatewayProcess.executable.path,
                ["egress", "--push", "--config", config.path],
                timeout: 20
            )
            #expect(push.status == 0, "\(push.stderr)")
            let metricsURL = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/metrics")
            let metrics = try await gateway.run("curl", ["-sf", metricsURL], timeout: 10)
            #expect(metrics.stdout.contains("camgw_decoy_dns_queries_total{camera=\"lobby\"} 2"), "\(metrics.stdout)")
            let series = metrics.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
            func value(_ name: String) -> Double? {
                series.first { $0.hasPrefix(name + " ") }.flatMap { $0.split(separator: " ").last }.flatMap {
                    Double($0)
                }
            }
            #expect(value("camgw_egress_destinations{camera=\"lobby\"}") ?? 0 >= 6, "\(metrics.stdout)")
            #expect(value("camgw_egress_decoyed_connections{camera=\"lobby\"}") == 3, "\(metrics.stdout)")
            for kind in ["egress", "ipv6", "arp-spoof", "ip-spoof"] {
                #expect(
                    value("camgw_egress_dropped_packets{camera=\"lobby\",kind=\"\(kind)\"}") ?? 0 > 0,
                    "\(kind): \(metrics.stdout)"
                )
            }

            _ = try await internet.run(
                "python3",
                [
                    "-c",
                    "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'stop', ('127.0.0.1', 9999))",
                ],
                timeout: 10
            )
            let heard = try await internetHeard
            #expect(
                heard.stdout.split(separator: "\n").map(String.init) == ["ready"],
                "the internet host heard: \(heard.stdout)"
            )
        } catch {
            Issue.record(error)
        }
        for process in processes { _ = await process.terminate() }
        for namespace in [gateway, camera, vms, internet] { await namespace.delete() }
        try? FileManager.default.removeItem(at: directory)
    }
}
