import ArgumentParser
import Foundation

/// `camgw check`: validates a configuration as the daemon would read it and prints every problem with file, line
/// and reason.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file; print every problem with its file, line and reason.",
        discussion: """
            Example:
              camgw check --config /etc/camgw/gateway.toml && systemctl reload camgw

            Exit status: 0 valid; 65 problems found (each printed on its own line).
            """
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        do {
            let configuration = try GatewayConfig.load(path: self.options.config)
            let streams = configuration.relay.cameras.reduce(0) { $0 + $1.streams.count }
            print(
                "\(self.options.config): valid: \(configuration.relay.cameras.count) camera(s), \(streams) stream(s), "
                    + "\(configuration.relay.access.users.count) user(s)"
            )
        } catch {
            for problem in error.all { printError(problem.description) }
            throw AdminExit.refused
        }
    }
}

/// `camgw reload`: asks the running daemon to read its configuration again (as SIGHUP does), and prints what
/// changed.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Ask the running daemon to reload its configuration; only what changed restarts."
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        try ConfigEdit.notifyDaemon(configPath: self.options.config)
    }
}
