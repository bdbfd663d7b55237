import ArgumentParser
import Foundation
import RTSPRelay

/// `camgw user add|set|remove|list`: the VMS accounts. Passwords come from standard input or a file and only
/// their Digest HA1s are stored.
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Edit and list the VMS users.",
        discussion: """
            Examples:
              printf '%s\\n' "$VMS_PASSWORD" | camgw user add vms --stream 'lobby/*' --password-stdin
              camgw user set vms --stream '*' --source 198.51.100.0/24
              camgw user list
            """,
        subcommands: [Add.self, Set.self, Remove.self, List.self]
    )

    struct Settings: ParsableArguments {
        @Option(
            help: ArgumentHelp(
                "A stream the user may read: camera/stream, camera/* or *; repeatable.",
                valueName: "pattern"
            )
        )
        var stream: [String] = []

        @Option(help: ArgumentHelp("A network the user may connect from (CIDR); repeatable.", valueName: "cidr"))
        var source: [String] = []

        @Flag(help: "Read the password from standard input (one line).")
        var passwordStdin = false

        @Option(help: "Read the password from this file.")
        var passwordFile: String?

        @Flag(
            help:
                "Also let the user sign in to the virtual ONVIF devices with a WS-UsernameToken, which needs the password itself: it is kept in a 0640 secrets file (root and the service group)."
        )
        var onvif = false

        func changes(user: String, realm: String) throws -> (ConfigEditor.UserChanges, onvifPassword: String?) {
            var changes = ConfigEditor.UserChanges()
            for pattern in self.stream {
                let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
                let valid =
                    pattern == "*"
                    || (parts.count == 2 && StreamPath.isName(parts[0])
                        && (parts[1] == "*" || StreamPath.isName(parts[1])))
                guard valid else { throw refuse("--stream '\(pattern)' is not camera/stream, camera/* or *") }
            }
            for network in self.source where CIDR(network) == nil {
                throw refuse("--source '\(network)' is not a network such as 198.51.100.0/24")
            }
            if !self.stream.isEmpty { changes.streams = self.stream }
            if !self.source.isEmpty { changes.sources = self.source }
            if let password = try ConfigEdit.readPassword(fromStdin: self.passwordStdin, file: self.passwordFile) {
                let hashed = ReaderAccessPolicy.User.withPassword(user, password, realm: realm, streams: [])
                changes.ha1MD5 = hashed.ha1MD5
                changes.ha1SHA256 = hashed.ha1SHA256
                if self.onvif { changes.onvifPasswordFile = "secrets/user-\(user).onvif" }
                return (changes, self.onvif ? password : nil)
            } else if self.onvif {
                throw refuse("--onvif needs the password (--password-stdin or --password-file)")
            }
            return (changes, nil)
        }
    }

    /// The realm the HA1s are bound to: `[server] realm` of the file being edited.
    static func realm(_ path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let configuration = try? GatewayConfig.parse(text, file: path, readSecrets: false)
        else { return ReaderAccessPolicy().realm }
        return configuration.relay.access.realm
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a VMS user.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The user name the VMS logs in with.")
        var name: String
        @OptionGroup var settings: Settings

        func validate() throws {
            guard StreamPath.isName(self.name) else {
                throw ValidationError("name must be 1–64 characters of A–Z a–z 0–9 . _ -")
            }
            guard self.settings.passwordStdin || self.settings.passwordFile != nil else {
                throw ValidationError("a new user needs --password-stdin or --password-file")
            }
            guard !self.settings.stream.isEmpty else { throw ValidationError("at least one --stream is required") }
        }

        func run() throws {
            let (changes, onvifPassword) = try self.settings.changes(
                user: self.name,
                realm: UserCommand.realm(self.options.config)
            )
            let secrets =
                onvifPassword.map { [ConfigEdit.Secret(relativePath: changes.onvifPasswordFile!, value: $0)] } ?? []
            try ConfigEdit.perform(configPath: self.options.config, what: "user '\(self.name)' added", secrets: secrets)
            {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.addUser(self.name, changes)
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password, streams or sources.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The user name.")
        var name: String
        @OptionGroup var settings: Settings

        func run() throws {
            let (changes, onvifPassword) = try self.settings.changes(
                user: self.name,
                realm: UserCommand.realm(self.options.config)
            )
            guard !changes.lines.isEmpty else { throw ValidationError("nothing to change: give at least one setting") }
            let secrets =
                onvifPassword.map { [ConfigEdit.Secret(relativePath: changes.onvifPasswordFile!, value: $0)] } ?? []
            try ConfigEdit.perform(
                configPath: self.options.config,
                what: "user '\(self.name)' changed",
                secrets: secrets
            ) {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.setUser(self.name, changes)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a VMS user.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The user name.")
        var name: String

        func run() throws {
            try ConfigEdit.perform(configPath: self.options.config, what: "user '\(self.name)' removed") {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.removeUser(self.name)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the VMS users (never their digests).")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "JSON, for scripts.")
        var json = false

        struct Entry: Codable {
            var name: String
            var streams: [String]
            var sources: [String]
        }

        func run() throws {
            let configuration = try loadForReading(self.options.config)
            let entries = configuration.relay.access.users.map { user in
                Entry(name: user.name, streams: user.streams, sources: user.sources.map(\.description))
            }
            if self.json { return try printJSON(entries) }
            print(
                TextTable.render(
                    header: ["NAME", "STREAMS", "SOURCES"],
                    rows: entries.map {
                        [
                            $0.name, $0.streams.joined(separator: ","),
                            $0.sources.isEmpty ? "any" : $0.sources.joined(separator: ","),
                        ]
                    }
                )
            )
        }
    }
}
