import Foundation
import ONVIF
import TestSupport
import Testing

/// WS-Discovery on the VMS side only: a VMS (the wsdiscovery package's client) finds each virtual device with the
/// gateway's address; the same probe from the camera network gets no answer. Three namespaces the test makes, on
/// documentation addresses that exist only inside them.
@Suite(
    .enabled(if: NetworkNamespace.isAvailable, "needs root and iproute2 for network namespaces"),
    .enabled(if: ExternalTool.peerPython != nil, "needs .build-venv with wsdiscovery: run scripts/test.sh")
)
struct VMSDiscoveryTests {
    struct Found: Decodable {
        var epr: String
        var xaddrs: [String]
        var scopes: [String]
    }

    @Test func answersTheVMSNetworkOnly() async throws {
        let gateway = try await NetworkNamespace.create()
        let vms = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await gateway.link(address: "198.51.100.1/24", to: vms, address: "198.51.100.10/24")
            try await gateway.link(address: "192.0.2.1/24", to: camera, address: "192.0.2.10/24", multicastRoute: false)
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [server]
            listen = "198.51.100.1"
            port = 0
            allow_anonymous = true

            [admin]
            socket = "control.sock"
            metrics_port = 0

            [onvif]
            discovery_interface = "198.51.100.1"

            [[camera]]
            name = "lobby"
            address = "192.0.2.10"
            gateway_onvif_port = 8001

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
            """.write(to: config, atomically: true, encoding: .utf8)
            // A listener on the VMS network hears the device say Hello when it starts and Bye when it stops.
            async let announcements = vms.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_listen.py"), "--interface", "198.51.100.10", "--seconds", "12"],
                timeout: 30
            )
            try await Task.sleep(for: .milliseconds(500))
            let daemon = try GatewayProcess(arguments: ["run", "--config", config.path], namespace: gateway)
            _ = try await daemon.waitForOutput(matching: "onvif: http://198\\.51\\.100\\.1:8001/onvif/device_service")
            try await Task.sleep(for: .milliseconds(300))

            // Probes with Types that are not QNames (one of them once trapped the daemon, before its rate
            // limiter): each is dropped, and the daemon goes on answering.
            let hostile = try await vms.run(
                "python3",
                [ExternalTool.peerScript("wsdiscovery_hostile.py"), "probe", "--to", "198.51.100.1"],
                timeout: 20
            )
            #expect(hostile.stdout.contains("sent 8"), "\(hostile.stderr)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(daemon.isRunning, "a Probe ended the daemon: \(daemon.stderr.suffix(2000))")

            let fromVMS = try await vms.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_search.py")],
                timeout: 30
            )
            #expect(fromVMS.status == 0, "\(fromVMS.stderr)")
            let found = try JSONDecoder().decode([Found].self, from: Data(fromVMS.stdout.utf8))
            let device = try #require(found.first, "\(fromVMS.stdout) \(daemon.stderr)")
            #expect(found.count == 1)
            #expect(device.xaddrs == ["http://198.51.100.1:8001/onvif/device_service"])
            #expect(device.epr == VirtualDevice(cameraName: "lobby").uuid)
            #expect(device.scopes.contains("onvif://www.onvif.org/name/lobby"))

            let fromCamera = try await camera.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_search.py")],
                timeout: 30
            )
            #expect(fromCamera.status == 0, "\(fromCamera.stderr)")
            #expect(
                try JSONDecoder().decode([Found].self, from: Data(fromCamera.stdout.utf8)).isEmpty,
                "the camera side got an answer"
            )
            _ = await daemon.terminate()
            struct Announcement: Decodable, Equatable {
                var action: String
                var endpoint: String?
            }
            let heard = try await announcements
            let decoded = try JSONDecoder().decode(
                [Announcement].self,
                from: Data((heard.stdout.split(separator: "\n").last ?? "[]").utf8)
            )
            let uuid = VirtualDevice(cameraName: "lobby").uuid
            #expect(
                decoded == [.init(action: "Hello", endpoint: uuid), .init(action: "Bye", endpoint: uuid)],
                "\(heard.stdout) \(heard.stderr)"
            )
        } catch {
            Issue.record(error)
        }
        for namespace in [gateway, vms, camera] { await namespace.delete() }
    }
}
