import ArgumentParser
import Foundation
import RTSPRelay

/// `camgw camera add|set|remove|list|show`: the camera allowlist.
struct CameraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera",
        abstract: "Edit and list the camera allowlist.",
        discussion: """
            Every edit validates the whole resulting file before writing it (atomically, under a lock, keeping \
            gateway.toml.bak), then updates the loaded egress lock's set elements for it (no full reload: the \
            counts of what cameras tried are kept) and asks the running daemon to reload; only the camera edited \
            restarts.

            Examples:
              printf '%s\\n' "$CAM_PASSWORD" | camgw camera add lobby --address 192.0.2.10 \\
                  --mac 00:11:22:aa:bb:cc --stream main=/Streaming/Channels/101 --username admin --password-stdin
              camgw camera set lobby --policy ptz,events --always-on
              camgw camera list
              camgw camera remove lobby

            Exit status: 0 done; 65 refused (the file is unchanged); 69 saved but the daemon refused it; \
            75 another edit holds the lock or the daemon did not answer; 77 saved, but the loaded egress lock \
            could not be updated (run camgw firewall apply as root).
            """,
        subcommands: [Add.self, Set.self, Remove.self, List.self, Show.self]
    )

    /// The settings `add` and `set` share.
    struct Settings: ParsableArguments {
        @Option(help: "The camera's IP address or host name: the only host the gateway contacts for it.")
        var address: String?

        @Option(help: "The camera's RTSP port (default 554).")
        var port: Int?

        @Option(help: "The camera's MAC address, which the firewall binds its address to.")
        var mac: String?

        @Option(
            help: ArgumentHelp(
                "A stream: name=path on the camera; repeatable (set: replaces them all).",
                valueName: "name=path"
            )
        )
        var stream: [String] = []

        @Option(help: "The camera's ONVIF (HTTP) port, when not 80.")
        var onvifPort: Int?

        @Option(help: "Serve this camera as a virtual ONVIF device on this gateway port (VMS side).")
        var gatewayOnvifPort: Int?

        @Option(help: "The user the gateway logs in to the camera as.")
        var username: String?

        @Flag(help: "Read the camera password from standard input (one line).")
        var passwordStdin = false

        @Option(help: "Read the camera password from this file.")
        var passwordFile: String?

        @Option(help: "What the VMS may do beyond reading: read-only, or a list of ptz, events (e.g. ptz,events).")
        var policy: String?

        @Flag(
            inversion: .prefixedNo,
            help: "Pull the camera always (--always-on) or only while watched (--no-always-on)."
        )
        var alwaysOn: Bool?

        @Option(help: "How the gateway pulls the camera: tcp or udp.")
        var transport: String?

        func validate() throws {
            if self.passwordStdin, self.passwordFile != nil {
                throw ValidationError("--password-stdin and --password-file exclude each other")
            }
        }

        /// The changes, checked field by field; the whole file is validated afterwards.
        func changes(camera: String) throws -> (ConfigEditor.CameraChanges, password: String?) {
            var changes = ConfigEditor.CameraChanges()
            if let address = self.address {
                guard GatewayConfig.isHostOrAddress(address) else {
                    throw refuse("--address '\(address)' is not an IP address or a host name")
                }
                changes.address = address
            }
            if let port = self.port {
                guard (1...65535).contains(port) else { throw refuse("--port must be 1–65535") }
                changes.port = port
            }
            if let mac = self.mac {
                guard let normalized = CameraSettings.normalizedMAC(mac) else {
                    throw refuse("--mac '\(mac)' is not a MAC address (00:11:22:aa:bb:cc)")
                }
                changes.mac = normalized
            }
            if let onvifPort = self.onvifPort {
                guard (1...65535).contains(onvifPort) else { throw refuse("--onvif-port must be 1–65535") }
                changes.onvifPort = onvifPort
            }
            if let port = self.gatewayOnvifPort {
                guard (0...65535).contains(port) else { throw refuse("--gateway-onvif-port must be 0–65535") }
                changes.gatewayONVIFPort = port
            }
            if !self.stream.isEmpty {
                changes.streams = try self.stream.map { spec in
                    let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, StreamPath.isName(parts[0]), parts[1].hasPrefix("/") else {
                        throw refuse("--stream '\(spec)' is not name=/path")
                    }
                    return (parts[0], parts[1])
                }
            }
            if let policy = self.policy {
                if policy == "read-only" {
                    changes.policy = []
                } else {
                    let words = policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    for word in words where CameraSettings.Grant(rawValue: word) == nil {
                        throw refuse("unknown policy '\(word)': read-only, or a list of ptz, events")
                    }
                    changes.policy = Array(Swift.Set(words)).sorted()
                }
            }
            if let alwaysOn = self.alwaysOn { changes.onDemand = !alwaysOn }
            if let transport = self.transport {
                guard ["tcp", "udp"].contains(transport) else { throw refuse("--transport must be tcp or udp") }
                changes.transport = transport
            }
            let password = try ConfigEdit.readPassword(fromStdin: self.passwordStdin, file: self.passwordFile)
            if let username = self.username { changes.username = username }
            if password != nil { changes.passwordFile = "secrets/\(camera).password" }
            return (changes, password)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a camera to the allowlist.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The camera's name in gateway URLs: rtsp://GATEWAY:8554/<name>/<stream>.")
        var name: String
        @OptionGroup var settings: Settings

        func validate() throws {
            guard StreamPath.isName(self.name) else {
                throw ValidationError("name must be 1–64 characters of A–Z a–z 0–9 . _ -")
            }
            guard self.settings.address != nil else { throw ValidationError("--address is required") }
            guard !self.settings.stream.isEmpty else {
                throw ValidationError("at least one --stream name=/path is required")
            }
            if (self.settings.username == nil) != (!self.settings.passwordStdin && self.settings.passwordFile == nil) {
                throw ValidationError("--username goes with --password-stdin or --password-file")
            }
        }

        func run() throws {
            let (changes, password) = try self.settings.changes(camera: self.name)
            let secrets = password.map { [ConfigEdit.Secret(relativePath: changes.passwordFile!, value: $0)] } ?? []
            try ConfigEdit.perform(
                configPath: self.options.config,
                what: "camera '\(self.name)' added",
                secrets: secrets,
                updatesFirewall: true
            ) {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.addCamera(self.name, changes)
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change settings of a camera; the others stay.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The camera's name.")
        var name: String
        @OptionGroup var settings: Settings

        func run() throws {
            let (changes, password) = try self.settings.changes(camera: self.name)
            guard !changes.lines.isEmpty || changes.streams != nil else {
                throw ValidationError("nothing to change: give at least one setting")
            }
            let secrets = password.map { [ConfigEdit.Secret(relativePath: changes.passwordFile!, value: $0)] } ?? []
            try ConfigEdit.perform(
                configPath: self.options.config,
                what: "camera '\(self.name)' changed",
                secrets: secrets,
                updatesFirewall: true
            ) {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.setCamera(self.name, changes)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a camera; its readers are disconnected.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The camera's name.")
        var name: String

        func run() throws {
            try ConfigEdit.perform(
                configPath: self.options.config,
                what: "camera '\(self.name)' removed",
                updatesFirewall: true
            ) {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.removeCamera(self.name)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the cameras.")

        @OptionGroup var options: ConfigOptions
        @Flag(help: "JSON, for scripts.")
        var json = false

        func run() throws {
            let configuration = try loadForReading(self.options.config)
            let entries = configuration.relay.cameras.map {
                CameraEntry(camera: $0, settings: configuration.cameras[$0.name])
            }
            if self.json { return try printJSON(entries) }
            print(
                TextTable.render(
                    header: ["NAME", "ADDRESS", "STREAMS", "POLICY", "MODE", "MAC"],
                    rows: entries.map { entry in
                        [
                            entry.name, entry.address, entry.streams.map(\.name).joined(separator: ","), entry.policy,
                            entry.mode, entry.mac ?? "-",
                        ]
                    }
                )
            )
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one camera's settings (never its password).")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The camera's name.")
        var name: String
        @Flag(help: "JSON, for scripts.")
        var json = false

        func run() throws {
            let configuration = try loadForReading(self.options.config)
            guard let camera = configuration.relay.cameras.first(where: { $0.name == self.name }) else {
                printError("camgw: no camera named '\(self.name)'")
                throw ExitCode(1)
            }
            let entry = CameraEntry(camera: camera, settings: configuration.cameras[camera.name])
            if self.json { return try printJSON(entry) }
            var lines = [
                ("name", entry.name), ("address", "\(entry.address):\(entry.port)"), ("transport", entry.transport),
                ("mode", entry.mode), ("policy", entry.policy), ("mac", entry.mac ?? "-"),
                ("onvif port", entry.onvifPort.map(String.init) ?? "80"), ("username", entry.username ?? "-"),
            ]
            lines += entry.streams.map { ("stream \($0.name)", $0.path) }
            print(TextTable.render(header: nil, rows: lines.map { [$0.0, $0.1] }))
        }
    }
}

/// A camera as `list` and `show` print it.
struct CameraEntry: Codable {
    struct Stream: Codable {
        var name: String
        var path: String
    }

    var name: String
    var address: String
    var port: Int
    var transport: String
    var mode: String
    var policy: String
    var mac: String?
    var onvifPort: Int?
    var username: String?
    var streams: [Stream]

    init(camera: RelayConfiguration.Camera, settings: CameraSettings?) {
        self.name = camera.name
        self.address = camera.host
        self.port = camera.port
        self.transport = camera.transport == .tcp ? "tcp" : "udp"
        self.mode = camera.onDemand ? "on-demand" : "always-on"
        self.policy = settings?.policyDescription ?? "read-only"
        self.mac = settings?.mac
        self.onvifPort = settings?.onvifPort
        self.username = camera.username
        self.streams = camera.streams.map { Stream(name: $0.name, path: $0.path) }
    }
}

/// The configuration for a listing: secrets are not read (a listing needs none, and an admin without access to
/// them can still list).
func loadForReading(_ path: String) throws -> GatewayConfiguration {
    do {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try GatewayConfig.parse(text, file: path, readSecrets: false)
    } catch let problems as GatewayConfig.Problems {
        printError("camgw: \(problems)")
        throw AdminExit.refused
    } catch {
        printError("camgw: cannot read \(path): \(error.localizedDescription)")
        throw ExitCode(1)
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
