import ArgumentParser
import Foundation

/// `camgw firewall render|apply`: the egress lock from the allowlist.
struct FirewallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firewall",
        abstract: "Render the nftables egress lock from the allowlist, or check and load it.",
        discussion: """
            Examples:
              camgw firewall render > /tmp/camgw.nft
              camgw firewall apply          # nft -c -f, then nft -f: both tables replaced in one transaction

            Exit status: 0 done; 65 the configuration cannot be rendered; 70 nft refused the ruleset (nothing loaded).
            """,
        subcommands: [Render.self, Apply.self]
    )

    static func ruleset(_ path: String) throws -> String {
        let configuration = try loadForReading(path)
        do {
            return try FirewallRuleset.render(configuration, source: path)
        } catch {
            printError("camgw: \(error)")
            throw AdminExit.refused
        }
    }

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the ruleset.")
        @OptionGroup var options: ConfigOptions

        func run() throws {
            print(try FirewallCommand.ruleset(self.options.config), terminator: "")
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the ruleset with nft -c, then load it atomically."
        )
        @OptionGroup var options: ConfigOptions
        @Option(help: "The nft executable.")
        var nft = "/usr/sbin/nft"

        func run() throws {
            let ruleset = try FirewallCommand.ruleset(self.options.config)
            for arguments in [["-c", "-f", "-"], ["-f", "-"]] {
                guard let result = NFT.run(arguments, input: ruleset, executable: self.nft) else {
                    printError("camgw: cannot run \(self.nft); nothing changed")
                    throw ExitCode(70)
                }
                guard result.status == 0 else {
                    printError(
                        "camgw: nft \(arguments.joined(separator: " ")) refused the ruleset; nothing changed:\n\(result.errors)"
                    )
                    throw ExitCode(70)
                }
            }
            print("egress lock loaded (tables inet camgw, netdev camgw_l2)")
        }
    }
}
