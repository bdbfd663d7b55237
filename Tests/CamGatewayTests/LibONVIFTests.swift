import Foundation
import TestSupport
import Testing

/// libonvif (Debian's onvif-tools, `onvif-util`) against a virtual device, as a VMS on its own network would use
/// it: discovery, sign-in, capabilities, profiles, the stream URI, time, network; its reboot refused. It seeds its
/// nonces from the clock, so calls within one second carry one nonce with new Created values: it could not sign in
/// at all while the gateway took that for a replay. The camera (`camgw simulator --onvif-port`) and the gateway
/// run in one namespace, the client in another.
@Suite(
    .enabled(if: NetworkNamespace.isAvailable, "needs root and iproute2 for network namespaces"),
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/onvif-util"),
        "needs onvif-tools: scripts/test.sh"
    )
)
struct LibONVIFTests {
    @Test func onvifUtilSignsInAndReadsThroughTheGateway() async throws {
        let gateway = try await NetworkNamespace.create()
        let vms = try await NetworkNamespace.create()
        let site = try AdminCLITests.Site("")
        var processes: [GatewayProcess] = []
        do {
            try await gateway.link(address: "198.51.100.1/24", to: vms, address: "198.51.100.10/24")
            let password = site.directory.appendingPathComponent("camera.password")
            try "Cam-Pass-7\n".write(to: password, atomically: true, encoding: .utf8)
            let camera = try GatewayProcess(
                arguments: [
                    "simulator", "--port", "0", "--onvif-port", "0", "--user", "admin", "--password-file",
                    password.path,
                ],
                namespace: gateway
            )
            processes.append(camera)
            let onvif = try await camera.waitForOutput(matching: "onvif simulator: http://127\\.0\\.0\\.1:[0-9]+")
            let rtsp = try await camera.waitForOutput(matching: "simulator: rtsp://127\\.0\\.0\\.1:[0-9]+")
            let port = { (url: String) in url.split(separator: ":").last.map(String.init) ?? "" }
            try """
            [server]
            listen = "198.51.100.1"
            port = 0

            [admin]
            socket = "control.sock"
            metrics_port = 0

            [onvif]
            discovery_interface = "198.51.100.1"
            """.write(toFile: site.config, atomically: true, encoding: .utf8)
            let add = try await site.camgw(
                [
                    "camera", "add", "lobby", "--address", "127.0.0.1", "--port", port(rtsp), "--onvif-port",
                    port(onvif), "--gateway-onvif-port", "8001", "--stream", "main=/Streaming/Channels/101",
                    "--username", "admin", "--password-stdin",
                ],
                input: "Cam-Pass-7\n"
            )
            #expect(add.status == 0, "\(add.stderr)")
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "lobby/*", "--password-stdin", "--onvif"],
                input: "Vms-Pass-9\n"
            )
            #expect(user.status == 0, "\(user.stderr)")
            let daemon = try GatewayProcess(arguments: ["run", "--config", site.config], namespace: gateway)
            processes.append(daemon)
            _ = try await daemon.waitForOutput(matching: "onvif: http://198\\.51\\.100\\.1:8001/onvif/device_service")
            let rtspURL = try await daemon.waitForOutput(matching: "rtsp://198\\.51\\.100\\.1:[0-9]+/lobby/main")
            try await Task.sleep(for: .milliseconds(500))

            let session = try await ExternalTool.run(
                "/usr/sbin/ip",
                ["netns", "exec", vms.name, "/usr/bin/onvif-util", "-u", "vms", "-p", "Vms-Pass-9", "198.51.100.1"],
                input: "get capabilities\nget profiles\nget rtsp\nget time\nget network\nreboot\nyes\nquit\n",
                timeout: 60
            )
            let out = session.stdout + session.stderr
            #expect(out.contains("successfully connected to host"), "\(out)")
            #expect(out.contains("name:   lobby"), "\(out)")
            #expect(out.contains("Token 0: Profile_1"), "\(out)")
            #expect(out.contains(rtspURL), "the stream URI is the gateway's: \(out)")
            #expect(out.contains("IP Address: 198.51.100.1"), "\(out)")
            #expect(!out.contains("NotAuthorized"), "\(out)")
            // No failed login for the GetHostname it sends before its credentials; the reboot stopped at the policy.
            #expect(!daemon.stderr.contains("ONVIF login failed"), "\(daemon.stderr.suffix(1500))")
            #expect(daemon.stderr.contains("operation=device:SystemReboot"))
            let status = try await site.camgw(["status", "--json"])
            #expect(status.stdout.contains("\"device:SystemReboot\" : 1"), "\(status.stdout.prefix(1500))")
            #expect(camera.isRunning && daemon.isRunning)
        } catch {
            Issue.record(error)
        }
        for process in processes { _ = await process.terminate() }
        site.remove()
        await gateway.delete()
        await vms.delete()
    }
}
