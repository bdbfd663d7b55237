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
    struct Problem: Error, CustomStringConvertible {
        var file: String
        var line: Int?
        var reason: String
        var description: String {
            self.line.map { "\(self.file):\($0): \(self.reason)" } ?? "\(self.file): \(self.reason)"
        }
    }

    static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(Problem) -> RelayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Problem(file: path, line: nil, reason: "cannot read: \(error.localizedDescription)")
        }
        return try self.parse(
            text,
            file: path,
            directory: (path as NSString).deletingLastPathComponent,
            environment: environment
        )
    }

    static func parse(
        _ text: String,
        file: String,
        directory: String,
        environment: [String: String]
    ) throws(Problem) -> RelayConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Problem(file: file, line: Int(error.source.begin.line), reason: error.description)
        } catch {
            throw Problem(file: file, line: nil, reason: "\(error)")
        }
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }

        try self.checkKeys(table, allowed: ["server", "relay", "camera", "user", "tls"], at: "top level", file: file)
        var configuration = RelayConfiguration(cameras: [])
        if let server = table["server"] {
            guard let server = server.table else { throw problem("[server] must be a table") }
            try self.checkKeys(
                server,
                allowed: [
                    "listen", "port", "session_timeout", "allow_anonymous", "realm", "max_connections_per_source",
                ],
                at: "[server]",
                file: file
            )
            let place = "[server]"
            if let allow = try self.boolean(server, "allow_anonymous", place, file) {
                configuration.access.allowAnonymous = allow
            }
            if let value = server["realm"] {
                guard let realm = value.string, !realm.isEmpty, realm.utf8.count <= 64, !realm.contains("\""),
                    !realm.contains(":")
                else { throw problem("[server] realm must be 1–64 characters without quotes or colons") }
                configuration.access.realm = realm
            }
            if let listen = server["listen"] {
                guard let value = listen.string else { throw problem("[server] listen must be a string") }
                configuration.listenHost = value
            }
            if let count = try self.integer(server, "max_connections_per_source", 1...10_000, place, file) {
                configuration.maxConnectionsPerSource = count
            }
            if let port = try self.integer(server, "port", 0...65535, place, file) { configuration.port = port }
            if let timeout = try self.integer(server, "session_timeout", 5...3600, place, file) {
                configuration.sessionTimeout = timeout
            }
        }
        if let relay = table["relay"] {
            guard let relay = relay.table else { throw problem("[relay] must be a table") }
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
            if let value = try self.integer(
                relay,
                "reader_max_queued_bytes",
                64 * 1024...256 * 1024 * 1024,
                place,
                file
            ) {
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
                    1024 <= low, low + 1 < high, high <= 65535
                else {
                    throw problem("[relay] reader_udp_ports must be [first, last] within 1024–65535, at least 2 ports")
                }
                configuration.readerUDPPorts = low...high
            }
        }
        if let cameras = table["camera"] {
            guard let array = cameras.array else { throw problem("camera must be an array of tables ([[camera]])") }
            for (index, element) in array.enumerated() {
                guard let camera = element.table else { throw problem("camera #\(index + 1) must be a table") }
                let parsed = try self.camera(
                    camera,
                    index: index,
                    file: file,
                    directory: directory,
                    environment: environment
                )
                guard !configuration.cameras.contains(where: { $0.name == parsed.name }) else {
                    throw problem("camera '\(parsed.name)' is listed twice")
                }
                try self.checkMulticastClash(parsed, against: configuration.cameras, file: file)
                configuration.cameras.append(parsed)
            }
        }
        if let tls = table["tls"] {
            guard let tls = tls.table else { throw problem("[tls] must be a table") }
            try self.checkKeys(tls, allowed: ["certificate", "private_key", "port"], at: "[tls]", file: file)
            guard let certificate = tls["certificate"]?.string, let key = tls["private_key"]?.string else {
                throw problem("[tls] needs certificate and private_key (PEM files)")
            }
            func resolve(_ path: String) -> String {
                path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
            }
            configuration.tls = .init(
                certificateChainPath: resolve(certificate),
                privateKeyPath: resolve(key),
                port: try self.integer(tls, "port", 0...65535, "[tls]", file) ?? 8322
            )
        }
        if let users = table["user"] {
            guard let array = users.array else { throw problem("user must be an array of tables ([[user]])") }
            for (index, element) in array.enumerated() {
                guard let user = element.table else { throw problem("user #\(index + 1) must be a table") }
                let parsed = try self.user(user, index: index, file: file)
                guard !configuration.access.users.contains(where: { $0.name == parsed.name }) else {
                    throw problem("user '\(parsed.name)' is listed twice")
                }
                configuration.access.users.append(parsed)
            }
        }
        return configuration
    }

    /// A VMS user: HA1 digests only (`camgw hash-password` makes them), the streams it may read, and optionally
    /// the networks it may connect from.
    private static func user(_ table: TOMLTable, index: Int, file: String) throws(Problem) -> ReaderAccessPolicy.User {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            table,
            allowed: ["name", "ha1_md5", "ha1_sha256", "streams", "sources", "password"],
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
                text.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
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

    private static func camera(
        _ table: TOMLTable,
        index: Int,
        file: String,
        directory: String,
        environment: [String: String]
    ) throws(Problem) -> RelayConfiguration.Camera {
        let label = "camera #\(index + 1)"
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            table,
            allowed: [
                "name", "address", "port", "transport", "on_demand", "linger", "username", "password_file",
                "password_env", "password", "stream", "tls_fingerprint", "backchannel",
            ],
            at: label,
            file: file
        )
        guard let name = table["name"]?.string, StreamPath.isName(name) else {
            throw problem("\(label): name must be 1–64 characters of A–Z a–z 0–9 . _ -")
        }
        guard let address = table["address"]?.string, !address.isEmpty, !address.contains("/"), !address.contains(" ")
        else {
            throw problem("camera '\(name)': address must be a host name or IP address")
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
        if let backchannel = try self.boolean(table, "backchannel", place, file) {
            guard !backchannel || camera.transport == .tcp else {
                throw problem("camera '\(name)': backchannel needs transport = \"tcp\" (it is interleaved on RTSP)")
            }
            camera.backchannel = backchannel
        }
        if table["password"] != nil {
            throw problem("camera '\(name)': inline password refused; use password_file (mode 0600) or password_env")
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
            guard let user = username.string, !user.isEmpty else {
                throw problem("camera '\(name)': username must be a string")
            }
            camera.username = user
            if let file = table["password_file"]?.string {
                let path = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
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
        return camera
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

    private static func integer(
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

    private static func seconds(
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

    private static func boolean(
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

    private static func checkKeys(
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
