import CameraSimulator
import Foundation
import TestSupport
import Testing

/// Attacks on a virtual ONVIF device's sign-in from the VMS network, through the real daemon
/// (`Tests/Peers/onvif_auth_attacks.py` sends them by hand): what the attacker got, and what reached the camera.
@Suite(.enabled(if: ExternalTool.peerPython != nil, "needs .build-venv: run scripts/test.sh"))
struct ONVIFAuthAttackTests {
    @Test func replaysAndBruteForceGetNothingAndReachNothing() async throws {
        let onvifCamera = try await ONVIFCameraSimulator.hikvisionStarted()
        let site = try AdminCLITests.Site()
        var gateway: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "dome", "--address", "127.0.0.1", "--onvif-port", String(onvifCamera.port),
                    "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101", "--policy", "ptz",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "dome/*", "--password-stdin", "--onvif"],
                input: "Vms-Onvif-8\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let onvifURL = try await daemon.waitForOutput(
                matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service"
            )
            let onvifPort = try #require(Int(onvifURL.split(separator: ":")[2].split(separator: "/")[0]))
            let rtspURL = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/dome/main")

            let attack = try await ExternalTool.run(
                ExternalTool.peerPython!,
                [
                    ExternalTool.peerScript("onvif_auth_attacks.py"), "--port", String(onvifPort), "--user", "vms",
                    "--password", "Vms-Onvif-8",
                ],
                timeout: 90
            )
            #expect(attack.status == 0, "\(attack.stderr)")
            let got = try JSONDecoder().decode([String: Int].self, from: Data(attack.stdout.utf8))
            let expected: [String: Int] = [
                "no_credentials": 401, "qop_offered": 200, "fresh_nonce_per_challenge": 200,
                "digest_legit": 200, "digest_next_count": 200,
                "digest_replay_same": 401, "digest_replay_other_body": 401, "digest_replay_other_path": 401,
                "digest_count_reused": 401, "digest_unknown_nonce": 401, "digest_unknown_nonce_stale": 200,
                "token_legit": 200, "token_same_nonce_new_created": 200,
                "token_replay_write": 401, "token_replay_other_source": 401, "token_reread_same_source": 200,
                "token_reencoded": 401,
                "right_password_after_bruteforce": 401, "no_challenge_when_limited": 200,
            ]
            for (attack, status) in expected.sorted(by: { $0.key < $1.key }) {
                #expect(got[attack] == status, "\(attack): got \(got[attack].map(String.init) ?? "nothing")")
            }
            // Exactly the two moves that proved the password reached the camera; no replayed one, no SetNTP.
            #expect(onvifCamera.received("ptz:ContinuousMove") == 2, "\(onvifCamera.allReceived)")
            #expect(onvifCamera.received("device:SetNTP") == 0)
            #expect(daemon.stderr.contains("nonce replayed"))
            #expect(daemon.stderr.contains("token replayed"))
            #expect(daemon.stderr.contains("over the limit"))

            // One limiter for both surfaces: the source that guessed ONVIF passwords gets no video either, even
            // with the right ones.
            let probe = try await ExternalTool.run(
                "ffprobe",
                [
                    "-v", "error", "-rtsp_transport", "tcp",
                    rtspURL.replacingOccurrences(of: "rtsp://", with: "rtsp://vms:Vms-Onvif-8@"),
                ],
                timeout: 30
            )
            #expect(probe.status != 0)
            #expect(probe.stderr.contains("401"), "\(probe.stderr)")
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        try? await onvifCamera.stop()
        site.remove()
    }

    /// Pre-auth GetServices, from anyone: answered (ONVIF lets clients ask before signing in), but from a request
    /// the gateway wrote and an answer it keeps for a minute, so the VMS's own children never reach the camera
    /// and a flood of unauthenticated requests reaches it once.
    @Test func preAuthRequestsNeitherCarryVMSContentNorFloodTheCamera() async throws {
        let onvifCamera = try await ONVIFCameraSimulator.hikvisionStarted()
        let site = try AdminCLITests.Site()
        var gateway: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "dome", "--address", "127.0.0.1", "--onvif-port", String(onvifCamera.port),
                    "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101", "--username", "admin",
                    "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
            gateway = daemon
            let url = try await daemon.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
            try await Task.sleep(for: .milliseconds(500))
            let before = onvifCamera.received("device:GetServices")
            let request = """
                <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                <tds:GetServices xmlns:tds="http://www.onvif.org/ver10/device/wsdl">\
                <tds:IncludeCapability>true</tds:IncludeCapability><tds:Anything>vms-chosen</tds:Anything>\
                </tds:GetServices></s:Body></s:Envelope>
                """
            for _ in 0..<20 {
                let answer = try await ExternalTool.run(
                    "curl",
                    ["-s", "-w", "\n%{http_code}", "-H", "Content-Type: application/soap+xml", "--data", request, url],
                    timeout: 10
                )
                #expect(answer.stdout.hasSuffix("\n200"), "\(answer.stdout.suffix(300))")
                #expect(answer.stdout.contains("GetServicesResponse"))
            }
            #expect(
                onvifCamera.received("device:GetServices") - before <= 1,
                "unauthenticated requests reached the camera"
            )
            let forwarded = onvifCamera.lastBody("device:GetServices") ?? ""
            #expect(!forwarded.contains("vms-chosen") && !forwarded.contains("Anything"), "\(forwarded)")
        } catch {
            Issue.record(error)
        }
        if let gateway { _ = await gateway.terminate() }
        try? await onvifCamera.stop()
        site.remove()
    }
}

extension ONVIFCameraSimulator {
    /// The Hikvision fixtures' camera, started, signing in as admin / Cam-Pass-7; `adjust` changes its configuration.
    static func hikvisionStarted(
        _ adjust: (inout Configuration) -> Void = { _ in }
    ) async throws -> ONVIFCameraSimulator {
        var configuration = Configuration.hikvision(fixtures: Fixtures.root.appendingPathComponent("onvif/hikvision"))
        configuration.username = "admin"
        configuration.password = "Cam-Pass-7"
        adjust(&configuration)
        let camera = ONVIFCameraSimulator(configuration: configuration)
        try await camera.start()
        return camera
    }
}
