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
        let elements = try FirewallElements(configuration)
        let interface = appliance.cameraInterface
        let gateway = appliance.cameraSideAddress
        var out: [String] = []
        out.append("# The CamGateway egress lock, rendered by `camgw firewall render` from \(source).")
        out.append("# Do not edit: `camgw firewall apply` replaces both tables whole, in one transaction.")
        out.append("")
        out.append("table inet camgw")
        out.append("delete table inet camgw")
        out.append("table inet camgw {")
        for set in [FirewallElements.SetName.cameras, .cameraServices, .udpCameras] {
            out.append(contentsOf: Self.set(set, elements))
        }
        out.append(
            """
                # Everything a camera tried that was dropped: source, destination, protocol, port, with a packet
                # count each (`camgw egress` reads it). Each attempt restarts the element's week, so its time left
                # tells when it was last tried; egress_first is only added to, so its time left tells the first.
                # Bounded: an element goes a week after its last (first) attempt, and each set holds 65536.
                set egress {
                    type ipv4_addr . ipv4_addr . inet_proto . inet_service
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                    counter
                }

                set egress_first {
                    type ipv4_addr . ipv4_addr . inet_proto . inet_service
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                }

                # The DNS and NTP servers cameras aimed at (hard-coded public ones, often), before their traffic was
                # sent to the decoys: a count of connections (a NAT chain sees each one's first packet), first and
                # last seen as for egress.
                set decoyed {
                    type ipv4_addr . ipv4_addr . inet_proto . inet_service
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                    counter
                }

                set decoyed_first {
                    type ipv4_addr . ipv4_addr . inet_proto . inet_service
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                }

                # DNS and NTP from a camera go to the gateway's decoys, whatever address they were aimed at. Counting
                # and verdicts are separate rules throughout: a full set stops its rule, and must not skip a verdict.
                chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    iifname "\(interface)" ip saddr @cameras meta l4proto . th dport { udp . 53, tcp . 53, udp . 123 } add @decoyed_first { ip saddr . ip daddr . meta l4proto . th dport } update @decoyed { ip saddr . ip daddr . meta l4proto . th dport }
                    iifname "\(interface)" ip saddr @cameras meta l4proto . th dport { udp . 53, tcp . 53, udp . 123 } dnat ip to \(gateway)
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
                    meta nfproto ipv4 meta l4proto { tcp, udp } add @egress_first { ip saddr . ip daddr . meta l4proto . th dport } update @egress { ip saddr . ip daddr . meta l4proto . th dport }
                    meta nfproto ipv4 meta l4proto != { tcp, udp } add @egress_first { ip saddr . ip daddr . meta l4proto . 0 } update @egress { ip saddr . ip daddr . meta l4proto . 0 }
                    limit rate 20/second log prefix "camgw-egress " group \(appliance.nflogGroup)
                    counter drop
                }
            }

            table netdev camgw_l2
            delete table netdev camgw_l2
            table netdev camgw_l2 {
            """
        )
        out.append(contentsOf: Self.set(.cameraMACs, elements))
        out.append(
            """
                # Every frame the guard drops, by the MAC that sent it (which names the camera in `camgw egress`),
                # its type and the IPv4 address it claimed (0.0.0.0 for IPv6); first and last seen as for egress.
                set l2_drops {
                    type ether_addr . ether_type . ipv4_addr
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                    counter
                }

                set l2_first {
                    type ether_addr . ether_type . ipv4_addr
                    size 65536
                    flags dynamic,timeout
                    timeout 7d
                }

                # Before anything else sees a frame from the camera network: untagged IPv4 and ARP only, and each
                # camera's IPv4 only from its own MAC (ARP and IP spoofs dropped). Everything else goes: IPv6 (router
                # advertisements, SLAAC, link-local chatter), any VLAN tag (802.1Q, 802.1ad, and priority tags with
                # VLAN ID 0, which the kernel would otherwise take as untagged after these rules had let them by; nft
                # shows a tag the NIC stripped as 0x8100 here too), any other ethertype.
                chain ingress {
                    type filter hook ingress device "\(interface)" priority -500; policy accept;
                    ether type != { ip, arp } add @l2_first { ether saddr . ether type . 0.0.0.0 } update @l2_drops { ether saddr . ether type . 0.0.0.0 }
                    ether type != { ip, arp } counter drop
                    ether type arp arp saddr ip . arp saddr ether != @camera_macs add @l2_first { ether saddr . ether type . arp saddr ip } update @l2_drops { ether saddr . ether type . arp saddr ip }
                    ether type arp arp saddr ip . arp saddr ether != @camera_macs counter drop
                    ether type ip ip saddr . ether saddr != @camera_macs add @l2_first { ether saddr . ether type . ip saddr } update @l2_drops { ether saddr . ether type . ip saddr }
                    ether type ip ip saddr . ether saddr != @camera_macs counter drop
                }
            }
            """
        )
        return out.joined(separator: "\n") + "\n"
    }

    private static func set(_ name: FirewallElements.SetName, _ all: FirewallElements) -> [String] {
        let elements = all[name]
        var lines = ["    set \(name.rawValue) {", "        type \(name.type)"]
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
