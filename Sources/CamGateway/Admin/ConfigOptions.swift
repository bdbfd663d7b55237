import ArgumentParser
import Foundation

/// `--config`, shared by every admin command: the file the daemon reads.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The configuration file.", valueName: "path")
    )
    var config: String = ProcessInfo.processInfo.environment["CAMGW_CONFIG"] ?? "/etc/camgw/gateway.toml"
}

/// Exit codes scripts can rely on (sysexits.h).
enum AdminExit {
    /// The edit or file was refused: invalid input or an invalid result. The file is unchanged.
    static let refused = ExitCode(65)
    /// Another admin holds the edit lock, or the daemon did not answer: try again.
    static let busy = ExitCode(75)
    /// The file was saved but the running daemon refused it (it keeps its configuration).
    static let daemonRefused = ExitCode(69)
    /// The file was saved but the loaded egress lock could not be updated (not root): `camgw firewall apply`.
    static let firewallStale = ExitCode(77)
}

/// Standard error, for messages that are not the command's output.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Bad input to an edit: the reason on standard error, exit status 65, and the file not touched.
func refuse(_ reason: String) -> ExitCode {
    printError("camgw: refused: \(reason)")
    return AdminExit.refused
}
