import Foundation
import NIOCore
import RTSPRelay
import TOMLKit

/// The gateway's configuration file (TOML), read into the relay's plain configuration.
///
/// ```toml
/// [server]
/// listen = "0.0.0.0"
/// port = 8554
///
/// [[camera]]
/// name = "lobby"
/// address = "192.0.2.10"
/// username = "admin"
/// password_file = "/etc/camgw/secrets/lobby"   # or password_env = "LOBBY_PASSWORD"
/// on_demand = true
/// backchannel = false   # ONVIF audio VMS → camera speaker; off unless said
///
///   [[camera.stream]]
///   name = "main"
///   path = "/Streaming/Channels/101"
/// ```
///
/// Unknown keys are errors, not silently ignored: a misspelt `on_demand` must not quietly become the default.
/// Passwords are never inline: a file (readable by the service user only) or an environment variable.
enum GatewayConfig {
    struct Problem: Error, CustomStringConvertible, Hashable {
        var file: String
        var line: Int?
        var reason: String
        var description: String {
            self.line.map { "\(self.file):\($0): \(self.reason)" } ?? "\(self.file): \(self.reason)"
        }
    }

    /// Every problem found in a file, one per line of output.
    struct Problems: Error, CustomStringConvertible {
        var all: [Problem]
        var description: String { self.all.map(\.description).joined(separator: "\n") }
    }

    static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(Problems) -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Problems(all: [Problem(file: path, line: nil, reason: "cannot read: \(error.localizedDescription)")])
        }
        return try self.parse(text, file: path, environment: environment)
    }

    /// The configuration in `text`, or every problem in it (not only the first), each with the line of the table
    /// it is in.
    static func parse(
        _ text: String,
        file: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        readSecrets: Bool = true
    ) throws(Problems) -> GatewayConfiguration {
        let directory = FilePath.directory(of: file)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Problems(all: [Problem(file: file, line: Int(error.source.begin.line), reason: error.description)])
        } catch {
            throw Problems(all: [Problem(file: file, line: nil, reason: "\(error)")])
        }
        let document = ConfigDocument(text: text)
        var problems: [Problem] = []
        func attempt(line: Int?, _ body: () throws(Problem) -> Void) {
            do {
                try body()
            } catch {
                var problem = error
                if problem.line == nil { problem.line = line }
                problems.append(problem)
            }
        }
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }

        var configuration = GatewayConfiguration(relay: RelayConfiguration(cameras: []))
        attempt(line: nil) { () throws(Problem) in
            try self.checkKeys(
                table,
                allowed: ["server", "relay", "camera", "recorder", "user", "tls", "admin", "onvif", "appliance"],
                at: "top level",
                file: file
            )
        }
        if let server = table["server"] {
            attempt(line: document.line(ofTable: "server")) { () throws(Problem) in
                guard let server = server.table else { throw problem("[server] must be a table") }
                try self.server(server, into: &configuration.relay, file: file)
            }
        }
        if let relay = table["relay"] {
            attempt(line: document.line(ofTable: "relay")) { () throws(Problem) in
                guard let relay = relay.table else { throw problem("[relay] must be a table") }
                try self.relay(relay, into: &configuration.relay, file: file)
            }
        }
        if let admin = table["admin"] {
            attempt(line: document.line(ofTable: "admin")) { () throws(Problem) in
                guard let admin = admin.table else { throw problem("[admin] must be a table") }
                configuration.admin = try self.admin(admin, directory: directory, file: file)
            }
        }
        if let appliance = table["appliance"] {
            attempt(line: document.line(ofTable: "appliance")) { () throws(Problem) in
                guard let appliance = appliance.table else { throw problem("[appliance] must be a table") }
                try self.checkKeys(
                    appliance,
                    allowed: [
                        "camera_interface", "camera_side_address", "nflog_group", "dns_mode", "decoy_dns_port",
                        "decoy_ntp_port",
                    ],
                    at: "[appliance]",
                    file: file
                )
                guard let interface = appliance["camera_interface"]?.string, !interface.isEmpty,
                    interface.utf8.count <= 15,
                    interface.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) })
                else { throw problem("[appliance] camera_interface must be an interface name (at most 15 characters)") }
                guard let address = appliance["camera_side_address"]?.string,
                    (try? SocketAddress(ipAddress: address, port: 0))?.protocol == .inet
                else {
                    throw problem(
                        "[appliance] camera_side_address must be the gateway's IPv4 address on the camera side"
                    )
                }
                var settings = ApplianceSettings(cameraInterface: interface, cameraSideAddress: address)
                if let group = try self.integer(appliance, "nflog_group", 0...65535, "[appliance]", file) {
                    settings.nflogGroup = group
                }
                if let mode = appliance["dns_mode"] {
                    guard let text = mode.string, ["nxdomain", "learn"].contains(text) else {
                        throw problem("[appliance] dns_mode must be \"nxdomain\" or \"learn\"")
                    }
                    settings.dnsLearnMode = text == "learn"
                }
                if let port = try self.integer(appliance, "decoy_dns_port", 0...65535, "[appliance]", file) {
                    settings.decoyDNSPort = port
                }
                if let port = try self.integer(appliance, "decoy_ntp_port", 0...65535, "[appliance]", file) {
                    settings.decoyNTPPort = port
                }
                configuration.appliance = settings
            }
        }
        if let onvif = table["onvif"] {
            attempt(line: document.line(ofTable: "onvif")) { () throws(Problem) in
                guard let onvif = onvif.table else { throw problem("[onvif] must be a table") }
                try self.checkKeys(
                    onvif,
                    allowed: [
                        "listen", "fake_enrollment_writes", "discovery_interface", "path_mode_port", "allow_anonymous",
                        "max_connections_per_source",
                    ],
                    at: "[onvif]",
                    file: file
                )
                configuration.onvif.pathModePort = try self.integer(onvif, "path_mode_port", 0...65535, "[onvif]", file)
                if let value = onvif["discovery_interface"] {
                    guard let address = value.string,
                        (try? SocketAddress(ipAddress: address, port: 0))?.protocol == .inet
                    else {
                        throw problem(
                            "[onvif] discovery_interface must be the gateway's IPv4 address on the VMS network"
                        )
                    }
                    configuration.onvif.discoveryInterface = address
                }
                if let listen = onvif["listen"] {
                    guard let host = listen.string, (try? SocketAddress(ipAddress: host, port: 0)) != nil else {
                        throw problem("[onvif] listen must be an IP address")
                    }
                    configuration.onvif.listen = host
                }
                if let fake = try self.boolean(onvif, "fake_enrollment_writes", "[onvif]", file) {
                    configuration.onvif.fakeEnrollmentWrites = fake
                }
                if let count = try self.integer(onvif, "max_connections_per_source", 1...4096, "[onvif]", file) {
                    configuration.onvif.maxConnectionsPerSource = count
                }
                if let anonymous = try self.boolean(onvif, "allow_anonymous", "[onvif]", file) {
                    configuration.onvif.allowAnonymousReads = anonymous
                }
            }
        }
        // The checks every camera passes, whether it is a [[camera]] or a recorder's channel.
        func admit(_ parsed: RelayConfiguration.Camera, _ settings: CameraSettings) throws(Problem) {
            guard !configuration.relay.cameras.contains(where: { $0.name == parsed.name }) else {
                throw problem("camera '\(parsed.name)' is listed twice")
            }
            try self.checkMulticastClash(parsed, against: configuration.relay.cameras, file: file)
            // The egress lock is rendered from the allowlist: with an [appliance], every camera fits in it.
            if configuration.appliance != nil, let reason = FirewallElements.problem(camera: parsed, settings: settings)
            {
                throw problem(reason)
            }
            // Cameras may share their own ports (they have addresses of their own); the virtual devices share the
            // gateway's address, so their ports must differ.
            if let port = settings.gatewayONVIFPort, port != 0,
                let other = configuration.cameras.first(where: { $0.value.gatewayONVIFPort == port })
            {
                throw problem("camera '\(parsed.name)': gateway_onvif_port \(port) is already camera '\(other.key)''s")
            }
            // One address is one device (a recorder's channels share it): the egress lock binds it to one MAC, so
            // two different ones mean a typo or a spoof.
            if let mac = settings.mac,
                let other = configuration.relay.cameras.first(where: {
                    $0.host == parsed.host && configuration.cameras[$0.name]?.mac.map { $0 != mac } == true
                })
            {
                throw problem(
                    "camera '\(parsed.name)': address \(parsed.host) already has mac "
                        + "\(configuration.cameras[other.name]?.mac ?? "?") (camera '\(other.name)'), not \(mac)"
                )
            }
            configuration.relay.cameras.append(parsed)
            configuration.cameras[parsed.name] = settings
        }
        var cameraLines: [String: Int] = [:]
        if let cameras = table["camera"] {
            if let array = cameras.array {
                for (index, element) in array.enumerated() {
                    let line = document.line(ofArrayTable: "camera", index: index)
                    attempt(line: line) { () throws(Problem) in
                        guard let camera = element.table else { throw problem("camera #\(index + 1) must be a table") }
                        let (parsed, settings) = try self.camera(
                            camera,
                            index: index,
                            file: file,
                            directory: directory,
                            environment: environment,
                            readSecrets: readSecrets
                        )
                        try admit(parsed, settings)
                        cameraLines[parsed.name] = line
                    }
                }
            } else {
                problems.append(problem("camera must be an array of tables ([[camera]])"))
            }
        }
        if let recorders = table["recorder"] {
            if let array = recorders.array {
                for (index, element) in array.enumerated() {
                    let line = document.line(ofArrayTable: "recorder", index: index)
                    attempt(line: line) { () throws(Problem) in
                        guard let recorder = element.table else {
                            throw problem("recorder #\(index + 1) must be a table")
                        }
                        let (settings, channels) = try self.recorder(recorder, index: index, file: file)
                        guard !configuration.recorders.contains(where: { $0.name == settings.name }) else {
                            throw problem("recorder '\(settings.name)' is listed twice")
                        }
                        var admitted: [(RelayConfiguration.Camera, CameraSettings)] = []
                        for channel in channels {
                            let (parsed, parsedSettings) = try self.camera(
                                channel.table,
                                index: index,
                                file: file,
                                directory: directory,
                                environment: environment,
                                readSecrets: readSecrets
                            )
                            var cameraSettings = parsedSettings
                            cameraSettings.recorder = settings.name
                            cameraSettings.channel = channel.number
                            cameraSettings.videoSource = channel.videoSource
                            admitted.append((parsed, cameraSettings))
                        }
                        // All or nothing: a recorder with one bad channel adds none of them.
                        let before = configuration
                        do throws(Problem) {
                            for (parsed, cameraSettings) in admitted {
                                try admit(parsed, cameraSettings)
                                cameraLines[parsed.name] = line
                            }
                        } catch {
                            configuration = before
                            throw error
                        }
                        configuration.recorders.append(settings)
                    }
                }
            } else {
                problems.append(problem("recorder must be an array of tables ([[recorder]])"))
            }
        }
        // Status, metrics, the egress report and the CLI name a device by it: one name, one device, whichever
        // came first in the file (a camera, a channel of this or an earlier recorder).
        let recorderNames = Set(configuration.recorders.map(\.name))
        for camera in configuration.relay.cameras where recorderNames.contains(camera.name) {
            problems.append(
                Problem(
                    file: file,
                    line: cameraLines[camera.name],
                    reason: "camera '\(camera.name)': a recorder has that name too; rename one of them"
                )
            )
        }
        if let tls = table["tls"] {
            attempt(line: document.line(ofTable: "tls")) { () throws(Problem) in
                guard let tls = tls.table else { throw problem("[tls] must be a table") }
                try self.checkKeys(
                    tls,
                    allowed: ["certificate", "private_key", "port", "allow_udp"],
                    at: "[tls]",
                    file: file
                )
                guard let certificate = tls["certificate"]?.string, let key = tls["private_key"]?.string else {
                    throw problem("[tls] needs certificate and private_key (PEM files)")
                }
                let material = RelayConfiguration.TLS(
                    certificateChainPath: self.resolve(certificate, in: directory),
                    privateKeyPath: self.resolve(key, in: directory),
                    port: try self.integer(tls, "port", 0...65535, "[tls]", file) ?? 8322,
                    allowsUDP: try self.boolean(tls, "allow_udp", "[tls]", file) ?? false
                )
                // Loaded as the relay will at start and at SIGHUP: a missing, empty or mismatched file is refused
                // here rather than by a daemon that then exits or keeps the old certificate.
                if readSecrets {
                    do {
                        _ = try material.makeContext()
                    } catch {
                        throw problem("[tls] \(error)")
                    }
                }
                configuration.relay.tls = material
            }
        }
        if let users = table["user"] {
            if let array = users.array {
                for (index, element) in array.enumerated() {
                    attempt(line: document.line(ofArrayTable: "user", index: index)) { () throws(Problem) in
                        guard let user = element.table else { throw problem("user #\(index + 1) must be a table") }
                        let parsed = try self.user(user, index: index, file: file)
                        if let path = user["onvif_password_file"]?.string, readSecrets {
                            guard
                                let password = try? String(
                                    contentsOfFile: self.resolve(path, in: directory),
                                    encoding: .utf8
                                )
                            else { throw problem("user '\(parsed.name)': cannot read onvif_password_file \(path)") }
                            configuration.onvifPasswords[parsed.name] = password.trimmingCharacters(in: .newlines)
                        }
                        guard !configuration.relay.access.users.contains(where: { $0.name == parsed.name }) else {
                            throw problem("user '\(parsed.name)' is listed twice")
                        }
                        configuration.relay.access.users.append(parsed)
                    }
                }
            } else {
                problems.append(problem("user must be an array of tables ([[user]])"))
            }
        }
        problems += self.listenerClashes(configuration, lines: cameraLines, document: document, file: file)
        guard problems.isEmpty else { throw Problems(all: problems) }
        return configuration
    }

    /// Two of the daemon's TCP listeners on one port and overlapping addresses: the second would fail to bind at
    /// start ("Address already in use") and stay off while the rest runs. Port 0 (a free port) never clashes.
    private static func listenerClashes(
        _ configuration: GatewayConfiguration,
        lines: [String: Int],
        document: ConfigDocument,
        file: String
    ) -> [Problem] {
        struct Listener {
            var what: String
            var host: String
            var port: Int
            var line: Int?
        }
        let relay = configuration.relay
        let onvifHost = configuration.onvif.listen ?? relay.listenHost
        var listeners = [
            Listener(
                what: "[server] port",
                host: relay.listenHost,
                port: relay.port,
                line: document.line(ofTable: "server")
            )
        ]
        if let tls = relay.tls {
            listeners.append(
                .init(what: "[tls] port", host: relay.listenHost, port: tls.port, line: document.line(ofTable: "tls"))
            )
        }
        if let port = configuration.admin.metricsPort {
            listeners.append(
                .init(
                    what: "[admin] metrics_port",
                    host: configuration.admin.metricsHost,
                    port: port,
                    line: document.line(ofTable: "admin")
                )
            )
        }
        if let port = configuration.onvif.pathModePort {
            listeners.append(
                .init(
                    what: "[onvif] path_mode_port",
                    host: onvifHost,
                    port: port,
                    line: document.line(ofTable: "onvif")
                )
            )
        }
        for camera in relay.cameras {
            guard let port = configuration.cameras[camera.name]?.gatewayONVIFPort else { continue }
            listeners.append(
                .init(
                    what: "camera '\(camera.name)' gateway_onvif_port",
                    host: onvifHost,
                    port: port,
                    line: lines[camera.name]
                )
            )
        }
        func overlap(_ a: String, _ b: String) -> Bool {
            let any: Set<String> = ["0.0.0.0", "::", "[::]"]
            return a == b || any.contains(a) || any.contains(b)
        }
        var problems: [Problem] = []
        for (index, listener) in listeners.enumerated() where listener.port != 0 {
            // Camera against camera is already refused where the cameras are read.
            guard
                let earlier = listeners[..<index].first(where: {
                    $0.port == listener.port && overlap($0.host, listener.host)
                        && !($0.what.hasPrefix("camera ") && listener.what.hasPrefix("camera "))
                })
            else { continue }
            problems.append(
                Problem(
                    file: file,
                    line: listener.line,
                    reason:
                        "\(listener.what) \(listener.port) is also \(earlier.what): two listeners cannot share a port"
                )
            )
        }
        return problems
    }

    /// A path from the file, relative to the file's directory; absolute, so that it means the same to the
    /// daemon and to the CLI whatever their working directories.
    static func resolve(_ path: String, in directory: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let base =
            directory.hasPrefix("/")
            ? directory : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(directory)
        return ((base as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }

    private static func server(
        _ server: TOMLTable,
        into configuration: inout RelayConfiguration,
        file: String
    ) throws(Problem) {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            server,
            allowed: [
                "listen", "port", "session_timeout", "allow_anonymous", "realm", "max_connections_per_source",
                "max_connections",
            ],
            at: "[server]",
            file: file
        )
        let place = "[server]"
        if let allow = try self.boolean(server, "allow_anonymous", place, file) {
            configuration.access.allowAnonymous = allow
        }
        if let value = server["realm"] {
            // The realm is written into every challenge and hashed into every stored HA1: printable ASCII only,
            // nothing a header or a quoted string would have to escape.
            guard let realm = value.string, !realm.isEmpty, realm.utf8.count <= 64,
                realm.unicodeScalars.allSatisfy({
                    (0x20...0x7E).contains($0.value) && !"\"\\:".unicodeScalars.contains($0)
                })
            else {
                throw problem(
                    "[server] realm must be 1–64 printable ASCII characters without quotes, backslashes or colons"
                )
            }
            configuration.access.realm = realm
        }
        if let listen = server["listen"] {
            guard let value = listen.string else { throw problem("[server] listen must be a string") }
            configuration.listenHost = value
        }
        if let count = try self.integer(server, "max_connections_per_source", 1...10_000, place, file) {
            configuration.maxConnectionsPerSource = count
        }
        if let count = try self.integer(server, "max_connections", 1...1_000_000, place, file) {
            configuration.maxConnections = count
        }
        if let port = try self.integer(server, "port", 0...65535, place, file) { configuration.port = port }
        if let timeout = try self.integer(server, "session_timeout", 5...3600, place, file) {
            configuration.sessionTimeout = timeout
        }
    }

    private static func relay(
        _ relay: TOMLTable,
        into configuration: inout RelayConfiguration,
        file: String
    ) throws(Problem) {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            relay,
            allowed: [
                "stall_timeout", "reader_max_queued_bytes", "reader_max_behind", "max_packet_size",
                "max_readers_per_stream", "max_readers", "reader_udp_ports",
            ],
            at: "[relay]",
            file: file
        )
        let place = "[relay]"
        if let value = try self.seconds(relay, "stall_timeout", 1...300, place, file) {
            configuration.stallTimeout = value
        }
        if let value = try self.seconds(relay, "reader_max_behind", 0.5...120, place, file) {
            configuration.readerMaxBehind = value
        }
        if let value = try self.integer(relay, "reader_max_queued_bytes", 64 * 1024...256 * 1024 * 1024, place, file) {
            configuration.readerMaxQueuedBytes = value
        }
        if let value = try self.integer(relay, "max_readers_per_stream", 1...10_000, place, file) {
            configuration.maxReadersPerStream = value
        }
        if let value = try self.integer(relay, "max_readers", 1...100_000, place, file) {
            configuration.maxReaders = value
        }
        if let value = try self.integer(relay, "max_packet_size", 1500...65535, place, file) {
            configuration.maxPacketSize = value
        }
        if let value = relay["reader_udp_ports"] {
            guard let bounds = value.array, bounds.count == 2, let low = bounds[0].int, let high = bounds[1].int,
                // Bounded one by one before the sum: `low + 1` of a 64-bit value from the file could overflow.
                (1024...65535).contains(low), (1024...65535).contains(high), low + 1 < high
            else {
                throw problem("[relay] reader_udp_ports must be [first, last] within 1024–65535, at least 2 ports")
            }
            configuration.readerUDPPorts = low...high
        }
    }

    /// `[admin]`: the control socket `camgw` edits and `camgw status` use, and the metrics endpoint.
    private static func admin(_ admin: TOMLTable, directory: String, file: String) throws(Problem) -> AdminSettings {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            admin,
            allowed: ["socket", "socket_group", "metrics_listen", "metrics_port"],
            at: "[admin]",
            file: file
        )
        var settings = AdminSettings()
        if let value = admin["socket"] {
            guard let path = value.string, !path.isEmpty, path.utf8.count < 100 else {
                throw problem("[admin] socket must be a path shorter than 100 bytes")
            }
            settings.socketPath = self.resolve(path, in: directory)
        }
        if let value = admin["socket_group"] {
            guard let group = value.string, !group.isEmpty else {
                throw problem("[admin] socket_group must be a group name")
            }
            settings.socketGroup = group
        }
        if let value = admin["metrics_listen"] {
            guard let host = value.string, (try? SocketAddress(ipAddress: host, port: 0)) != nil else {
                throw problem("[admin] metrics_listen must be an IP address (127.0.0.1 keeps it on this host)")
            }
            settings.metricsHost = host
        }
        if let port = try self.integer(admin, "metrics_port", 0...65535, "[admin]", file) {
            settings.metricsPort = port
        }
        return settings
    }

    /// A VMS user: HA1 digests only (`camgw hash-password` makes them), the streams it may read, and optionally
    /// the networks it may connect from.
    private static func user(_ table: TOMLTable, index: Int, file: String) throws(Problem) -> ReaderAccessPolicy.User {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            table,
            allowed: ["name", "ha1_md5", "ha1_sha256", "streams", "sources", "password", "onvif_password_file"],
            at: "user #\(index + 1)",
            file: file
        )
        guard let name = table["name"]?.string, StreamPath.isName(name) else {
            throw problem("user #\(index + 1): name must be 1–64 characters of A–Z a–z 0–9 . _ -")
        }
        if table["password"] != nil {
            throw problem("user '\(name)': passwords are not stored; put the output of 'camgw hash-password' here")
        }
        func hex(_ key: String, length: Int) throws(Problem) -> String? {
            guard let value = table[key] else { return nil }
            guard let text = value.string, text.utf8.count == length,
                Self.isLowerHex(text)
            else {
                throw problem("user '\(name)': \(key) must be \(length) lower-case hex digits")
            }
            return text
        }
        let md5 = try hex("ha1_md5", length: 32)
        let sha256 = try hex("ha1_sha256", length: 64)
        guard md5 != nil || sha256 != nil else { throw problem("user '\(name)': needs ha1_md5 and/or ha1_sha256") }
        guard let streamValues = table["streams"]?.array, !streamValues.isEmpty else {
            throw problem("user '\(name)': streams must list \"camera/stream\", \"camera/*\" or \"*\"")
        }
        var streams: [String] = []
        for value in streamValues {
            guard let pattern = value.string else { throw problem("user '\(name)': streams must be strings") }
            let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
            let valid =
                pattern == "*"
                || (parts.count == 2 && StreamPath.isName(parts[0]) && (parts[1] == "*" || StreamPath.isName(parts[1])))
            guard valid else {
                throw problem("user '\(name)': stream pattern '\(pattern)' is not camera/stream, camera/* or *")
            }
            streams.append(pattern)
        }
        var sources: [CIDR] = []
        for value in table["sources"]?.array ?? TOMLArray() {
            guard let text = value.string, let network = CIDR(text) else {
                throw problem("user '\(name)': sources must be networks such as \"198.51.100.0/24\"")
            }
            sources.append(network)
        }
        return .init(name: name, ha1MD5: md5, ha1SHA256: sha256, streams: streams, sources: sources)
    }

    static func camera(
        _ table: TOMLTable,
        index: Int,
        file: String,
        directory: String,
        environment: [String: String],
        readSecrets: Bool
    ) throws(Problem) -> (RelayConfiguration.Camera, CameraSettings) {
        let label = "camera #\(index + 1)"
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            table,
            allowed: [
                "name", "address", "port", "transport", "on_demand", "linger", "username", "password_file",
                "password_env", "password", "stream", "tls_fingerprint", "backchannel", "mac", "onvif_port", "policy",
                "gateway_onvif_port", "allow_plaintext_basic", "allow_unchecked_codecs", "keep_sei",
            ],
            at: label,
            file: file
        )
        guard let name = table["name"]?.string, StreamPath.isName(name) else {
            throw problem("\(label): name must be 1–64 characters of A–Z a–z 0–9 . _ -")
        }
        guard let address = table["address"]?.string, Self.isHostOrAddress(address) else {
            throw problem("camera '\(name)': address must be an IP address or a host name")
        }
        let place = "camera '\(name)'"
        let port = try self.integer(table, "port", 1...65535, place, file) ?? 554
        guard let streams = table["stream"]?.array, !streams.isEmpty else {
            throw problem("camera '\(name)': needs at least one [[camera.stream]]")
        }
        var parsedStreams: [RelayConfiguration.Stream] = []
        for element in streams {
            guard let stream = element.table else { throw problem("camera '\(name)': stream must be a table") }
            try self.checkKeys(
                stream,
                allowed: ["name", "path", "multicast_group", "multicast_port", "multicast_ttl", "multicast_interface"],
                at: "camera '\(name)' stream",
                file: file
            )
            guard let streamName = stream["name"]?.string, StreamPath.isName(streamName) else {
                throw problem("camera '\(name)': stream name must be 1–64 characters of A–Z a–z 0–9 . _ -")
            }
            guard let path = stream["path"]?.string, path.hasPrefix("/"), RTSPURL("rtsp://h\(path)") != nil else {
                throw problem("camera '\(name)' stream '\(streamName)': path must start with / and be a valid URL path")
            }
            guard !parsedStreams.contains(where: { $0.name == streamName }) else {
                throw problem("camera '\(name)': stream '\(streamName)' is listed twice")
            }
            let multicast = try self.multicast(stream, place: "camera '\(name)' stream '\(streamName)'", file: file)
            parsedStreams.append(.init(name: streamName, path: path, multicast: multicast))
        }
        var camera = RelayConfiguration.Camera(name: name, host: address, port: port, streams: parsedStreams)
        if let transport = table["transport"] {
            switch transport.string {
            case "tcp": camera.transport = .tcp
            case "udp": camera.transport = .udp
            default: throw problem("camera '\(name)': transport must be \"tcp\" or \"udp\"")
            }
        }
        if let onDemand = try self.boolean(table, "on_demand", place, file) { camera.onDemand = onDemand }
        if let linger = try self.seconds(table, "linger", 0...3600, place, file) { camera.linger = linger }
        if let basic = try self.boolean(table, "allow_plaintext_basic", place, file) {
            camera.allowPlaintextBasic = basic
        }
        if let value = table["allow_unchecked_codecs"] {
            // Encoding names as `a=rtpmap` writes them: letters, digits, `-` `.` `_`; at most 16.
            guard let list = value.array, list.count <= 16,
                let names = Optional(list.compactMap(\.string)), names.count == list.count,
                names.allSatisfy({ name in
                    (1...32).contains(name.utf8.count)
                        && name.utf8.allSatisfy {
                            $0 < 0x80
                                && ($0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0)
                                    || (0x41...0x5A).contains($0 & ~0x20))
                        }
                })
            else {
                throw problem("\(place) allow_unchecked_codecs must be a list of encoding names such as [\"JPEG\"]")
            }
            camera.allowUncheckedCodecs = Set(names.map { $0.uppercased() })
        }
        if let value = table["keep_sei"] {
            guard let list = value.array, list.count <= 32,
                let types = Optional(list.compactMap(\.int)), types.count == list.count,
                types.allSatisfy({ (0...1023).contains($0) })
            else {
                throw problem("\(place) keep_sei must be a list of SEI payload types 0–1023, such as [1]")
            }
            camera.keepSEI = Set(types.map { UInt32($0) })
        }
        if let backchannel = try self.boolean(table, "backchannel", place, file) {
            guard !backchannel || camera.transport == .tcp else {
                throw problem("camera '\(name)': backchannel needs transport = \"tcp\" (it is interleaved on RTSP)")
            }
            camera.backchannel = backchannel
        }
        if table["password"] != nil {
            throw problem(
                "camera '\(name)': inline password refused; use password_file (readable by the service only) or password_env"
            )
        }
        if let value = table["tls_fingerprint"] {
            // SHA-256 of the camera certificate's DER, as `openssl x509 -noout -fingerprint -sha256` prints it.
            let hex = (value.string ?? "").lowercased().replacingOccurrences(of: "sha256:", with: "")
                .replacingOccurrences(of: ":", with: "")
            let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return UInt8(hex[start..<hex.index(start, offsetBy: min(2, hex.count - offset))], radix: 16)
            }
            guard hex.count == 64, bytes.count == 32 else {
                throw problem("camera '\(name)': tls_fingerprint must be a SHA-256 fingerprint (64 hex digits)")
            }
            camera.tlsFingerprint = bytes
        }
        if let username = table["username"] {
            // It reaches the camera in RTSP headers (Digest's quoted username, Basic's user:password) and ONVIF XML.
            guard let user = username.string, !user.isEmpty, user.utf8.count <= 128, Self.isPrintable(user),
                !user.contains(":")
            else {
                throw problem(
                    "camera '\(name)': username must be 1–128 printable characters without control characters or colons"
                )
            }
            camera.username = user
            if let file = table["password_file"]?.string {
                let path = self.resolve(file, in: directory)
                guard readSecrets else { return (camera, try self.settings(table, name: name, file: file)) }
                guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw problem("camera '\(name)': cannot read password_file \(path)")
                }
                camera.password = contents.trimmingCharacters(in: .newlines)
            } else if let variable = table["password_env"]?.string {
                guard let value = environment[variable] else {
                    throw problem("camera '\(name)': environment variable \(variable) is not set")
                }
                camera.password = value
            } else {
                throw problem("camera '\(name)': username needs password_file or password_env")
            }
        }
        return (camera, try self.settings(table, name: name, file: file))
    }

    /// No control character (C0, DEL, C1): what an RTSP/HTTP header, an XML text node and a terminal all carry as
    /// written.
    static func isPrintable(_ text: String) -> Bool {
        !text.unicodeScalars.contains(where: TextTable.isControl)
    }

    /// `0-9a-f` only: `Character.isHexDigit` also takes fullwidth digits, which nft and the hash comparisons do not.
    static func isLowerHex(_ text: String) -> Bool {
        text.utf8.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }

    /// An IPv4 or IPv6 address, or a DNS name (RFC 1123 labels): nothing a URL could be smuggled in.
    static func isHostOrAddress(_ text: String) -> Bool {
        if (try? SocketAddress(ipAddress: text, port: 0)) != nil { return true }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= 253, !labels.isEmpty, labels.contains(where: { $0.contains { $0.isLetter } }) else {
            return false
        }
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    private static func settings(_ table: TOMLTable, name: String, file: String) throws(Problem) -> CameraSettings {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        let place = "camera '\(name)'"
        var settings = CameraSettings()
        if let value = table["mac"] {
            guard let mac = value.string.flatMap(CameraSettings.normalizedMAC) else {
                throw problem("camera '\(name)': mac must be six hex pairs such as \"00:11:22:aa:bb:cc\"")
            }
            settings.mac = mac
        }
        settings.onvifPort = try self.integer(table, "onvif_port", 1...65535, place, file)
        settings.gatewayONVIFPort = try self.integer(table, "gateway_onvif_port", 0...65535, place, file)
        if let value = table["policy"] {
            guard let list = value.array else {
                throw problem("camera '\(name)': policy must be a list such as [\"ptz\", \"events\"] ([] is read-only)")
            }
            for element in list {
                guard let word = element.string, let grant = CameraSettings.Grant(rawValue: word) else {
                    let known = CameraSettings.Grant.allCases.map(\.rawValue).joined(separator: ", ")
                    throw problem("camera '\(name)': unknown policy '\(element.string ?? "?")' (known: \(known))")
                }
                settings.policy.insert(grant)
            }
        }
        return settings
    }

    // MARK: Typed values, each refused with its place and allowed range

    /// The ports a stream's group may use: eight tracks' RTP and RTCP from its base port.
    static let multicastPortSpan = 16

    /// `multicast_group` and its companions: a site-scoped IPv4 group, an even base port, a TTL.
    private static func multicast(
        _ stream: TOMLTable,
        place: String,
        file: String
    ) throws(Problem) -> RelayConfiguration.Multicast? {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: "\(place): \(reason)") }
        guard let value = stream["multicast_group"] else {
            for key in ["multicast_port", "multicast_ttl", "multicast_interface"] where stream[key] != nil {
                throw problem("\(key) needs multicast_group")
            }
            return nil
        }
        let octets = (value.string ?? "").split(separator: ".", omittingEmptySubsequences: false).compactMap {
            UInt8($0)
        }
        // 224.0.0.0/24 is link-local control traffic (routers, mDNS); a stream has no business there.
        guard octets.count == 4, (224...239).contains(octets[0]), octets[0] != 224 || octets[1...2] != [0, 0]
        else {
            throw problem("multicast_group must be an IPv4 multicast address (224.0.1.0–239.255.255.255)")
        }
        guard
            let port = try self.integer(stream, "multicast_port", 1024...(65535 - Self.multicastPortSpan), place, file)
        else { throw problem("multicast_group needs multicast_port") }
        guard port % 2 == 0 else { throw problem("multicast_port must be even (RTP even, RTCP odd, RFC 3550 §11)") }
        let ttl = try self.integer(stream, "multicast_ttl", 1...255, place, file) ?? 1
        var multicast = RelayConfiguration.Multicast(group: value.string!, port: port, ttl: UInt8(ttl))
        if let interface = stream["multicast_interface"] {
            guard let address = interface.string, (try? SocketAddress(ipAddress: address, port: 0))?.protocol == .inet
            else { throw problem("multicast_interface must be a local IPv4 address") }
            multicast.interface = address
        }
        return multicast
    }

    /// Two streams on one group must not share ports: their readers would get each other's packets.
    private static func checkMulticastClash(
        _ camera: RelayConfiguration.Camera,
        against cameras: [RelayConfiguration.Camera],
        file: String
    ) throws(Problem) {
        let earlier = cameras.flatMap { other in other.streams.map { (other.name, $0) } }
        var seen = earlier
        for stream in camera.streams {
            guard let mine = stream.multicast else { continue }
            for (otherCamera, other) in seen {
                guard let theirs = other.multicast, theirs.group == mine.group,
                    abs(theirs.port - mine.port) < Self.multicastPortSpan
                else { continue }
                throw Problem(
                    file: file,
                    line: nil,
                    reason: "camera '\(camera.name)' stream '\(stream.name)': multicast \(mine.group):\(mine.port) "
                        + "overlaps camera '\(otherCamera)' stream '\(other.name)' (ports \(theirs.port)–"
                        + "\(theirs.port + Self.multicastPortSpan - 1))"
                )
            }
            seen.append((camera.name, stream))
        }
    }

    static func integer(
        _ table: TOMLTable,
        _ key: String,
        _ range: ClosedRange<Int>,
        _ place: String,
        _ file: String
    ) throws(Problem) -> Int? {
        guard let value = table[key] else { return nil }
        guard let number = value.int, range.contains(number) else {
            throw Problem(
                file: file,
                line: nil,
                reason: "\(place) \(key) must be \(range.lowerBound)–\(range.upperBound)"
            )
        }
        return number
    }

    static func seconds(
        _ table: TOMLTable,
        _ key: String,
        _ range: ClosedRange<Double>,
        _ place: String,
        _ file: String
    ) throws(Problem) -> Duration? {
        guard let value = table[key] else { return nil }
        guard let seconds = value.double ?? value.int.map(Double.init), range.contains(seconds) else {
            throw Problem(
                file: file,
                line: nil,
                reason: "\(place) \(key) must be \(range.lowerBound)–\(range.upperBound) seconds"
            )
        }
        return .milliseconds(Int(seconds * 1000))
    }

    static func boolean(
        _ table: TOMLTable,
        _ key: String,
        _ place: String,
        _ file: String
    ) throws(Problem) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let flag = value.bool else {
            throw Problem(file: file, line: nil, reason: "\(place) \(key) must be true or false")
        }
        return flag
    }

    static func checkKeys(
        _ table: TOMLTable,
        allowed: Set<String>,
        at place: String,
        file: String
    ) throws(Problem) {
        for key in table.keys where !allowed.contains(key) {
            throw Problem(
                file: file,
                line: nil,
                reason: "\(place): unknown key '\(key)' (allowed: \(allowed.sorted().joined(separator: ", ")))"
            )
        }
    }
}
