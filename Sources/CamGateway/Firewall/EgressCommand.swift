import ArgumentParser
import Foundation

/// `camgw egress`: the phone-home report (see `EgressReport`). Names come from the daemon's DNS decoy through the
/// control socket; drops from the kernel's sets, read with nft, which needs the admin's CAP_NET_ADMIN.
struct EgressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress",
        abstract: "Show, per camera, the names it looked up and what the egress lock dropped from it.",
        discussion: """
            Rows: dns (a name it asked the decoy for), tcp/udp/icmp… (an address and port it tried to reach, \
            in packets), dns (decoy) and ntp (decoy) (a server it aimed at, answered by the decoy instead, in \
            connections), ipv6, vlan-tagged, ethertype X, arp-spoof and ip-spoof (frames the layer-2 guard dropped; a MAC no camera has is shown as \
            unknown). FIRST and LAST are within the last week (the sets forget an attempt a week after it).

            --push hands the kernel's counts to the daemon for its metrics (camgw_egress_*): the daemon has no \
            CAP_NET_ADMIN and cannot read them itself. deploy/systemd/camgw-egress.timer runs it every 30 s.

            Examples:
              camgw egress
              camgw egress --json | jq '.[] | select(.names | length > 0)'
              camgw egress --push

            Exit status: 0; with --push, 75 when no daemon takes the counts, 70 when the sets cannot be read.
            """
    )

    @OptionGroup var options: ConfigOptions
    @Flag(help: "JSON, for scripts.")
    var json = false
    @Option(help: "The nft executable.")
    var nft = NFT.defaultPath
    @Flag(help: "Hand the counts to the running daemon for its metrics, instead of printing the report.")
    var push = false

    func run() throws {
        let configuration = try loadForReading(self.options.config)
        if self.push { return try self.pushCounts(configuration) }
        let report = Self.report(configuration, nft: self.nft)
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report.cameras), as: UTF8.self))
            return
        }
        let rows = report.rows
        print(
            rows.isEmpty
                ? "no camera has tried to reach anything beyond the gateway"
                : TextTable.render(
                    header: ["CAMERA", "KIND", "NAME OR DESTINATION", "COUNT", "FIRST (UTC)", "LAST (UTC)"],
                    rows: rows
                )
        )
    }

    private func pushCounts(_ configuration: GatewayConfiguration) throws {
        var unreadable = false
        let sets = Self.kernelSets(nft: self.nft) { unreadable = true }
        guard !unreadable else { throw ExitCode(70) }
        let counts = EgressReport(configuration: configuration, names: [:], sets: sets).counts
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let payload = String(decoding: try encoder.encode(counts), as: UTF8.self)
        let reply: ControlReply?
        do {
            reply = try JSONDecoder().decode(
                ControlReply.self,
                from: ControlClient.request("egress-counts " + payload, socket: configuration.admin.socketPath)
            )
        } catch {
            printError("camgw: the counts were not handed over: \(error)")
            throw AdminExit.busy
        }
        guard reply?.ok == true else {
            printError("camgw: the daemon refused the counts: \(reply?.error ?? "?")")
            throw AdminExit.busy
        }
    }

    /// The report now: what is missing (no daemon, no loaded lock, not root) is said on standard error and left out.
    static func report(_ configuration: GatewayConfiguration, nft: String) -> EgressReport {
        var names: [String: [DecoyServer.Lookup]] = [:]
        if let data = try? ControlClient.request("egress", socket: configuration.admin.socketPath),
            let reply = try? JSONDecoder().decode(ControlReply.self, from: data)
        {
            names = reply.egress ?? [:]
        } else {
            printError("camgw: no daemon answered: names looked up are not shown")
        }
        return EgressReport(configuration: configuration, names: names, sets: Self.kernelSets(nft: nft))
    }

    /// Both tables' listings; a table that cannot be listed is said on standard error and left out.
    static func kernelSets(nft: String, unreadable: () -> Void = {}) -> [[String: Any]] {
        let listing = NFT.listGatewayTables(executable: nft)
        for table in listing.failures.keys.sorted() {
            printError(
                "camgw: nft could not list table \(table) (not loaded, or not root): what it dropped is not shown"
            )
        }
        if !listing.failures.isEmpty { unreadable() }
        return listing.objects
    }
}
