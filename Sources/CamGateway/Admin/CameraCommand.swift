import ArgumentParser
import Foundation
import Logging
import ONVIF
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
              camgw camera add nvr --address 192.0.2.20 --recorder dahua --channels 1-8 --username admin \\
                  --password-file nvr.password
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

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a camera, or a recorder (NVR) whose channels become cameras, to the allowlist.",
            discussion: """
                A recorder (--recorder hikvision or dahua) is one device: one address, MAC and set of credentials; \
                each channel is served as its own camera, <name>-01 … with streams main and sub, and (with \
                --gateway-onvif-port) its own virtual ONVIF device on the port given plus its position. Without \
                --channels, the recorder's ONVIF GetProfiles is asked how many video sources it has.

                Example:
                  printf '%s\\n' "$NVR_PASSWORD" | camgw camera add nvr --address 192.0.2.20 --recorder hikvision \\
                      --channels 1-16 --gateway-onvif-port 8100 --username admin --password-stdin
                """
        )

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The camera's name in gateway URLs: rtsp://GATEWAY:8554/<name>/<stream>.")
        var name: String
        @OptionGroup var settings: Settings

        @Option(help: "Add a recorder (NVR) with this path style: hikvision or dahua.")
        var recorder: String?

        @Option(help: "A recorder's channels: 1-16, 1-4,9 (default: as many as its ONVIF profiles show).")
        var channels: String?

        func validate() throws {
            guard StreamPath.isName(self.name) else {
                throw ValidationError("name must be 1–64 characters of A–Z a–z 0–9 . _ -")
            }
            guard self.settings.address != nil else { throw ValidationError("--address is required") }
            if let recorder = self.recorder {
                guard RecorderSettings.Style(rawValue: recorder) != nil else {
                    throw ValidationError("--recorder must be hikvision or dahua")
                }
                guard self.settings.stream.isEmpty else {
                    throw ValidationError("--stream is for cameras: a recorder's paths follow its --recorder style")
                }
                guard self.name.count <= 60 else { throw ValidationError("a recorder's name is at most 60 characters") }
            } else {
                guard self.channels == nil else { throw ValidationError("--channels goes with --recorder") }
                guard !self.settings.stream.isEmpty else {
                    throw ValidationError("at least one --stream name=/path is required")
                }
            }
            if (self.settings.username == nil) != (!self.settings.passwordStdin && self.settings.passwordFile == nil) {
                throw ValidationError("--username goes with --password-stdin or --password-file")
            }
        }

        func run() async throws {
            let (changes, password) = try self.settings.changes(camera: self.name)
            let secrets = password.map { [ConfigEdit.Secret(relativePath: changes.passwordFile!, value: $0)] } ?? []
            guard let style = self.recorder else {
                try ConfigEdit.perform(
                    configPath: self.options.config,
                    what: "camera '\(self.name)' added",
                    secrets: secrets,
                    updatesFirewall: true
                ) {
                    (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                    try editor.addCamera(self.name, changes)
                }
                return
            }
            let channels: String
            if let given = self.channels {
                channels = given
            } else {
                channels = try await Self.channelsFromONVIF(
                    host: changes.address ?? "",
                    port: changes.onvifPort ?? 80,
                    username: changes.username,
                    password: password
                )
            }
            try ConfigEdit.perform(
                configPath: self.options.config,
                what: "recorder '\(self.name)' added, channels \(channels)",
                secrets: secrets,
                updatesFirewall: true
            ) {
                (editor: inout ConfigEditor) throws(ConfigEditor.Refused) in
                try editor.addRecorder(self.name, style: style, channels: channels, changes)
            }
        }

        /// `1-N` for a recorder whose GetProfiles names N video sources: the one question the CLI asks it.
        static func channelsFromONVIF(
            host: String,
            port: Int,
            username: String?,
            password: String?
        ) async throws
            -> String
        {
            let client = ONVIFCameraClient(
                configuration: .init(host: host, port: port, username: username, password: password),
                logger: Logger(label: "camgw.camera-add")
            )
            let sources: [String]
            do {
                sources = try await RecorderChannels(
                    name: "add",
                    client: client,
                    logger: Logger(label: "camgw.camera-add")
                ).videoSources()
            } catch {
                throw refuse(
                    "the recorder's ONVIF service at \(host):\(port) did not list its channels (\(error.reason)); "
                        + "give --channels 1-N"
                )
            }
            guard !sources.isEmpty else {
                throw refuse("the recorder's ONVIF GetProfiles names no video source; give --channels 1-N")
            }
            return "1-\(min(sources.count, 256))"
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
                    header: ["NAME", "ADDRESS", "DEVICE", "STREAMS", "POLICY", "MODE", "MAC"],
                    rows: entries.map { entry in
                        [
                            entry.name, entry.address,
                            entry.recorder.map { "recorder \($0), channel \(entry.channel ?? 0)" } ?? "camera",
                            entry.streams.map(\.name).joined(separator: ","), entry.policy, entry.mode,
                            entry.mac ?? "-",
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
            if let recorder = entry.recorder {
                lines.insert(("device", "recorder \(recorder), channel \(entry.channel ?? 0)"), at: 1)
            }
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
    /// A recorder's channel: the recorder's name and the channel's number on it.
    var recorder: String?
    var channel: Int?
    var streams: [Stream]

    init(camera: RelayConfiguration.Camera, settings: CameraSettings?) {
        self.recorder = settings?.recorder
        self.channel = settings?.channel
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
