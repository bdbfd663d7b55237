import NIOCore

/// The nftables ruleset of the egress lock, rendered from the allowlist: what the cameras may reach (the
/// gateway's decoys, nothing else), what the gateway may reach of them (their allowlisted ports), and a count per
/// camera, destination and port of everything else they try. Text in, text out: golden-file tests pin it.
///
/// Two tables, both replaced whole in one `nft -f` transaction by `camgw firewall apply`: `inet camgw` (layer 3
/// and 4) and `netdev camgw_l2` (the layer-2 guard on the camera interface: each camera's IPv4 bound to its MAC,
/// every other frame with an IP or ARP source dropped, IPv6 dropped).
enum FirewallRuleset {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func render(_ configuration: GatewayConfiguration, source: String) throws(Problem) -> String {
        guard let appliance = configuration.appliance else {
            throw Problem(description: "no [appliance] table: camera_interface and camera_side_address are needed")
        }
        // Cameras by name, each with the lines of its set elements (named in a comment, so an admin reading the
        // ruleset sees which camera an address is).
        var cameras: [(name: String, address: String, mac: String, services: [(String, Int)])] = []
        for camera in configuration.relay.cameras {
            guard case .v4 = try? SocketAddress(ipAddress: camera.host, port: 0) else {
                throw Problem(
                    description: "camera '\(camera.name)': the firewall needs an IPv4 address, not '\(camera.host)'"
                )
            }
            let settings = configuration.cameras[camera.name] ?? CameraSettings()
            guard let mac = settings.mac else {
                throw Problem(
                    description: "camera '\(camera.name)' has no mac; the layer-2 guard binds its address to one "
                        + "(camgw camera set \(camera.name) --mac …)"
                )
            }
            var services = [("tcp", camera.port)]
            if settings.gatewayONVIFPort != nil { services.append(("tcp", settings.onvifPort ?? 80)) }
            var seen = Set<String>()
            services = services.filter { seen.insert("\($0.0)/\($0.1)").inserted }
            cameras.append((camera.name, camera.host, mac, services))
        }
        cameras.sort { $0.name < $1.name }
        // Cameras pulled over UDP send RTP from ports their SETUP answer names: to the gateway's high ports.
        let udpCameras = configuration.relay.cameras.filter { $0.transport == .udp }.map(\.host).sorted()
        let interface = appliance.cameraInterface
        let gateway = appliance.cameraSideAddress
        var out: [String] = []
        out.append("# The CamGateway egress lock, rendered by `camgw firewall render` from \(source).")
        out.append("# Do not edit: `camgw firewall apply` replaces both tables whole, in one transaction.")
        out.append("")
        out.append("table inet camgw")
        out.append("delete table inet camgw")
        out.append("table inet camgw {")
        out.append(contentsOf: Self.set("cameras", type: "ipv4_addr", cameras.map { "\($0.address)" }))
        out.append(
            contentsOf: Self.set(
                "camera_services",
                type: "ipv4_addr . inet_proto . inet_service",
                cameras.flatMap { camera in camera.services.map { "\(camera.address) . \($0.0) . \($0.1)" } }
            )
        )
        out.append(contentsOf: Self.set("udp_cameras", type: "ipv4_addr", udpCameras))
        out.append(
            """
                # Everything a camera tried that was dropped: source, destination, protocol, port, with a packet
                # count each (`camgw egress` reads it). Bounded: the oldest entries go after a week.
                set egress {
                    type ipv4_addr . ipv4_addr . inet_proto . inet_service
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                    counter
                }

                # DNS and NTP from a camera go to the gateway's decoys, whatever address they were aimed at.
                chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    iifname "\(interface)" ip saddr @cameras udp dport { 53, 123 } dnat ip to \(gateway)
                    iifname "\(interface)" ip saddr @cameras tcp dport 53 dnat ip to \(gateway)
                }

                # Whatever a camera sends to anything but the gateway's camera-side address (the internet, the VMS
                # side, multicast and broadcast: SSDP, SADP, vendor discovery): counted and dropped before routing.
                chain prerouting_filter {
                    type filter hook prerouting priority filter; policy accept;
                    iifname "\(interface)" ip daddr != \(gateway) jump camera_egress
                }

                # To the gateway from the camera side: replies to its own connections and the decoys; nothing else.
                chain input {
                    type filter hook input priority filter; policy accept;
                    iifname != "\(interface)" accept
                    ct state established,related accept
                    ip saddr @cameras ip daddr \(gateway) udp dport { 53, 123 } accept
                    ip saddr @cameras ip daddr \(gateway) tcp dport 53 accept
                    ip saddr @udp_cameras ip daddr \(gateway) udp dport 1024-65535 accept
                    jump camera_egress
                }

                # Routed proxy: nothing is forwarded between the camera side and anywhere else.
                chain forward {
                    type filter hook forward priority filter; policy drop;
                    iifname "\(interface)" jump camera_egress
                    oifname "\(interface)" counter drop
                }

                # From the gateway to the cameras: their allowlisted ports only.
                chain output {
                    type filter hook output priority filter; policy accept;
                    oifname != "\(interface)" accept
                    ct state established,related accept
                    ip daddr . meta l4proto . th dport @camera_services accept
                    ip daddr @udp_cameras udp dport 1024-65535 accept
                    counter drop
                }

                # Counted per camera, destination and port, logged (rate-limited) to NFLOG group \(appliance.nflogGroup), dropped.
                chain camera_egress {
                    meta nfproto ipv4 meta l4proto { tcp, udp } update @egress { ip saddr . ip daddr . meta l4proto . th dport }
                    meta nfproto ipv4 meta l4proto != { tcp, udp } update @egress { ip saddr . ip daddr . meta l4proto . 0 }
                    limit rate 20/second log prefix "camgw-egress " group \(appliance.nflogGroup)
                    counter drop
                }
            }

            table netdev camgw_l2
            delete table netdev camgw_l2
            table netdev camgw_l2 {
            """
        )
        out.append(
            contentsOf: Self.set(
                "camera_macs",
                type: "ipv4_addr . ether_addr",
                cameras.map { "\($0.address) . \($0.mac)" }
            )
        )
        out.append(
            """
                # Before anything else sees a frame from the camera network: each camera's IPv4 only from its own MAC
                # (ARP and IP spoofs dropped), no IPv6 at all (router advertisements, SLAAC, link-local chatter).
                chain ingress {
                    type filter hook ingress device "\(interface)" priority -500; policy accept;
                    ether type ip6 counter drop
                    ether type arp arp saddr ip . arp saddr ether != @camera_macs counter drop
                    ether type ip ip saddr . ether saddr != @camera_macs counter drop
                }
            }
            """
        )
        return out.joined(separator: "\n") + "\n"
    }

    private static func set(_ name: String, type: String, _ elements: [String]) -> [String] {
        var lines = ["    set \(name) {", "        type \(type)"]
        if !elements.isEmpty {
            lines.append("        elements = {")
            for (index, element) in elements.enumerated() {
                lines.append("            \(element)" + (index < elements.count - 1 ? "," : ""))
            }
            lines.append("        }")
        }
        lines.append("    }")
        lines.append("")
        return lines
    }
}
