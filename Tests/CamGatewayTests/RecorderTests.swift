import CameraSimulator
import Foundation
import RTSPRelay
import TestSupport
import Testing

/// A 16-channel recorder (the simulator's NVR mode: one address, one RTSP server with every channel's paths, one
/// ONVIF endpoint listing every channel's profiles) behind the real daemon: every channel decodes with ffmpeg
/// through its gateway URL, each channel's virtual ONVIF device shows a real ONVIF client (onvif-zeep-async)
/// that channel alone and refuses another channel's token before the recorder sees it, the recorder holds one
/// session per channel stream however many readers watch it, and status and metrics count 16 cameras on one
/// device.
@Suite(.enabled(if: ExternalTool.peerPython != nil, "needs .build-venv with onvif-zeep-async: run scripts/test.sh"))
struct RecorderTests {
    struct Device: Decodable {
        var profiles: [String]
        var profile_sources: [String]
        var video_sources: [String]
        var stream_uri: String?
        var foreign: String
        var empty: String
    }

    struct Status: Decodable {
        struct Camera: Decodable {
            var name: String
            var device: String
        }
        var cameras: [Camera]
        var devices: [String: Int]
    }

    static func padded(_ channel: Int) -> String { channel < 10 ? "0\(channel)" : "\(channel)" }

    @Test func sixteenChannelsBehindTheGateway() async throws {
        let layout = CameraSimulator.Recorder(channels: 16, style: .hikvision)
        var cameraConfiguration = CameraSimulator.Configuration()
        cameraConfiguration.recorder = layout
        cameraConfiguration.path = layout.path(channel: 1, stream: 1)
        cameraConfiguration.credentials = .init(username: "admin", password: "Nvr-Pass-5")
        let recorder = try CameraSimulator(configuration: cameraConfiguration)
        try await recorder.start()
        var onvifConfiguration = ONVIFCameraSimulator.Configuration.recorder(
            layout,
            rtspBase: "rtsp://127.0.0.1:\(recorder.port)"
        )
        onvifConfiguration.username = "admin"
        onvifConfiguration.password = "Nvr-Pass-5"
        let onvif = ONVIFCameraSimulator(configuration: onvifConfiguration)
        try await onvif.start()
        // Every reader here comes from 127.0.0.1: 32 test readers and 4 ffmpeg at a time pass the default
        // per-source bound, which is for a VMS address, not for a test's one loopback.
        let site = try AdminCLITests.Site(
            AdminCLITests.Site.initial.replacingOccurrences(
                of: "listen = \"127.0.0.1\"\nport = 0\n",
                with: "listen = \"127.0.0.1\"\nport = 0\nmax_connections_per_source = 64\n"
            ) + """

                [[recorder]]
                name = "nvr"
                address = "127.0.0.1"
                port = \(recorder.port)
                onvif_port = \(onvif.port)
                username = "admin"
                password_file = "nvr.password"
                style = "hikvision"
                channels = "1-16"
                on_demand = true
                gateway_onvif_port = 0

                """
        )
        try "Nvr-Pass-5\n".write(
            to: site.directory.appendingPathComponent("nvr.password"),
            atomically: true,
            encoding: .utf8
        )
        var gateway: GatewayProcess?
        var readers: [TestRTSPClient] = []
        do {
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "*", "--password-stdin", "--onvif"],
                input: "Vms-Nvr-8\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            let check = try await site.camgw(["check"])
            #expect(check.status == 0, "\(check.stderr)")
            let list = try await site.camgw(["camera", "list"])
            #expect(list.stdout.contains("recorder nvr, channel 16"), "\(list.stdout)")

            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let rtspURL = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/nvr-16/sub")
            let rtspPort = try #require(Int(rtspURL.split(separator: ":")[2].split(separator: "/")[0]))
            var onvifPorts: [Int] = []
            for channel in 1...16 {
                let line = try await daemon.waitForOutput(
                    matching: "onvif: http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service nvr-\(Self.padded(channel))\\b"
                )
                onvifPorts.append(try #require(Int(line.split(separator: ":")[3].split(separator: "/")[0])))
            }
            #expect(Set(onvifPorts).count == 16)

            // Each channel's device, through a real ONVIF client: its own profiles and source only.
            let result = try await ExternalTool.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("onvif_channels.py"), "--host", "127.0.0.1"]
                    + onvifPorts.flatMap { ["--port", String($0)] }
                    + ["--user", "vms", "--password", "Vms-Nvr-8", "--foreign", "Profile_101"],
                timeout: 120
            )
            #expect(result.status == 0, "\(result.stderr)\n\(daemon.stderr.suffix(3000))")
            let devices = try JSONDecoder().decode([String: Device].self, from: Data(result.stdout.utf8))
            for (index, port) in onvifPorts.enumerated() {
                let channel = index + 1
                let device = try #require(devices[String(port)])
                #expect(device.profiles == ["Profile_\(channel)01", "Profile_\(channel)02"], "channel \(channel)")
                #expect(device.video_sources == ["VideoSource_\(channel)"], "channel \(channel)")
                #expect(device.profile_sources == ["VideoSource_\(channel)"], "channel \(channel)")
                #expect(device.stream_uri == "rtsp://127.0.0.1:\(rtspPort)/nvr-\(Self.padded(channel))/main")
                #expect(device.empty.hasPrefix("refused"), "channel \(channel): \(device.empty)")
                if channel == 1 {
                    #expect(device.foreign.hasSuffix("/nvr-01/main"))
                } else {
                    #expect(device.foreign.hasPrefix("refused"), "channel \(channel): \(device.foreign)")
                }
            }
            // The refused calls never reached the recorder: one GetStreamUri per device, and channel 1's own.
            #expect(onvif.received("media:GetStreamUri") == 17, "\(onvif.allReceived)")
            #expect(daemon.stderr.contains("ONVIF call refused: a token that is not this channel's"))

            // Two readers on every channel's main stream: the recorder serves one session per stream in use.
            for channel in 1...16 {
                for _ in 0..<2 {
                    let reader = try await TestRTSPClient.connect(
                        port: rtspPort,
                        authenticator: ClientAuthenticator(username: "vms", password: "Vms-Nvr-8")
                    )
                    readers.append(reader)
                    _ = try await reader.play(
                        "rtsp://127.0.0.1:\(rtspPort)/nvr-\(Self.padded(channel))/main",
                        timeout: .seconds(10)
                    )
                }
            }
            for reader in readers { _ = try await reader.interleavedFrames(count: 5, timeout: .seconds(15)) }

            // ffmpeg decodes every channel through its gateway URL, four at a time, beside those readers.
            for group in stride(from: 1, through: 16, by: 4) {
                try await withThrowingTaskGroup(of: (Int, ExternalTool.Result).self) { tasks in
                    for channel in group..<(group + 4) {
                        tasks.addTask {
                            let play = try await ExternalTool.run(
                                "ffmpeg",
                                [
                                    "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                                    "rtsp://vms:Vms-Nvr-8@127.0.0.1:\(rtspPort)/nvr-\(Self.padded(channel))/main",
                                    "-frames:v", "10", "-f", "null", "-",
                                ],
                                timeout: 60
                            )
                            return (channel, play)
                        }
                    }
                    for try await (channel, play) in tasks {
                        #expect(play.status == 0, "channel \(channel): \(play.stderr)")
                    }
                }
            }
            let active = recorder.activeSessionsByPath
            let opened = recorder.sessionsOpenedByPath
            for channel in 1...16 {
                #expect(active["/Streaming/Channels/\(channel)01"] == 1, "channel \(channel): \(active)")
                #expect(opened["/Streaming/Channels/\(channel)01"] == 1, "channel \(channel): \(opened)")
                #expect((active["/Streaming/Channels/\(channel)02"] ?? 0) == 0, "nobody watches the sub stream")
            }
            #expect(recorder.activeSessions == 16)

            // Status and metrics: 16 cameras, one device.
            let status = try await site.camgw(["status", "--json"])
            #expect(status.status == 0, "\(status.stderr)")
            let parsed = try JSONDecoder().decode(Status.self, from: Data(status.stdout.utf8))
            #expect(parsed.cameras.count == 16)
            #expect(parsed.cameras.allSatisfy { $0.device == "nvr" })
            #expect(parsed.devices == ["recorder": 1])
            let table = try await site.camgw(["status"])
            #expect(table.stdout.contains("16 camera(s) on 1 device(s), 1 of them recorder(s)"), "\(table.stdout)")
            let metricsURL = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/metrics")
            let metrics = try await ExternalTool.run("curl", ["-sf", metricsURL], timeout: 10)
            let values = LiveReloadTests.parse(metrics.stdout)
            #expect(values["camgw_cameras"] == 16, "\(metrics.stdout.prefix(2000))")
            #expect(values["camgw_devices{kind=\"recorder\"}"] == 1)
            #expect(values["camgw_devices{kind=\"camera\"}"] == 0)
            #expect(values["camgw_readers{camera=\"nvr-07\",stream=\"main\"}"] == 2)
            #expect(daemon.isRunning)
        } catch {
            Issue.record(error)
        }
        for reader in readers { await reader.close() }
        if let gateway { _ = await gateway.terminate() }
        try? await onvif.stop()
        try? await recorder.stop()
        site.remove()
    }

    /// A Dahua recorder added with the CLI alone: `camera add --recorder dahua` without `--channels` asks the
    /// recorder's ONVIF profiles how many it has, and a channel's sub stream plays through the gateway from the
    /// recorder's `channel=N&subtype=1` path.
    @Test func aDahuaRecorderAddedFromItsONVIFProfiles() async throws {
        let layout = CameraSimulator.Recorder(channels: 4, style: .dahua)
        var cameraConfiguration = CameraSimulator.Configuration()
        cameraConfiguration.recorder = layout
        cameraConfiguration.path = layout.path(channel: 1, stream: 1)
        cameraConfiguration.credentials = .init(username: "admin", password: "Xvr-Pass-6")
        let recorder = try CameraSimulator(configuration: cameraConfiguration)
        try await recorder.start()
        var onvifConfiguration = ONVIFCameraSimulator.Configuration.recorder(
            layout,
            rtspBase: "rtsp://127.0.0.1:\(recorder.port)"
        )
        onvifConfiguration.username = "admin"
        onvifConfiguration.password = "Xvr-Pass-6"
        let onvif = ONVIFCameraSimulator(configuration: onvifConfiguration)
        try await onvif.start()
        let site = try AdminCLITests.Site()
        var gateway: GatewayProcess?
        do {
            let wrong = try await site.camgw(
                [
                    "camera", "add", "xvr", "--address", "127.0.0.1", "--port", String(recorder.port), "--onvif-port",
                    String(onvif.port), "--recorder", "dahua", "--username", "admin", "--password-stdin",
                ],
                input: "not-the-password\n"
            )
            #expect(wrong.status == 65, "\(wrong.stdout)\(wrong.stderr)")
            #expect(wrong.stderr.contains("give --channels 1-N"), "\(wrong.stderr)")
            #expect(!site.text.contains("[[recorder]]"))
            let add = try await site.camgw(
                [
                    "camera", "add", "xvr", "--address", "127.0.0.1", "--port", String(recorder.port), "--onvif-port",
                    String(onvif.port), "--recorder", "dahua", "--username", "admin", "--password-stdin",
                    "--no-always-on",
                ],
                input: "Xvr-Pass-6\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            #expect(add.stdout.contains("recorder 'xvr' added, channels 1-4"), "\(add.stdout)")
            #expect(site.text.contains("channels = \"1-4\""))
            let channel = try await site.camgw(["camera", "set", "xvr-03", "--policy", "ptz"])
            #expect(channel.status == 65)
            #expect(channel.stderr.contains("is a channel of recorder 'xvr'"), "\(channel.stderr)")

            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "xvr-03/*", "--password-stdin"],
                input: "Vms-Xvr-9\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let url = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/xvr-03/sub")
                .replacingOccurrences(of: "rtsp://", with: "rtsp://vms:Vms-Xvr-9@")
            let play = try await ExternalTool.run(
                "ffmpeg",
                ["-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-frames:v", "10", "-f", "null", "-"],
                timeout: 60
            )
            #expect(play.status == 0, "\(play.stderr)\n\(daemon.stderr.suffix(2000))")
            #expect(
                recorder.sessionsOpenedByPath["/cam/realmonitor?channel=3&subtype=1"] == 1,
                "\(recorder.sessionsOpenedByPath)"
            )
            #expect(recorder.sessionsOpenedByPath.count == 1)

            let remove = try await site.camgw(["camera", "remove", "xvr"])
            #expect(remove.status == 0, "\(remove.stderr)")
            #expect(!site.text.contains("[[recorder]]"))
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        try? await onvif.stop()
        try? await recorder.stop()
        site.remove()
    }
}
