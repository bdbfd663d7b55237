import CameraSimulator
import Foundation
import ONVIF
import TestSupport
import Testing

/// The virtual ONVIF device with a real ONVIF client (onvif-zeep-async, what Home Assistant uses): device
/// information, profiles and a stream URI through the gateway, ffmpeg plays that URI, and the client's PTZ move
/// and reboot are refused on a read-only camera without ever reaching it.
@Suite(.enabled(if: ExternalTool.peerPython != nil, "needs .build-venv with onvif-zeep-async: run scripts/test.sh"))
struct ONVIFProxyTests {
    struct ClientReport: Decodable {
        var manufacturer: String
        var model: String
        var serial: String
        var profiles: [String]
        var stream_uri: String
        var snapshot_uri: String
        var reboot: String
        var ptz: String
        var ptz_listed: Bool
        var xaddrs: [String: String]
    }

    @Test func onvifClientThroughTheGatewayAndFFmpegPlaysTheURI() async throws {
        let fixtures = Fixtures.root.appendingPathComponent("onvif/hikvision")
        var onvifConfiguration = ONVIFCameraSimulator.Configuration.hikvision(fixtures: fixtures)
        onvifConfiguration.username = "admin"
        onvifConfiguration.password = "Cam-Pass-7"
        onvifConfiguration.clockOffset = -3600  // the camera's clock is an hour behind
        let onvifCamera = ONVIFCameraSimulator(configuration: onvifConfiguration)
        try await onvifCamera.start()
        let site = try AdminCLITests.Site()
        let passwordFile = site.directory.appendingPathComponent("cam.password")
        try "Cam-Pass-7\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let (rtspCamera, rtspPort) = try await GatewayProcess.simulator([
            "--user", "admin", "--password-file", passwordFile.path,
        ])
        var gateway: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "127.0.0.1", "--port", String(rtspPort), "--onvif-port",
                    String(onvifCamera.port), "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "lobby/*", "--password-stdin", "--onvif"],
                input: "Vms-Onvif-8\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let onvifURL = try await daemon.waitForOutput(
                matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service"
            )
            let onvifPort = Int(onvifURL.split(separator: ":")[2].split(separator: "/")[0])!
            let rtspURL = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/lobby/main")

            let result = try await ExternalTool.run(
                ExternalTool.peerPython!,
                [
                    ExternalTool.peerScript("onvif_client.py"), "--host", "127.0.0.1", "--port", String(onvifPort),
                    "--user", "vms", "--password", "Vms-Onvif-8",
                ],
                timeout: 60
            )
            #expect(result.status == 0, "\(result.stderr)\n\(daemon.stderr)")
            let report = try JSONDecoder().decode(ClientReport.self, from: Data(result.stdout.utf8))
            // Forwarded from the camera (the capture's manufacturer and model), the serial replaced.
            #expect(report.manufacturer == "ONVIF")
            #expect(report.model == "ENP1A14-IR/25X")
            #expect(report.serial == VirtualDevice(cameraName: "lobby").serial, "the camera's serial stays behind")
            #expect(!report.profiles.isEmpty)
            #expect(report.stream_uri == rtspURL)
            #expect(report.xaddrs.values.allSatisfy { $0.hasPrefix("http://127.0.0.1:\(onvifPort)/") })
            #expect(!report.xaddrs.keys.contains { $0.contains("imaging") || $0.contains("recording") })
            #expect(report.reboot.hasPrefix("refused"), "\(report.reboot)")
            #expect(!report.ptz_listed)
            #expect(report.ptz.hasPrefix("refused"), "\(report.ptz)")
            #expect(onvifCamera.received("device:SystemReboot") == 0)
            #expect(onvifCamera.allReceived.keys.allSatisfy { !$0.hasPrefix("ptz:") })
            #expect(daemon.stderr.contains("ONVIF call refused by policy"))

            // ffmpeg plays the URI the ONVIF client got, with the VMS account.
            let play = try await ExternalTool.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                    report.stream_uri.replacingOccurrences(of: "rtsp://", with: "rtsp://vms:Vms-Onvif-8@"), "-frames:v",
                    "25", "-f", "null", "-",
                ],
                timeout: 30
            )
            #expect(play.status == 0, "\(play.stderr)")

            // The snapshot proxy fetches exactly the camera's snapshot URL, with the camera's credentials.
            #expect(report.snapshot_uri == "http://127.0.0.1:\(onvifPort)/snapshot/\(report.profiles[0])")
            let snapshot = try await ExternalTool.run(
                "curl",
                ["-sf", "--digest", "-u", "vms:Vms-Onvif-8", "-o", "-", "-w", "%{content_type}", report.snapshot_uri],
                timeout: 20
            )
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(snapshot.stdout.contains("camgw-simulator-snapshot") && snapshot.stdout.hasSuffix("image/jpeg"))
            let anonymous = try await ExternalTool.run(
                "curl",
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", report.snapshot_uri],
                timeout: 20
            )
            #expect(anonymous.stdout == "401")

            // Status and metrics count what the policy refused.
            let status = try await site.camgw(["status", "--json"])
            #expect(status.stdout.contains("\"device:SystemReboot\" : 1"), "\(status.stdout)")
            #expect(status.stdout.contains("\"ptz:ContinuousMove\" : 1"))
            let metricsURL = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/metrics")
            let metrics = try await ExternalTool.run("curl", ["-sf", metricsURL], timeout: 10)
            #expect(
                metrics.stdout.contains(
                    "camgw_onvif_calls_total{camera=\"lobby\",operation=\"device:SystemReboot\",result=\"refused\"} 1"
                )
            )
            #expect(
                metrics.stdout.contains(
                    "camgw_onvif_calls_total{camera=\"lobby\",operation=\"media:GetStreamUri\",result=\"allowed\"} 1"
                )
            )
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        _ = await rtspCamera.terminate()
        try? await onvifCamera.stop()
        site.remove()
    }

    struct ZeepReport: Decodable {
        var manufacturer: String
        var serial: String
        var profiles: [String]
        var stream_uri: String
        var reboot: String
    }

    /// python-onvif-zeep, the synchronous client of many VMS scripts (its own venv: it is the same `onvif`
    /// module as onvif-zeep-async): device information, profiles and the stream URI through the gateway, which
    /// ffmpeg then plays; its reboot is refused and never reaches the camera.
    @Test(.enabled(if: ExternalTool.peerZeepPython != nil, "needs .build-venv-zeep: run scripts/test.sh"))
    func pythonONVIFZeepThroughTheGateway() async throws {
        let fixtures = Fixtures.root.appendingPathComponent("onvif/hikvision")
        var onvifConfiguration = ONVIFCameraSimulator.Configuration.hikvision(fixtures: fixtures)
        onvifConfiguration.username = "admin"
        onvifConfiguration.password = "Cam-Pass-7"
        let onvifCamera = ONVIFCameraSimulator(configuration: onvifConfiguration)
        try await onvifCamera.start()
        let site = try AdminCLITests.Site()
        let passwordFile = site.directory.appendingPathComponent("cam.password")
        try "Cam-Pass-7\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let (rtspCamera, rtspPort) = try await GatewayProcess.simulator([
            "--user", "admin", "--password-file", passwordFile.path,
        ])
        var gateway: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "127.0.0.1", "--port", String(rtspPort), "--onvif-port",
                    String(onvifCamera.port), "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "lobby/*", "--password-stdin", "--onvif"],
                input: "Vms-Onvif-8\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let onvifURL = try await daemon.waitForOutput(
                matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service"
            )
            let onvifPort = Int(onvifURL.split(separator: ":")[2].split(separator: "/")[0])!
            let rtspURL = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/lobby/main")
            let result = try await ExternalTool.run(
                ExternalTool.peerZeepPython!,
                [
                    ExternalTool.peerScript("onvif_zeep_sync.py"), "--host", "127.0.0.1", "--port", String(onvifPort),
                    "--user", "vms", "--password", "Vms-Onvif-8",
                ],
                timeout: 60
            )
            #expect(result.status == 0, "\(result.stderr)\n\(daemon.stderr.suffix(2000))")
            let report = try JSONDecoder().decode(ZeepReport.self, from: Data(result.stdout.utf8))
            #expect(report.manufacturer == "ONVIF")
            #expect(report.serial == VirtualDevice(cameraName: "lobby").serial)
            #expect(!report.profiles.isEmpty)
            #expect(report.stream_uri == rtspURL)
            #expect(report.reboot.hasPrefix("refused"), "\(report.reboot)")
            #expect(onvifCamera.received("device:SystemReboot") == 0)
            let play = try await ExternalTool.run(
                "ffmpeg",
                [
                    "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                    report.stream_uri.replacingOccurrences(of: "rtsp://", with: "rtsp://vms:Vms-Onvif-8@"), "-frames:v",
                    "10", "-f", "null", "-",
                ],
                timeout: 30
            )
            #expect(play.status == 0, "\(play.stderr)")
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        _ = await rtspCamera.terminate()
        try? await onvifCamera.stop()
        site.remove()
    }

    struct GrantedReport: Decodable {
        var xaddrs: [String: String]
        var ptz: String
        var subscription: String?
        var messages: Int
        var topics: [String]
        var unsubscribed: Bool
    }

    /// With `--policy ptz,events`: PTZ moves reach the camera, and PullPoint events flow through a subscription
    /// address of the gateway's (the camera's own never reaches the client).
    @Test func ptzAndEventsWhenTheirPolicyGrantsThem() async throws {
        var onvifConfiguration = ONVIFCameraSimulator.Configuration.hikvision(
            fixtures: Fixtures.root.appendingPathComponent("onvif/hikvision")
        )
        onvifConfiguration.username = "admin"
        onvifConfiguration.password = "Cam-Pass-7"
        let onvifCamera = ONVIFCameraSimulator(configuration: onvifConfiguration)
        try await onvifCamera.start()
        let site = try AdminCLITests.Site()
        var gateway: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "dome", "--address", "127.0.0.1", "--onvif-port", String(onvifCamera.port),
                    "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101", "--policy", "ptz,events",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            _ = try await site.camgw(
                ["user", "add", "vms", "--stream", "dome/*", "--password-stdin", "--onvif"],
                input: "Vms-Onvif-8\n"
            )
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let onvifURL = try await daemon.waitForOutput(
                matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service"
            )
            let onvifPort = Int(onvifURL.split(separator: ":")[2].split(separator: "/")[0])!
            let result = try await ExternalTool.run(
                ExternalTool.peerPython!,
                [
                    ExternalTool.peerScript("onvif_ptz_events.py"), "--host", "127.0.0.1", "--port", String(onvifPort),
                    "--user", "vms", "--password", "Vms-Onvif-8",
                ],
                timeout: 60
            )
            #expect(result.status == 0, "\(result.stderr)\n\(daemon.stderr)")
            let report = try JSONDecoder().decode(GrantedReport.self, from: Data(result.stdout.utf8))
            #expect(report.ptz == "moved")
            #expect(onvifCamera.received("ptz:ContinuousMove") == 1)
            #expect(onvifCamera.received("ptz:Stop") == 1)
            let subscription = try #require(report.subscription)
            #expect(subscription.hasPrefix("http://127.0.0.1:\(onvifPort)/onvif/subscription/"), "\(subscription)")
            #expect(!subscription.contains("PullSubManager"), "the camera's own address stays behind")
            #expect(report.messages > 0)
            #expect(
                report.topics.contains { $0.contains("VideoSource") || $0.contains("Motion") || $0.contains("tns1") }
            )
            #expect(onvifCamera.received("events:PullMessages") >= 1)
            #expect(onvifCamera.received("wsnt:Unsubscribe") == 1)
            #expect(report.unsubscribed)
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        try? await onvifCamera.stop()
        site.remove()
    }

    /// Virtual devices follow reloads: one added by the CLI answers, one removed stops answering.
    @Test func virtualDevicesFollowReloads() async throws {
        let site = try AdminCLITests.Site()
        var gateway: GatewayProcess?
        do {
            try await site.camgw([
                "camera", "add", "one", "--address", "192.0.2.10", "--stream", "main=/x", "--gateway-onvif-port", "0",
            ])
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            _ = try await daemon.waitForOutput(
                matching: "onvif: http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service one"
            )
            let added = try await site.camgw([
                "camera", "add", "two", "--address", "192.0.2.11", "--stream", "main=/x", "--gateway-onvif-port", "0",
            ])
            #expect(added.status == 0, "\(added.stderr)")
            struct Status: Decodable {
                struct Camera: Decodable {
                    var name: String
                    var onvifURL: String?
                }
                var cameras: [Camera]
            }
            func urls() async throws -> [String: String] {
                let status = try await site.camgw(["status", "--json"])
                let decoded = try JSONDecoder().decode(Status.self, from: Data(status.stdout.utf8))
                return Dictionary(
                    uniqueKeysWithValues: decoded.cameras.compactMap { camera in
                        camera.onvifURL.map { (camera.name, $0) }
                    }
                )
            }
            let both = try await urls()
            let two = try #require(both["two"])
            #expect(both["one"] != nil)
            // The pre-auth time query answers on the new device.
            let time = """
                <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                <GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>
                """
            let answer = try await ExternalTool.run(
                "curl",
                ["-s", "-H", "Content-Type: application/soap+xml", "--data", time, two],
                timeout: 10
            )
            #expect(answer.stdout.contains("GetSystemDateAndTimeResponse"), "\(answer.stdout)")
            try await site.camgw(["camera", "remove", "two"])
            #expect(try await urls()["two"] == nil)
            let gone = try await ExternalTool.run(
                "curl",
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--data", time, two],
                timeout: 10
            )
            #expect(gone.stdout == "000", "the removed device still answers")
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        site.remove()
    }

    /// Path mode: every device also under `/onvif/<camera>/` of one port; unknown cameras get a fault.
    @Test func pathMode() async throws {
        let site = try AdminCLITests.Site(AdminCLITests.Site.initial + "\n[onvif]\npath_mode_port = 0\n")
        var gateway: GatewayProcess?
        do {
            try await site.camgw([
                "camera", "add", "one", "--address", "192.0.2.10", "--stream", "main=/x", "--gateway-onvif-port", "0",
            ])
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let line = try await daemon.waitForOutput(
                matching: "onvif: http://127\\.0\\.0\\.1:[0-9]+/onvif/<camera>/device_service"
            )
            let base = String(line.dropFirst("onvif: ".count).prefix { $0 != "<" })
            let time = """
                <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                <GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>
                """
            let answer = try await ExternalTool.run(
                "curl",
                ["-s", "--data", time, base + "one/device_service"],
                timeout: 10
            )
            #expect(answer.stdout.contains("GetSystemDateAndTimeResponse"), "\(answer.stdout)")
            let unknown = try await ExternalTool.run(
                "curl",
                ["-s", "-w", " %{http_code}", "--data", time, base + "two/device_service"],
                timeout: 10
            )
            #expect(unknown.stdout.hasSuffix(" 404") && unknown.stdout.contains("Fault"), "\(unknown.stdout)")
            // HTTP Digest under the mount: the client's `uri` is the whole target, /onvif/one/device_service.
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "one/*", "--password-stdin"],
                input: "Vms-Path-4\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            try await Task.sleep(for: .milliseconds(500))
            let scopes = """
                <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                <GetScopes xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>
                """
            let signedIn = try await ExternalTool.run(
                "curl",
                [
                    "-s", "--digest", "-u", "vms:Vms-Path-4", "-H", "Content-Type: application/soap+xml", "--data",
                    scopes, base + "one/device_service",
                ],
                timeout: 10
            )
            #expect(signedIn.stdout.contains("onvif://www.onvif.org/name/one"), "path mode Digest: \(signedIn.stdout)")
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        site.remove()
    }

    /// HTTP Digest instead of a UsernameToken, with the same digests as RTSP; no credentials or wrong ones get 401,
    /// a Digest challenge and a NotAuthorized fault.
    @Test func httpDigestSignIn() async throws {
        let site = try AdminCLITests.Site()
        var gateway: GatewayProcess?
        do {
            try await site.camgw([
                "camera", "add", "one", "--address", "192.0.2.10", "--stream", "main=/x", "--gateway-onvif-port", "0",
            ])
            try await site.camgw(
                ["user", "add", "vms", "--stream", "one/*", "--password-stdin"],
                input: "Vms-Digest-9\n"
            )
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let line = try await daemon.waitForOutput(
                matching: "onvif: http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service one"
            )
            let url = String(line.dropFirst("onvif: ".count).prefix { $0 != " " })
            let hostname = """
                <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                <GetScopes xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>
                """
            let signedIn = try await ExternalTool.run(
                "curl",
                [
                    "-s", "--digest", "-u", "vms:Vms-Digest-9", "-H", "Content-Type: application/soap+xml", "--data",
                    hostname, url,
                ],
                timeout: 10
            )
            #expect(signedIn.stdout.contains("onvif://www.onvif.org/name/one"), "\(signedIn.stdout)")
            for credentials in [[], ["--digest", "-u", "vms:wrong"]] {
                let refused = try await ExternalTool.run(
                    "curl",
                    ["-s", "-i"] + credentials + ["--data", hostname, url],
                    timeout: 10
                )
                #expect(refused.stdout.hasPrefix("HTTP/1.1 401"), "\(refused.stdout)")
                #expect(refused.stdout.contains("WWW-Authenticate: Digest"))
                #expect(refused.stdout.contains("ter:NotAuthorized"))
            }
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        site.remove()
    }
}
