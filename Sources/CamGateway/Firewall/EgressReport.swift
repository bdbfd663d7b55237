import Foundation

/// The phone-home report, per camera: the names it tried to resolve (from the DNS decoy) and everything the egress
/// lock dropped from it (from the kernel's counting sets: addresses and ports at layer 3, spoofs and IPv6 at layer
/// 2, the latter named by MAC). Built from `nft -j` listings, so the daemon needs no CAP_NET_ADMIN: the admin's
/// command reads the sets.
struct EgressReport: Codable, Equatable {
    struct Destination: Codable, Equatable {
        var address: String
        var protocolName: String
        var port: Int
        var packets: Int
        var first: Date?
        var last: Date?
    }

    /// A frame the layer-2 guard dropped: `ipv6`, `vlan-tagged`, `ethertype X`, or a spoof (`arp-spoof`, `ip-spoof`)
    /// claiming `claimedAddress`.
    struct Layer2Drop: Codable, Equatable {
        var kind: String
        var claimedAddress: String?
        var packets: Int
        var first: Date?
        var last: Date?
    }

    /// One device on the camera network: a camera, a recorder with all its channels (one address, one MAC), or
    /// the cameras configured at one address; the kernel counts by address and MAC, so a row per configured
    /// camera would show a recorder's drops once per channel.
    struct Camera: Codable, Equatable {
        /// The device's name: the camera's, the recorder's, or the names of the cameras sharing its address; for a
        /// MAC no camera has, `unknown device`.
        var camera: String
        /// The gateway cameras pulled from this device.
        var cameras: [String] = []
        var address: String?
        var mac: String?
        var names: [DecoyServer.Lookup]
        var destinations: [Destination]
        /// DNS and NTP servers it aimed at, answered by the decoys instead (counted in connections).
        var decoyed: [Destination]
        var layer2: [Layer2Drop]
    }

    var cameras: [Camera]

    /// What the metrics show of a camera (the kernel's counts, pushed to the daemon by `camgw egress --push`).
    struct Counts: Codable, Equatable, Sendable {
        /// Distinct destinations dropped at layer 3.
        var destinations: Int
        /// Packets dropped, by kind: `egress` (layer 3), `ipv6`, `vlan-tagged`, `ethertype X`, `arp-spoof`, `ip-spoof`.
        var droppedPackets: [String: Int]
        /// Connections to DNS and NTP servers that the decoys answered instead.
        var decoyedConnections: Int
    }

    /// The row a gateway camera's drops are in: its device's name.
    func device(of camera: String) -> String? { self.cameras.first { $0.cameras.contains(camera) }?.camera }

    /// By device name (`unknown device` for MACs no camera has).
    var counts: [String: Counts] {
        var result: [String: Counts] = [:]
        for camera in self.cameras {
            var counts = result[camera.camera] ?? Counts(destinations: 0, droppedPackets: [:], decoyedConnections: 0)
            counts.destinations += camera.destinations.count
            counts.droppedPackets["egress", default: 0] += camera.destinations.reduce(0) { $0 + $1.packets }
            for drop in camera.layer2 { counts.droppedPackets[drop.kind, default: 0] += drop.packets }
            counts.decoyedConnections += camera.decoyed.reduce(0) { $0 + $1.packets }
            result[camera.camera] = counts
        }
        return result
    }

    /// One element of a dynamic set: its key, its packet count (when the set counts) and when its timeout was last
    /// (re)started, from the time it has left.
    struct TimedElement {
        var key: [String]
        var packets: Int?
        var started: Date?
    }

    static func elements(of name: String, in objects: [[String: Any]], now: Date) -> [TimedElement] {
        var result: [TimedElement] = []
        for object in objects {
            guard let set = object["set"] as? [String: Any], set["name"] as? String == name,
                let elements = set["elem"] as? [Any]
            else { continue }
            for wrapper in elements {
                guard let element = (wrapper as? [String: Any])?["elem"] as? [String: Any],
                    let concat = (element["val"] as? [String: Any])?["concat"] as? [Any]
                else { continue }
                var started: Date?
                if let timeout = (element["timeout"] as? Int) ?? (set["timeout"] as? Int),
                    let expires = element["expires"] as? Int
                {
                    started = now.addingTimeInterval(-Double(timeout - expires))
                }
                result.append(
                    TimedElement(
                        key: concat.map { "\($0)" },
                        packets: (element["counter"] as? [String: Any])?["packets"] as? Int,
                        started: started
                    )
                )
            }
        }
        return result
    }

    init(
        configuration: GatewayConfiguration,
        names: [String: [DecoyServer.Lookup]],
        sets objects: [[String: Any]],
        now: Date = Date()
    ) {
        func firstSeen(_ set: String) -> [[String]: Date] {
            var first: [[String]: Date] = [:]
            for element in Self.elements(of: set, in: objects, now: now) { first[element.key] = element.started }
            return first
        }
        // Layer 3: source . destination . protocol . port, by source.
        func destinations(_ set: String) -> [String: [Destination]] {
            let first = firstSeen(set + "_first")
            var destinations: [String: [Destination]] = [:]
            for element in Self.elements(of: set, in: objects, now: now) where element.key.count == 4 {
                destinations[element.key[0], default: []].append(
                    Destination(
                        address: element.key[1],
                        protocolName: element.key[2],
                        port: Int(element.key[3]) ?? 0,
                        packets: element.packets ?? 0,
                        first: first[element.key],
                        last: element.started
                    )
                )
            }
            return destinations.mapValues { list in
                list.sorted { ($0.address, $0.protocolName, $0.port) < ($1.address, $1.protocolName, $1.port) }
            }
        }
        let dropped = destinations("egress")
        let decoyed = destinations("decoyed")
        // Layer 2: MAC . ether type . claimed IPv4.
        let l2First = firstSeen("l2_first")
        var drops: [String: [Layer2Drop]] = [:]
        for element in Self.elements(of: "l2_drops", in: objects, now: now) where element.key.count == 3 {
            let kind =
                switch element.key[1] {
                case "ip6": "ipv6"
                case "arp": "arp-spoof"
                case "ip": "ip-spoof"
                // nft names the tag types (8021q, 8021ad) and gives other ethertypes as numbers.
                case "vlan", "8021q", "8021ad", "33024", "34984", "37120": "vlan-tagged"
                default:
                    "ethertype "
                        + (Int(element.key[1]).map { number in
                            let hex = String(number, radix: 16)
                            return "0x" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                        } ?? element.key[1])
                }
            drops[element.key[0].lowercased(), default: []].append(
                Layer2Drop(
                    kind: kind,
                    claimedAddress: kind == "arp-spoof" || kind == "ip-spoof" ? element.key[2] : nil,
                    packets: element.packets ?? 0,
                    first: l2First[element.key],
                    last: element.started
                )
            )
        }
        // One row per address: a recorder's channels (or cameras configured at one address) are one device.
        var byAddress: [String: Int] = [:]
        var cameras: [Camera] = []
        let hosts = Dictionary(configuration.relay.cameras.map { ($0.name, $0.host) }, uniquingKeysWith: { a, _ in a })
        for device in configuration.devices {
            guard let first = device.cameras.first, let host = hosts[first] else {
                continue
            }
            if let row = byAddress[host] {
                cameras[row].cameras += device.cameras
                cameras[row].camera += ", " + device.name
                if cameras[row].mac == nil, let mac = configuration.cameras[first]?.mac {
                    cameras[row].mac = mac
                    cameras[row].layer2 = drops.removeValue(forKey: mac).map(Self.sorted) ?? []
                }
                continue
            }
            byAddress[host] = cameras.count
            let mac = device.cameras.lazy.compactMap { configuration.cameras[$0]?.mac }.first
            cameras.append(
                Camera(
                    camera: device.name,
                    cameras: device.cameras,
                    address: host,
                    mac: mac,
                    names: names[host] ?? [],
                    destinations: dropped[host] ?? [],
                    decoyed: decoyed[host] ?? [],
                    layer2: mac.flatMap { drops.removeValue(forKey: $0) }.map(Self.sorted) ?? []
                )
            )
        }
        // Frames from MACs no camera has: a device on the camera network that is not on the allowlist.
        for (mac, list) in drops.sorted(by: { $0.key < $1.key }) {
            cameras.append(
                Camera(
                    camera: "unknown device",
                    address: nil,
                    mac: mac,
                    names: [],
                    destinations: [],
                    decoyed: [],
                    layer2: Self.sorted(list)
                )
            )
        }
        self.cameras = cameras
    }

    private static func sorted(_ drops: [Layer2Drop]) -> [Layer2Drop] {
        drops.sorted { ($0.kind, $0.claimedAddress ?? "") < ($1.kind, $1.claimedAddress ?? "") }
    }

    /// The table `camgw egress` prints: one row per name, destination and kind of layer-2 drop.
    var rows: [[String]] {
        func format(_ date: Date?) -> String {
            date.map { $0.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false)) } ?? "-"
        }
        var rows: [[String]] = []
        for camera in self.cameras {
            let who = camera.camera == "unknown device" ? "unknown \(camera.mac ?? "?")" : camera.camera
            for name in camera.names {
                rows.append([who, "dns", name.name, String(name.count), format(name.first), format(name.last)])
            }
            for destination in camera.destinations {
                rows.append([
                    who, destination.protocolName, "\(destination.address):\(destination.port)",
                    String(destination.packets), format(destination.first), format(destination.last),
                ])
            }
            for server in camera.decoyed {
                rows.append([
                    who, server.port == 123 ? "ntp (decoy)" : "dns (decoy)",
                    "\(server.address):\(server.port)/\(server.protocolName)", String(server.packets),
                    format(server.first), format(server.last),
                ])
            }
            for drop in camera.layer2 {
                rows.append([
                    who, drop.kind, drop.claimedAddress ?? "-", String(drop.packets), format(drop.first),
                    format(drop.last),
                ])
            }
        }
        return rows
    }
}
