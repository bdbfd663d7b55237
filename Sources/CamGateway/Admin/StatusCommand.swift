import ArgumentParser
import Foundation

/// `camgw status`: per camera, what the running daemon reports through the control socket.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each camera's upstream state, last error, bitrate and readers (from the running daemon).",
        discussion: """
            Examples:
              camgw status
              camgw status --json | jq '.cameras[] | select(.streams[].upstream != "playing")'

            Exit status: 0; 75 when no daemon answers.
            """
    )

    @OptionGroup var options: ConfigOptions
    @Flag(help: "JSON, for scripts.")
    var json = false
    @Option(help: "The nft executable (with an [appliance], the egress lock's counts are read with it).")
    var nft = NFT.defaultPath

    func run() throws {
        let socket =
            (try? GatewayConfig.load(path: self.options.config))?.admin.socketPath
            ?? (try? loadForReading(self.options.config))?.admin.socketPath ?? AdminSettings().socketPath
        let data: Data
        do {
            data = try ControlClient.request("status", socket: socket)
        } catch {
            printError("camgw: \(error)")
            throw AdminExit.busy
        }
        guard let reply = try? JSONDecoder().decode(ControlReply.self, from: data), var status = reply.status else {
            printError("camgw: the daemon's answer was not understood")
            throw AdminExit.busy
        }
        // With an egress lock, what it dropped from each camera: the kernel's sets, readable by the admin only.
        if let configuration = try? GatewayConfig.load(path: self.options.config), configuration.appliance != nil {
            let report = EgressReport(
                configuration: configuration,
                names: [:],
                sets: EgressCommand.kernelSets(nft: self.nft)
            )
            let counts = report.counts
            for index in status.cameras.indices {
                guard let device = report.device(of: status.cameras[index].name), let camera = counts[device] else {
                    continue
                }
                status.cameras[index].egressDestinations = camera.destinations
                status.cameras[index].egressPackets = camera.droppedPackets.values.reduce(0, +)
            }
        }
        if self.json { return try printJSON(status) }
        var rows: [[String]] = []
        for camera in status.cameras {
            for stream in camera.streams {
                let state =
                    stream.upstream == "playing" || stream.upstream == "idle"
                    ? stream.upstream : TextTable.alert(stream.upstream)
                let drops = stream.dropped.values.reduce(0, +)
                var blocked = camera.onvifRefused.map { String($0.values.reduce(0, +)) } ?? "-"
                if camera.onvifCameraLoginPaused == true { blocked += TextTable.alert(" (camera login paused)") }
                var egress: [String] = []
                if let names = camera.dnsNames, names > 0 { egress.append("\(names) names") }
                if let destinations = camera.egressDestinations, destinations > 0 {
                    egress.append("\(destinations) destinations")
                }
                if let packets = camera.egressPackets, packets > 0 {
                    egress.append("\(packets) packets dropped")
                }
                rows.append([
                    "\(camera.name)/\(stream.name)", state, Self.bitrate(stream.bitsPerSecond),
                    String(stream.readers.count), String(drops), camera.policy, blocked, camera.mode,
                    egress.isEmpty ? "-" : TextTable.alert(egress.joined(separator: ", ")), stream.lastError ?? "",
                ])
                for reader in stream.readers {
                    rows.append([
                        "  ↳ \(reader.address)", reader.transport, "since \(reader.seconds) s",
                        "\(reader.packetsSent) sent", "\(reader.dropped) dropped", "", "", "", "", "",
                    ])
                }
            }
        }
        print(
            TextTable.render(
                header: [
                    "STREAM", "UPSTREAM", "BITRATE", "READERS", "DROPS", "POLICY", "ONVIF BLOCKED", "MODE",
                    "EGRESS TRIED", "LAST ERROR",
                ],
                rows: rows
            )
        )
        let recorders = status.devices["recorder", default: 0]
        let devices = status.devices.values.reduce(0, +)
        print(
            "\(status.cameras.count) camera(s) on \(devices) device(s)"
                + (recorders > 0 ? ", \(recorders) of them recorder(s)" : "")
        )
        print("failed VMS logins since start: \(status.authFailures)")
    }

    static func bitrate(_ bits: Int) -> String {
        bits >= 1_000_000
            ? String(format: "%.1f Mbit/s", Double(bits) / 1e6) : String(format: "%.0f kbit/s", Double(bits) / 1e3)
    }
}
