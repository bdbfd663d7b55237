import Foundation
import RTSPRelay
import TOMLKit

/// `[[recorder]]`: an NVR's channels, each read into a camera of its own.
///
/// ```toml
/// [[recorder]]
/// name = "nvr"
/// address = "192.0.2.20"
/// mac = "00:11:22:aa:bb:cc"
/// username = "admin"
/// password_file = "secrets/nvr"
/// style = "hikvision"            # or "dahua"; or paths = { main = "/ch{channel}/main" }
/// channels = "1-16"              # or [1, 2, 5]
/// streams = ["main", "sub"]      # the default
/// gateway_onvif_port = 8101      # channel n's virtual device: this + its position; 0: free ports
///
///   [[recorder.channel]]         # optional: a channel's own name or video source
///   number = 3
///   name = "loading-dock"
/// ```
///
/// Each channel becomes a camera table (`<recorder>-NN` unless named) and goes through exactly the checks a
/// `[[camera]]` does, so a recorder can never hold what a camera may not.
extension GatewayConfig {
    struct RecorderChannel {
        var number: Int
        var videoSource: String?
        var table: TOMLTable
    }

    /// The most channels one recorder may have: the largest NVRs have 256.
    static let maxRecorderChannels = 256

    /// The keys a recorder passes to every channel's camera table as they are.
    private static let sharedCameraKeys = [
        "address", "port", "transport", "on_demand", "linger", "username", "password_file", "password_env",
        "tls_fingerprint", "mac", "onvif_port", "policy", "allow_plaintext_basic", "allow_unchecked_codecs",
        "keep_sei",
    ]

    static func recorder(
        _ table: TOMLTable,
        index: Int,
        file: String
    ) throws(Problem) -> (RecorderSettings, [RecorderChannel]) {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: reason) }
        try self.checkKeys(
            table,
            allowed: Set(Self.sharedCameraKeys).union([
                "name", "style", "paths", "channels", "streams", "channel", "gateway_onvif_port", "password",
            ]),
            at: "recorder #\(index + 1)",
            file: file
        )
        // Leaves room for the `-NN` suffix within a camera name's 64 characters.
        guard let name = table["name"]?.string, StreamPath.isName(name), name.utf8.count <= 60 else {
            throw problem("recorder #\(index + 1): name must be 1–60 characters of A–Z a–z 0–9 . _ -")
        }
        let place = "recorder '\(name)'"
        if table["password"] != nil {
            throw problem("\(place): inline password refused; use password_file or password_env")
        }
        guard let address = table["address"]?.string, Self.isHostOrAddress(address) else {
            throw problem("\(place): address must be an IP address or a host name")
        }
        let numbers = try self.channelNumbers(table["channels"], place: place, file: file)
        let streams = try self.recorderStreams(table, place: place, file: file)
        let base = try self.integer(table, "gateway_onvif_port", 0...65535, place, file)
        if let base, base != 0, base + numbers.count - 1 > 65535 {
            throw problem("\(place): gateway_onvif_port \(base) + \(numbers.count) channels passes port 65535")
        }

        var overrides: [Int: TOMLTable] = [:]
        for element in table["channel"]?.array ?? TOMLArray() {
            guard let channel = element.table else { throw problem("\(place): channel must be a table") }
            try self.checkKeys(
                channel,
                allowed: ["number", "name", "video_source", "gateway_onvif_port", "policy"],
                at: "\(place) channel",
                file: file
            )
            guard let number = channel["number"]?.int, numbers.contains(number) else {
                throw problem("\(place): channel number must be one of its channels (\(numbers.count) listed)")
            }
            guard overrides[number] == nil else { throw problem("\(place): channel \(number) is listed twice") }
            if let source = channel["video_source"] {
                guard let token = source.string, !token.isEmpty, token.utf8.count <= 64, Self.isPrintable(token) else {
                    throw problem(
                        "\(place) channel \(number): video_source must be the recorder's token, 1–64 characters"
                    )
                }
            }
            overrides[number] = channel
        }

        var channels: [RecorderChannel] = []
        for (position, number) in numbers.enumerated() {
            let override = overrides[number]
            let camera = TOMLTable()
            for key in Self.sharedCameraKeys {
                if let value = table[key] { camera[key] = value }
            }
            let padded = number < 10 ? "0\(number)" : "\(number)"
            if let value = override?["name"] {
                camera["name"] = value
            } else {
                camera["name"] = "\(name)-\(padded)"
            }
            if let value = override?["policy"] { camera["policy"] = value }
            if let value = override?["gateway_onvif_port"] {
                camera["gateway_onvif_port"] = value
            } else if let base {
                camera["gateway_onvif_port"] = base == 0 ? 0 : base + position
            }
            camera["stream"] = TOMLArray(
                streams.map { stream in
                    TOMLTable(["name": stream.name, "path": stream.path(number)]) as TOMLValueConvertible
                }
            )
            channels.append(
                RecorderChannel(number: number, videoSource: override?["video_source"]?.string, table: camera)
            )
        }
        let settings = RecorderSettings(
            name: name,
            address: address,
            channels: numbers,
            cameras: channels.compactMap { $0.table["name"]?.string }
        )
        return (settings, channels)
    }

    /// `"1-16"`, `"1-4,9"` or `[1, 2, 5]`: distinct channel numbers 1–999, at most 256 of them, in order given.
    private static func channelNumbers(
        _ value: TOMLValueConvertible?,
        place: String,
        file: String
    ) throws(Problem) -> [Int] {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: "\(place): \(reason)") }
        let usage = "channels must be a list such as \"1-16\", \"1-4,9\" or [1, 2, 5] (numbers 1–999)"
        var numbers: [Int] = []
        func add(_ number: Int) throws(Problem) {
            guard (1...999).contains(number) else { throw problem(usage) }
            guard !numbers.contains(number) else { throw problem("channel \(number) is listed twice") }
            guard numbers.count < Self.maxRecorderChannels else {
                throw problem("at most \(Self.maxRecorderChannels) channels")
            }
            numbers.append(number)
        }
        if let text = value?.string {
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                let bounds = part.trimmingCharacters(in: .whitespaces).split(
                    separator: "-",
                    omittingEmptySubsequences: false
                )
                // Digits only: `Int("+3")` would take a sign, and a range of millions would be a loop.
                guard (1...2).contains(bounds.count),
                    bounds.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                    let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]), low <= high
                else { throw problem(usage) }
                for number in low...high { try add(number) }
            }
        } else if let array = value?.array {
            for element in array {
                guard let number = element.int else { throw problem(usage) }
                try add(number)
            }
        } else {
            throw problem(usage)
        }
        guard !numbers.isEmpty else { throw problem(usage) }
        return numbers
    }

    private struct RecorderStream {
        var name: String
        var path: (Int) -> String
    }

    /// The streams every channel has, and the recorder's path for each: by `style`, or by `paths` templates.
    private static func recorderStreams(
        _ table: TOMLTable,
        place: String,
        file: String
    ) throws(Problem) -> [RecorderStream] {
        func problem(_ reason: String) -> Problem { Problem(file: file, line: nil, reason: "\(place): \(reason)") }
        var names = ["main", "sub"]
        if let value = table["streams"] {
            guard let array = value.array, !array.isEmpty else {
                throw problem("streams must be a list of stream names such as [\"main\", \"sub\"]")
            }
            names = []
            for element in array {
                guard let stream = element.string, StreamPath.isName(stream) else {
                    throw problem("stream names must be 1–64 characters of A–Z a–z 0–9 . _ -")
                }
                guard !names.contains(stream) else { throw problem("stream '\(stream)' is listed twice") }
                names.append(stream)
            }
        }
        if let value = table["paths"] {
            guard table["style"] == nil else { throw problem("style and paths exclude each other") }
            guard let paths = value.table else {
                throw problem("paths must be a table such as { main = \"/ch{channel}/main\" }")
            }
            for key in paths.keys where !names.contains(key) {
                throw problem("paths names stream '\(key)', which is not in streams")
            }
            return try names.map { (name) throws(Problem) -> RecorderStream in
                guard let template = paths[name]?.string, template.hasPrefix("/"), template.contains("{channel}"),
                    RTSPURL("rtsp://h" + template.replacingOccurrences(of: "{channel}", with: "1")) != nil
                else {
                    throw problem(
                        "paths.\(name) must be a URL path with {channel} in it, such as \"/ch{channel}/\(name)\""
                    )
                }
                return RecorderStream(name: name) { template.replacingOccurrences(of: "{channel}", with: "\($0)") }
            }
        }
        guard let text = table["style"]?.string, let style = RecorderSettings.Style(rawValue: text) else {
            throw problem(
                "style must be \"hikvision\" or \"dahua\" (or give paths = { main = \"/ch{channel}/main\" })"
            )
        }
        // Both firmwares number a channel's streams: main, sub, then a third.
        let order = ["main", "sub", "third"]
        return try names.map { (name) throws(Problem) -> RecorderStream in
            guard let position = order.firstIndex(of: name) else {
                throw problem("style \(style.rawValue) has streams main, sub and third; use paths for '\(name)'")
            }
            switch style {
            case .hikvision:
                return RecorderStream(name: name) { "/Streaming/Channels/\($0)0\(position + 1)" }
            case .dahua:
                return RecorderStream(name: name) { "/cam/realmonitor?channel=\($0)&subtype=\(position)" }
            }
        }
    }
}
