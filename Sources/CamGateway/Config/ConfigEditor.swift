import TOMLKit

/// Edits of the configuration text, one `[[camera]]` or `[[user]]` block at a time: the block is located by the
/// camera's (user's) name, only the lines of what changes are rewritten, and every other line of the file stays
/// byte for byte, comments included. The result is validated whole by the caller before it is written.
struct ConfigEditor {
    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    /// What `camera add` and `camera set` give; nil leaves a setting as it is (`add`: absent from the file).
    struct CameraChanges {
        var address: String?
        var port: Int?
        var mac: String?
        var onvifPort: Int?
        var gatewayONVIFPort: Int?
        var username: String?
        var passwordFile: String?
        var transport: String?
        var onDemand: Bool?
        var policy: [String]?
        var backchannel: Bool?
        var streams: [(name: String, path: String)]?

        /// The settings in file order, as `key = value` lines.
        var lines: [(key: String, value: String)] {
            var lines: [(String, String)] = []
            if let address { lines.append(("address", TOMLText.string(address))) }
            if let port { lines.append(("port", String(port))) }
            if let mac { lines.append(("mac", TOMLText.string(mac))) }
            if let onvifPort { lines.append(("onvif_port", String(onvifPort))) }
            if let gatewayONVIFPort { lines.append(("gateway_onvif_port", String(gatewayONVIFPort))) }
            if let username { lines.append(("username", TOMLText.string(username))) }
            if let passwordFile { lines.append(("password_file", TOMLText.string(passwordFile))) }
            if let transport { lines.append(("transport", TOMLText.string(transport))) }
            if let onDemand { lines.append(("on_demand", String(onDemand))) }
            if let policy { lines.append(("policy", TOMLText.array(policy))) }
            if let backchannel { lines.append(("backchannel", String(backchannel))) }
            return lines
        }
    }

    struct UserChanges {
        var ha1MD5: String?
        var ha1SHA256: String?
        var streams: [String]?
        var sources: [String]?
        var onvifPasswordFile: String?

        var lines: [(key: String, value: String)] {
            var lines: [(String, String)] = []
            if let onvifPasswordFile { lines.append(("onvif_password_file", TOMLText.string(onvifPasswordFile))) }
            if let ha1MD5 { lines.append(("ha1_md5", TOMLText.string(ha1MD5))) }
            if let ha1SHA256 { lines.append(("ha1_sha256", TOMLText.string(ha1SHA256))) }
            if let streams { lines.append(("streams", TOMLText.array(streams))) }
            if let sources { lines.append(("sources", TOMLText.array(sources))) }
            return lines
        }
    }

    private(set) var document: ConfigDocument
    private let cameraNames: [String]
    private let userNames: [String]
    private let recorderNames: [String]
    /// Each recorder's channel cameras (their names as the configuration derives them), for a clear refusal when
    /// an edit names one as if it were a camera of its own.
    private let channelOwners: [String: String]

    init(text: String) throws(Refused) {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw Refused(description: "the file does not parse: \(error)")
        }
        self.document = ConfigDocument(text: text)
        func names(_ key: String) -> [String] {
            table[key]?.array.map { $0.compactMap { $0.table?["name"]?.string ?? "" } } ?? []
        }
        self.cameraNames = names("camera")
        self.userNames = names("user")
        self.recorderNames = names("recorder")
        var owners: [String: String] = [:]
        if let configuration = try? GatewayConfig.parse(text, file: "-", readSecrets: false) {
            for recorder in configuration.recorders {
                for camera in recorder.cameras { owners[camera] = recorder.name }
            }
        }
        self.channelOwners = owners
    }

    var text: String { self.document.text }
    var cameras: [String] { self.cameraNames }
    var users: [String] { self.userNames }

    // MARK: Cameras

    mutating func addCamera(_ name: String, _ changes: CameraChanges) throws(Refused) {
        guard !self.cameraNames.contains(name) else { throw Refused(description: "camera '\(name)' exists already") }
        guard !self.recorderNames.contains(name) else {
            throw Refused(description: "'\(name)' is a recorder already")
        }
        var block = ["[[camera]]", "name = \(TOMLText.string(name))"]
        block += changes.lines.map { "\($0.key) = \($0.value)" }
        block += Self.streamLines(changes.streams ?? [])
        self.document.append(block)
    }

    mutating func setCamera(_ name: String, _ changes: CameraChanges) throws(Refused) {
        if self.recorderNames.contains(name) {
            guard changes.streams == nil else {
                throw Refused(description: "'\(name)' is a recorder: its streams are set by style, streams and paths")
            }
            var block = try self.block("recorder", name, in: self.recorderNames)
            for (key, value) in changes.lines {
                try self.set(key, to: value, in: &block, subTable: "recorder.channel")
            }
            return
        }
        try self.refuseChannel(name)
        var block = try self.block("camera", name, in: self.cameraNames)
        for (key, value) in changes.lines {
            try self.set(key, to: value, in: &block, subTable: "camera.stream")
        }
        if let streams = changes.streams {
            let firstStream =
                self.document.headers.first {
                    $0.line > block.start && $0.line < block.end && $0.name == "camera.stream"
                }?.line ?? block.end
            let range = ConfigDocument.Block(name: "camera", start: firstStream, end: block.end)
            self.document.replace(range, with: Self.streamLines(streams))
        }
    }

    mutating func removeCamera(_ name: String) throws(Refused) {
        if self.recorderNames.contains(name) {
            self.document.remove(try self.block("recorder", name, in: self.recorderNames))
            return
        }
        try self.refuseChannel(name)
        self.document.remove(try self.block("camera", name, in: self.cameraNames))
    }

    /// `[[recorder]]` with its channels as a range (`1-16`); the channel cameras are `<name>-01` …
    mutating func addRecorder(
        _ name: String,
        style: String,
        channels: String,
        _ changes: CameraChanges
    ) throws(Refused) {
        guard !self.recorderNames.contains(name) else {
            throw Refused(description: "recorder '\(name)' exists already")
        }
        guard !self.cameraNames.contains(name) else { throw Refused(description: "'\(name)' is a camera already") }
        var block = [
            "[[recorder]]", "name = \(TOMLText.string(name))", "style = \(TOMLText.string(style))",
            "channels = \(TOMLText.string(channels))",
        ]
        block += changes.lines.map { "\($0.key) = \($0.value)" }
        self.document.append(block)
    }

    private func refuseChannel(_ name: String) throws(Refused) {
        if let recorder = self.channelOwners[name], !self.cameraNames.contains(name) {
            throw Refused(
                description: "'\(name)' is a channel of recorder '\(recorder)': edit the recorder "
                    + "(camgw camera set \(recorder) …), or its [[recorder.channel]] entry by hand"
            )
        }
    }

    static func streamLines(_ streams: [(name: String, path: String)]) -> [String] {
        streams.flatMap { stream in
            [
                "", "  [[camera.stream]]", "  name = \(TOMLText.string(stream.name))",
                "  path = \(TOMLText.string(stream.path))",
            ]
        }
    }

    // MARK: Users

    mutating func addUser(_ name: String, _ changes: UserChanges) throws(Refused) {
        guard !self.userNames.contains(name) else { throw Refused(description: "user '\(name)' exists already") }
        self.document.append(
            ["[[user]]", "name = \(TOMLText.string(name))"] + changes.lines.map { "\($0.key) = \($0.value)" }
        )
    }

    mutating func setUser(_ name: String, _ changes: UserChanges) throws(Refused) {
        var block = try self.block("user", name, in: self.userNames)
        for (key, value) in changes.lines { try self.set(key, to: value, in: &block, subTable: nil) }
    }

    mutating func removeUser(_ name: String) throws(Refused) {
        self.document.remove(try self.block("user", name, in: self.userNames))
    }

    // MARK: Lines

    private func block(_ kind: String, _ name: String, in names: [String]) throws(Refused) -> ConfigDocument.Block {
        guard let index = names.firstIndex(of: name) else { throw Refused(description: "no \(kind) named '\(name)'") }
        guard let blocks = self.document.blocks(of: kind, count: names.count) else {
            throw Refused(
                description: "the file writes its \(kind)s in a form camgw does not edit (only [[\(kind)]] tables); "
                    + "edit it by hand"
            )
        }
        return blocks[index]
    }

    /// Replaces the `key = …` line of the block's own table, or adds one after its last setting.
    private mutating func set(
        _ key: String,
        to value: String,
        in block: inout ConfigDocument.Block,
        subTable: String?
    ) throws(Refused) {
        // The block's own keys end at its first sub-table, whichever (`[[recorder.channel]]`, `[recorder.paths]`).
        let ownEnd =
            subTable.flatMap { _ in
                self.document.headers.first {
                    $0.line > block.start && $0.line < block.end && $0.name.hasPrefix(block.name + ".")
                }?.line
            } ?? block.end
        let lines = self.document.lines
        for index in (block.start + 1)..<ownEnd where Self.key(of: lines[index]) == key {
            // A value continued on the next lines (a multi-line array or string) is not rewritten piecemeal.
            let trimmed = lines[index].split(separator: "#", maxSplits: 1)[0]
            guard trimmed.filter({ $0 == "[" }).count == trimmed.filter({ $0 == "]" }).count,
                !trimmed.contains("\"\"\"")
            else {
                throw Refused(description: "'\(key)' spans several lines in the file; edit it by hand")
            }
            let indent = lines[index].prefix { $0 == " " || $0 == "\t" }
            self.document.replace(
                .init(name: key, start: index, end: index + 1),
                with: ["\(indent)\(key) = \(value)"]
            )
            return
        }
        var insertAt = ownEnd
        while insertAt > block.start + 1, ConfigDocument.isBlankOrComment(lines[insertAt - 1]) { insertAt -= 1 }
        self.document.replace(.init(name: key, start: insertAt, end: insertAt), with: ["\(key) = \(value)"])
        block.end += 1
    }

    /// The key of a `key = value` line.
    static func key(of line: String) -> String? {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        guard let equals = trimmed.firstIndex(of: "="), !trimmed.hasPrefix("#"), !trimmed.hasPrefix("[") else {
            return nil
        }
        let key = trimmed[..<equals].filter { $0 != " " && $0 != "\t" }
        return key.isEmpty ? nil : String(key)
    }
}

/// TOML literals as `camgw` writes them.
enum TOMLText {
    /// A basic string (TOML 1.0 §String) with `"`, `\` and control characters escaped.
    static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16, uppercase: true)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func array(_ values: [String]) -> String {
        "[" + values.map(Self.string).joined(separator: ", ") + "]"
    }
}
