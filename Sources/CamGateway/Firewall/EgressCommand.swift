import ArgumentParser
import Foundation

/// `camgw egress`: the phone-home report. Per camera, the names it tried to resolve (from the DNS decoy, through
/// the daemon's control socket) and the addresses and ports it tried to reach (from the firewall's `egress` set,
/// read with nft, which needs the admin's CAP_NET_ADMIN — the daemon itself has none).
struct EgressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress",
        abstract: "Show, per camera, the names it looked up and the addresses and ports it tried to reach.",
        discussion: """
            Examples:
              camgw egress
              camgw egress --json | jq '.[] | select(.names | length > 0)'
            """
    )

    @OptionGroup var options: ConfigOptions
    @Flag(help: "JSON, for scripts.")
    var json = false
    @Option(help: "The nft executable.")
    var nft = "/usr/sbin/nft"

    struct Destination: Codable, Hashable {
        var address: String
        var protocolName: String
        var port: Int
        var packets: Int
        /// About when it was last tried (the set's timeout refreshes on each attempt).
        var lastSeen: Date?
    }

    struct Camera: Codable {
        var camera: String
        var address: String
        var names: [DecoyServer.Lookup]
        var destinations: [Destination]
    }

    func run() throws {
        let configuration = try loadForReading(self.options.config)
        var names: [String: [DecoyServer.Lookup]] = [:]
        if let data = try? ControlClient.request("egress", socket: configuration.admin.socketPath),
            let reply = try? JSONDecoder().decode(ControlReply.self, from: data)
        {
            names = reply.egress ?? [:]
        } else {
            printError("camgw: no daemon answered: names looked up are not shown")
        }
        let destinations = self.destinations()
        let report = configuration.relay.cameras.map { camera in
            Camera(
                camera: camera.name,
                address: camera.host,
                names: names[camera.host] ?? [],
                destinations: destinations[camera.host] ?? []
            )
        }
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        var rows: [[String]] = []
        for camera in report {
            for name in camera.names {
                rows.append([
                    camera.camera, "dns", name.name, String(name.count), Self.format(name.first),
                    Self.format(name.last),
                ])
            }
            for destination in camera.destinations {
                rows.append([
                    camera.camera, destination.protocolName, "\(destination.address):\(destination.port)",
                    String(destination.packets), "-", destination.lastSeen.map(Self.format) ?? "-",
                ])
            }
        }
        print(
            rows.isEmpty
                ? "no camera has tried to reach anything beyond the gateway"
                : TextTable.render(
                    header: ["CAMERA", "KIND", "NAME OR DESTINATION", "COUNT", "FIRST", "LAST"],
                    rows: rows
                )
        )
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
    }

    /// The firewall's `egress` set, by camera address.
    private func destinations() -> [String: [Destination]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.nft)
        process.arguments = ["-j", "list", "set", "inet", "camgw", "egress"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        guard (try? process.run()) != nil else {
            printError("camgw: cannot run \(self.nft): destinations are not shown")
            return [:]
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let objects = root["nftables"] as? [[String: Any]]
        else {
            printError("camgw: nft could not list the egress set (not loaded, or not root): destinations are not shown")
            return [:]
        }
        var result: [String: [Destination]] = [:]
        for object in objects {
            guard let set = object["set"] as? [String: Any], let elements = set["elem"] as? [[String: Any]] else {
                continue
            }
            let timeout = set["timeout"] as? Int
            for wrapper in elements {
                guard let element = wrapper["elem"] as? [String: Any], let value = element["val"] as? [String: Any],
                    let concat = value["concat"] as? [Any], concat.count == 4,
                    let source = concat[0] as? String, let destination = concat[1] as? String,
                    let proto = concat[2] as? String
                else { continue }
                let port = concat[3] as? Int ?? 0
                let packets = (element["counter"] as? [String: Any])?["packets"] as? Int ?? 0
                let expires = element["expires"] as? Int
                var lastSeen: Date?
                if let timeout, let expires { lastSeen = Date().addingTimeInterval(-Double(timeout - expires)) }
                result[source, default: []].append(
                    Destination(
                        address: destination,
                        protocolName: proto,
                        port: port,
                        packets: packets,
                        lastSeen: lastSeen
                    )
                )
            }
        }
        return result.mapValues { list in
            list.sorted { first, second in
                first.address == second.address ? first.port < second.port : first.address < second.address
            }
        }
    }
}
