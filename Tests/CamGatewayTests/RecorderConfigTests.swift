import Foundation
import ONVIF
import Testing

@testable import CamGateway

/// `[[recorder]]` as the admin writes it and as a typo or a hostile edit would: one recorder becomes one camera
/// per channel with the vendor's paths, one device in the egress lock and its report, and every malformed
/// recorder is refused with its line while the rest of the file still reads.
@Suite struct RecorderConfigTests {
    static let header = """
        [appliance]
        camera_interface = "cam0"
        camera_side_address = "192.0.2.1"

        """

    static let nvr = """
        [[recorder]]
        name = "nvr"
        address = "192.0.2.20"
        mac = "00:11:22:AA:BB:20"
        style = "hikvision"
        channels = "1-16"
        gateway_onvif_port = 8100
        """

    static let lobby = """
        [[camera]]
        name = "lobby"
        address = "192.0.2.10"
        mac = "00:11:22:aa:bb:10"
          [[camera.stream]]
          name = "main"
          path = "/main"
        """

    static func parse(_ text: String) throws -> GatewayConfiguration {
        try GatewayConfig.parse(Self.header + text, file: "gw.toml", readSecrets: false)
    }

    /// The problems of a refused file, as `camgw check` prints them.
    static func problems(_ text: String) -> [String] {
        do {
            _ = try Self.parse(text)
            return []
        } catch let problems as GatewayConfig.Problems {
            return problems.all.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test func aHikvisionRecorderBecomesOneCameraPerChannel() throws {
        let configuration = try Self.parse(Self.nvr + "\n" + Self.lobby)
        let channels = configuration.relay.cameras.filter { $0.name.hasPrefix("nvr-") }
        #expect(channels.map(\.name) == (1...16).map { $0 < 10 ? "nvr-0\($0)" : "nvr-\($0)" })
        #expect(channels.allSatisfy { $0.host == "192.0.2.20" })
        #expect(channels[0].streams.map(\.path) == ["/Streaming/Channels/101", "/Streaming/Channels/102"])
        #expect(channels[15].streams.map(\.path) == ["/Streaming/Channels/1601", "/Streaming/Channels/1602"])
        #expect(channels.map { configuration.cameras[$0.name]?.gatewayONVIFPort } == (8100...8115).map { $0 })
        #expect(configuration.cameras["nvr-07"]?.channel == 7)
        #expect(configuration.cameras["nvr-07"]?.mac == "00:11:22:aa:bb:20")
        #expect(configuration.device(of: "nvr-07") == "nvr")
        #expect(configuration.device(of: "lobby") == "lobby")
        let devices = configuration.devices
        #expect(devices.map(\.name) == ["lobby", "nvr"])
        #expect(devices.map(\.kind) == ["camera", "recorder"])
        #expect(devices[1].cameras.count == 16)

        // The lock binds the recorder's address and MAC once, whatever its channel count.
        let elements = try FirewallElements(configuration)
        #expect(elements[.cameras] == ["192.0.2.10", "192.0.2.20"])
        #expect(elements[.cameraMACs] == ["192.0.2.10 . 00:11:22:aa:bb:10", "192.0.2.20 . 00:11:22:aa:bb:20"])

        // The phone-home report is per device: one row for the recorder, with all its channels.
        let report = EgressReport(configuration: configuration, names: [:], sets: [])
        #expect(report.cameras.map(\.camera) == ["lobby", "nvr"])
        #expect(report.cameras[1].cameras.count == 16)
        #expect(report.device(of: "nvr-16") == "nvr")
    }

    @Test func dahuaPathsNamedChannelsAndTheirOwnVideoSource() throws {
        let configuration = try Self.parse(
            """
            [[recorder]]
            name = "xvr"
            address = "192.0.2.30"
            mac = "00:11:22:aa:bb:30"
            style = "dahua"
            channels = [2, 5]
            streams = ["main", "sub", "third"]
              [[recorder.channel]]
              number = 5
              name = "loading-dock"
              video_source = "VideoSource_5"
              gateway_onvif_port = 8200
            """
        )
        #expect(configuration.relay.cameras.map(\.name) == ["xvr-02", "loading-dock"])
        #expect(
            configuration.relay.cameras[1].streams.map(\.path) == [
                "/cam/realmonitor?channel=5&subtype=0", "/cam/realmonitor?channel=5&subtype=1",
                "/cam/realmonitor?channel=5&subtype=2",
            ]
        )
        #expect(configuration.cameras["loading-dock"]?.videoSource == "VideoSource_5")
        #expect(configuration.cameras["loading-dock"]?.gatewayONVIFPort == 8200)
        #expect(configuration.cameras["xvr-02"]?.gatewayONVIFPort == nil)
        #expect(configuration.devices.map(\.name) == ["xvr"])
    }

    static let refusedRecorders: [(String, String)] = [
        ("channels = \"0-3\"", "channels must be a list"),
        ("channels = \"1-1000\"", "channels must be a list"),
        ("channels = \"+3\"", "channels must be a list"),
        ("channels = \"1-3,2\"", "channel 2 is listed twice"),
        ("channels = \"1-200,201-257\"", "at most 256 channels"),
        ("channels = \"3-1\"", "channels must be a list"),
        ("channels = \"\"", "channels must be a list"),
        ("channels = [1, 1.5]", "channels must be a list"),
        ("channels = \"1-99999999999999999999\"", "channels must be a list"),
        ("password = \"admin\"", "inline password refused"),
        ("gateway_onvif_port = 65530", "passes port 65535"),
        ("paths = { main = \"/ch/main\" }", "style and paths exclude each other"),
        ("streams = [\"main\", \"fourth\"]", "use paths for 'fourth'"),
        ("streams = [\"main\", \"main\"]", "stream 'main' is listed twice"),
        ("colour = \"red\"", "colour"),
        ("mac = \"00:11:22\"", "mac must be six hex pairs"),
        ("[[recorder.channel]]\nnumber = 17", "channel number must be one of its channels"),
        ("[[recorder.channel]]\nnumber = 3\n[[recorder.channel]]\nnumber = 3", "channel 3 is listed twice"),
        ("[[recorder.channel]]\nnumber = 3\nvideo_source = \"\"", "video_source must be"),
        ("[[recorder.channel]]\nnumber = 3\nusername = \"other\"", "username"),
    ]

    /// Each bad recorder is refused at its `[[recorder]]` line, and adds no channel: the camera before it reads.
    @Test(arguments: refusedRecorders)
    func aBadRecorderIsRefusedWithItsLine(_ extra: String, _ reason: String) {
        var recorder = Self.nvr.replacingOccurrences(of: "\ngateway_onvif_port = 8100", with: "")
        if extra.hasPrefix("channels =") {
            recorder = recorder.replacingOccurrences(of: "channels = \"1-16\"", with: extra)
        } else if extra.hasPrefix("mac =") {
            recorder = recorder.replacingOccurrences(of: "mac = \"00:11:22:AA:BB:20\"", with: extra)
        } else if extra.hasPrefix("gateway_onvif_port") || extra.hasPrefix("[[") {
            recorder += "\n" + extra
        } else {
            recorder = recorder.replacingOccurrences(
                of: "style = \"hikvision\"",
                with: "style = \"hikvision\"\n" + extra
            )
        }
        let text = Self.lobby + "\n\n" + recorder
        let problems = Self.problems(text)
        let line = (Self.header + text).split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0 == "[[recorder]]" }.map { $0 + 1 }
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.hasPrefix("gw.toml:\(line ?? 0):") == true, "\(problems)")
        #expect(problems.first?.contains(reason) == true, "\(problems)")
    }

    @Test func aRecorderWithoutAMACIsNamedInTheRefusal() {
        let problems = Self.problems(Self.nvr.replacingOccurrences(of: "mac = \"00:11:22:AA:BB:20\"\n", with: ""))
        #expect(
            problems == [
                "gw.toml:4: recorder 'nvr' has no mac; the egress lock binds its address to one (camgw camera set nvr --mac …)"
            ]
        )
    }

    @Test func aRecorderSharesNoNameAndNoAddressWithAnotherMAC() {
        let named = Self.lobby.replacingOccurrences(of: "name = \"lobby\"", with: "name = \"nvr\"")
        #expect(Self.problems(named + "\n" + Self.nvr).contains { $0.contains("a recorder has that name too") })
        // A channel renamed to its own recorder's name, and a recorder named like an earlier recorder's channel.
        let selfNamed = Self.nvr + "\n  [[recorder.channel]]\n  number = 3\n  name = \"nvr\""
        #expect(Self.problems(selfNamed).contains { $0.contains("'nvr': a recorder has that name too") })
        let first = Self.nvr.replacingOccurrences(of: "name = \"nvr\"", with: "name = \"nvr-01\"")
            .replacingOccurrences(of: "\ngateway_onvif_port = 8100", with: "")
        let second = Self.nvr.replacingOccurrences(of: "192.0.2.20", with: "192.0.2.21")
            .replacingOccurrences(of: "\ngateway_onvif_port = 8100", with: "")
            .replacingOccurrences(of: "AA:BB:20", with: "AA:BB:21")
        #expect(Self.problems(first + "\n" + second).contains { $0.contains("a recorder has that name too") })
        // A camera with a channel's name, and one at the recorder's address claiming another MAC.
        let channelName = Self.lobby.replacingOccurrences(of: "name = \"lobby\"", with: "name = \"nvr-03\"")
        #expect(Self.problems(channelName + "\n" + Self.nvr).contains { $0.contains("'nvr-03' is listed twice") })
        let sameAddress = Self.lobby.replacingOccurrences(of: "192.0.2.10", with: "192.0.2.20")
        #expect(Self.problems(sameAddress + "\n" + Self.nvr).contains { $0.contains("already has mac") })
        // Two recorders of one name; two recorders whose ONVIF port ranges overlap.
        #expect(Self.problems(Self.nvr + "\n" + Self.nvr).contains { $0.contains("is listed twice") })
        let overlapping = Self.nvr.replacingOccurrences(of: "name = \"nvr\"", with: "name = \"nvr2\"")
            .replacingOccurrences(of: "8100", with: "8110").replacingOccurrences(of: "192.0.2.20", with: "192.0.2.21")
        #expect(
            Self.problems(Self.nvr + "\n" + overlapping).contains { $0.contains("gateway_onvif_port 8110 is already") }
        )
    }

    /// The CLI edits a recorder as one device: add writes one block, a channel is not edited as a camera, and
    /// remove takes every channel at once.
    @Test func theEditorAddsAndRemovesARecorderAsOneBlock() throws {
        var editor = try ConfigEditor(text: Self.header + Self.lobby + "\n")
        var changes = ConfigEditor.CameraChanges()
        changes.address = "192.0.2.20"
        changes.mac = "00:11:22:aa:bb:20"
        changes.gatewayONVIFPort = 0
        try editor.addRecorder("nvr", style: "dahua", channels: "1-4", changes)
        let configuration = try GatewayConfig.parse(editor.text, file: "gw.toml", readSecrets: false)
        #expect(configuration.relay.cameras.map(\.name) == ["lobby", "nvr-01", "nvr-02", "nvr-03", "nvr-04"])
        var again = try ConfigEditor(text: editor.text)
        #expect(throws: ConfigEditor.Refused.self) { try again.addCamera("nvr", changes) }
        #expect(throws: ConfigEditor.Refused.self) {
            try again.addRecorder("nvr", style: "dahua", channels: "1", changes)
        }

        var reread = try ConfigEditor(text: editor.text)
        var set = ConfigEditor.CameraChanges()
        set.policy = ["ptz"]
        #expect(throws: ConfigEditor.Refused.self) { try reread.setCamera("nvr-02", set) }
        try reread.setCamera("nvr", set)
        let changed = try GatewayConfig.parse(reread.text, file: "gw.toml", readSecrets: false)
        #expect(changed.cameras["nvr-03"]?.policy == [.ptz])
        #expect(throws: ConfigEditor.Refused.self) { try reread.removeCamera("nvr-04") }
        try reread.removeCamera("nvr")
        #expect(try GatewayConfig.parse(reread.text, file: "gw.toml", readSecrets: false).relay.cameras.count == 1)
        #expect(reread.text == Self.header + Self.lobby + "\n")
    }

    /// `camgw discover` tells a recorder by its model number, and reads its channel count from it.
    @Test(arguments: [
        ("HIKVISION", "DS-7616NI-K2", "hikvision", 16),
        ("HIKVISION", "DS-7608NI-I2/8P", "hikvision", 8),
        ("HIKVISION", "DS-9664NI-I8", "hikvision", 64),
        ("Dahua", "DHI-NVR5216-16P-4KS2E", "dahua", 16),
        ("Dahua", "DHI-NVR4104HS-P-4KS2", "dahua", 4),
        ("Dahua", "NVR608-64-4KS2", "dahua", 64),
        ("Dahua", "XVR5108HS", "dahua", 8),
    ])
    func discoverTellsARecorder(_ name: String, _ hardware: String, _ style: String, _ channels: Int) {
        let match = WSDiscovery.Match(
            endpoint: "urn:uuid:1",
            types: [],
            scopes: ["onvif://www.onvif.org/name/\(name)", "onvif://www.onvif.org/hardware/\(hardware)"],
            xAddrs: ["http://192.0.2.20/onvif/device_service"]
        )
        let recorder = DiscoverCommand.recorder(match)
        #expect(recorder?.style == style)
        #expect(recorder?.channels == channels)
        #expect(
            DiscoverCommand.addCommand(address: "192.0.2.20", match: match).contains(
                "--recorder \(style) --channels 1-\(channels)"
            )
        )
    }

    @Test func discoverLeavesACameraACamera() {
        let match = WSDiscovery.Match(
            endpoint: "urn:uuid:2",
            types: [],
            scopes: ["onvif://www.onvif.org/name/HIKVISION", "onvif://www.onvif.org/hardware/DS-2CD2043G2-I"],
            xAddrs: []
        )
        #expect(DiscoverCommand.recorder(match)?.style == nil)
        #expect(DiscoverCommand.addCommand(address: "192.0.2.10", match: match).contains("--stream"))
    }
}
