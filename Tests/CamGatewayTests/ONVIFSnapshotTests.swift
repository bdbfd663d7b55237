import CameraSimulator
import Foundation
import TestSupport
import Testing

/// The snapshot proxy against a hostile camera: only a JPEG or a PNG by its first bytes reaches the VMS, with
/// `nosniff`; an SVG (script for a browser-based VMS) or HTML called `image/jpeg` gets 502. A profile token with a
/// `.` gets its snapshot (its URL and the gateway's map once disagreed).
@Suite struct ONVIFSnapshotTests {
    static let svg = Array(
        #"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#.utf8
    )
    static let html = Array("<html><script>fetch('/onvif/device_service')</script></html>".utf8)
    static let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array("camgw-png".utf8)

    @Test(arguments: [
        ("image/svg+xml", svg, "502", ""), ("image/jpeg", html, "502", ""), ("image/png", png, "200", "image/png"),
        ("application/octet-stream", png, "200", "image/png"),
    ])
    func onlyJPEGOrPNGReachTheVMS(_ cameraType: String, _ body: [UInt8], _ status: String, _ type: String) async throws
    {
        let camera = try await ONVIFCameraSimulator.hikvisionStarted { $0.snapshot = (cameraType, body) }
        let site = try AdminCLITests.Site(AdminCLITests.Site.initial + "\n[onvif]\nallow_anonymous = true\n")
        defer { site.remove() }
        var daemon: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "127.0.0.1", "--port", "1", "--onvif-port",
                    String(camera.port), "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let process = try GatewayProcess(arguments: ["run", "--config", site.config])
            daemon = process
            let url = try await process.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
            let request = """
                <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\
                <trt:GetSnapshotUri xmlns:trt="http://www.onvif.org/ver10/media/wsdl">\
                <trt:ProfileToken>Profile.1</trt:ProfileToken></trt:GetSnapshotUri></s:Body></s:Envelope>
                """
            let answer = try await ExternalTool.run(
                "curl",
                ["-s", "-H", "Content-Type: application/soap+xml", "--data", request, url],
                timeout: 20
            )
            let snapshotURL = try #require(
                answer.stdout.range(
                    of: "http://127\\.0\\.0\\.1:[0-9]+/snapshot/[A-Za-z0-9_-]+",
                    options: .regularExpression
                )
                .map { String(answer.stdout[$0]) },
                "\(answer.stdout)"
            )
            #expect(snapshotURL.hasSuffix("/snapshot/Profile1"))
            let headers = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: headers) }
            let fetched = try await ExternalTool.run(
                "curl",
                ["-s", "-D", headers.path, "-o", "-", "-w", "\n%{http_code} %{content_type}", snapshotURL],
                timeout: 20
            )
            let last = fetched.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(last == "\(status) \(type.isEmpty ? "text/plain" : type)", "\(fetched.stdout)")
            #expect(!fetched.stdout.contains("<script>"), "the camera's script reached the VMS")
            if status == "200" {
                let received = (try? String(contentsOf: headers, encoding: .utf8)) ?? ""
                #expect(received.lowercased().contains("x-content-type-options: nosniff"), "\(received)")
            }
        } catch {
            Issue.record(error)
        }
        if let daemon { _ = await daemon.terminate() }
        try? await camera.stop()
    }
}

/// Known Hikvision and Dahua exploits, sent to a virtual device's port (ONVIF and snapshots) and to the path-mode
/// port, with anonymous ONVIF reads on (the most open the gateway gets): none reaches the camera, each gets a
/// refusal. CVE-2021-36260 (`PUT /SDK/webLanguage` with a shell in `<language>`), CVE-2017-7921 (`?auth=` on
/// `/Security/users`, `/System/configurationFile`, `/onvif-http/snapshot`), CVE-2021-33044/33045
/// (`POST /RPC2_Login` with `loginType` Direct or Loopback), and a traversal out of `/snapshot/`.
@Suite struct KnownCameraExploitTests {
    static let attacks: [(method: String, path: String, body: String?)] = [
        ("PUT", "/SDK/webLanguage", #"<?xml version="1.0" encoding="UTF-8"?><language>$(id>webLib/x)</language>"#),
        ("GET", "/Security/users?auth=YWRtaW46MTEK", nil),
        ("GET", "/System/configurationFile?auth=YWRtaW46MTEK", nil),
        ("GET", "/onvif-http/snapshot?auth=YWRtaW46MTEK", nil),
        (
            "POST", "/RPC2_Login",
            #"{"method":"global.login","params":{"userName":"admin","password":"","clientType":"Web3.0","loginType":"Direct","authorityType":"Default"},"id":1}"#
        ),
        (
            "POST", "/RPC2_Login",
            #"{"method":"global.login","params":{"userName":"admin","password":"","clientType":"Web3.0","loginType":"Loopback","authorityType":"Default"},"id":1}"#
        ),
        ("GET", "/snapshot/../../Security/users?auth=YWRtaW46MTEK", nil),
        ("GET", "/snapshot/%2e%2e/%2e%2e/System/configurationFile", nil),
    ]

    @Test func noExploitReachesTheCamera() async throws {
        let camera = try await ONVIFCameraSimulator.hikvisionStarted()
        let site = try AdminCLITests.Site(
            AdminCLITests.Site.initial + "\n[onvif]\nallow_anonymous = true\npath_mode_port = 0\n"
        )
        defer { site.remove() }
        var daemon: GatewayProcess?
        do {
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "127.0.0.1", "--port", "1", "--onvif-port",
                    String(camera.port), "--gateway-onvif-port", "0", "--stream", "main=/Streaming/Channels/101",
                    "--username", "admin", "--password-stdin", "--policy", "ptz,events",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let process = try GatewayProcess(arguments: ["run", "--config", site.config])
            daemon = process
            let device = try await process.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/device_service")
            let shared = try await process.waitForOutput(matching: "http://127\\.0\\.0\\.1:[0-9]+/onvif/<camera>")
            // The device's own port at its root, the path-mode port under the camera's mount and at its root.
            let sharedRoot = String(shared[..<shared.range(of: "/onvif/")!.lowerBound])
            let bases = [
                String(device[..<device.range(of: "/onvif/")!.lowerBound]), sharedRoot + "/onvif/lobby", sharedRoot,
            ]
            try await Task.sleep(for: .milliseconds(500))  // the gateway's own sign-in traffic settles
            let before = camera.requests.count
            for base in bases {
                for attack in Self.attacks {
                    var arguments = [
                        "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "-X", attack.method,
                    ]
                    if let body = attack.body { arguments += ["--data-binary", body] }
                    let result = try await ExternalTool.run("curl", arguments + [base + attack.path], timeout: 10)
                    #expect(
                        ["400", "401", "404", "405", "500"].contains(result.stdout),
                        "\(attack.method) \(base)\(attack.path) got \(result.stdout)"
                    )
                }
            }
            let reached = camera.requests.dropFirst(before).filter {
                ["SDK", "Security", "System", "RPC2", "onvif-http", ".."].contains(where: $0.contains)
            }
            #expect(reached.isEmpty, "reached the camera: \(reached)")
            #expect(
                camera.requests.count == before,
                "requests reached the camera: \(camera.requests.dropFirst(before))"
            )
            #expect(process.isRunning)
        } catch {
            Issue.record(error)
        }
        if let daemon { _ = await daemon.terminate() }
        try? await camera.stop()
    }
}
