import Foundation
import TestSupport
import Testing

/// `camgw discover` finds a camera published by a real WS-Discovery stack (the PyPI package wsdiscovery), inside
/// a network namespace the test makes: the probe's multicast never leaves it.
@Suite(
    .enabled(if: NetworkNamespace.isAvailable, "needs root and iproute2 for a network namespace"),
    .enabled(if: ExternalTool.peerPython != nil, "needs .build-venv with wsdiscovery: run scripts/test.sh")
)
struct DiscoverTests {
    struct Candidate: Decodable {
        var address: String
        var endpoint: String
        var name: String?
        var hardware: String?
        var kind: String
        var channels: Int?
        var xAddrs: [String]
        var command: String
    }

    /// Two namespaces on one link, as the appliance's camera side: the gateway at 192.0.2.1, the camera at
    /// 192.0.2.10 (documentation addresses that exist only inside them).
    @Test func findsAPublishedCameraAndSaysHowToAddIt() async throws {
        let gateway = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        do {
            try await gateway.link(address: "192.0.2.1/24", to: camera, address: "192.0.2.10/24")
            let device = try GatewayProcessLike.start(
                namespace: camera,
                ExternalTool.peerPython!,
                [
                    ExternalTool.peerScript("wsdiscovery_device.py"), "--xaddr",
                    "http://192.0.2.10:8080/onvif/device_service", "--name", "HIKVISION", "--hardware",
                    "DS-2CD2043G2-I",
                    "--seconds", "30",
                ]
            )
            defer { device.terminate() }
            try await device.waitForOutput("publishing")
            let result = try await gateway.run(
                GatewayProcess.executable.path,
                ["discover", "--interface", "192.0.2.1", "--timeout", "2", "--json"],
                timeout: 20
            )
            #expect(result.status == 0, "\(result.stderr)")
            let candidates = try JSONDecoder().decode([Candidate].self, from: Data(result.stdout.utf8))
            let found = try #require(candidates.first, "\(result.stdout) \(result.stderr)")
            #expect(candidates.count == 1)
            #expect(found.address == "192.0.2.10")
            #expect(found.xAddrs == ["http://192.0.2.10:8080/onvif/device_service"])
            #expect(found.name == "HIKVISION")
            #expect(found.hardware == "DS-2CD2043G2-I")
            #expect(found.command.hasPrefix("camgw camera add hikvision-10 --address 192.0.2.10 --onvif-port 8080"))
            #expect(found.command.contains("--stream 'main=/Streaming/Channels/101'"))
            let table = try await gateway.run(
                GatewayProcess.executable.path,
                ["discover", "--interface", "192.0.2.1", "--timeout", "1"],
                timeout: 20
            )
            #expect(table.stdout.contains("DS-2CD2043G2-I"))
            #expect(table.stdout.contains("camgw camera add hikvision-10"))
        } catch {
            await gateway.delete()
            await camera.delete()
            throw error
        }
        await gateway.delete()
        await camera.delete()
    }

    /// A Hikvision recorder published by the same real WS-Discovery stack: listed as one device, a recorder of
    /// 16 channels (from its model number), with the `camera add --recorder` line for it.
    @Test func findsARecorderAsOneDeviceWithItsChannels() async throws {
        let gateway = try await NetworkNamespace.create()
        let recorder = try await NetworkNamespace.create()
        do {
            try await gateway.link(address: "192.0.2.1/24", to: recorder, address: "192.0.2.20/24")
            let device = try GatewayProcessLike.start(
                namespace: recorder,
                ExternalTool.peerPython!,
                [
                    ExternalTool.peerScript("wsdiscovery_device.py"), "--xaddr",
                    "http://192.0.2.20/onvif/device_service", "--name", "HIKVISION", "--hardware", "DS-7616NI-K2",
                    "--seconds", "30",
                ]
            )
            defer { device.terminate() }
            try await device.waitForOutput("publishing")
            let result = try await gateway.run(
                GatewayProcess.executable.path,
                ["discover", "--interface", "192.0.2.1", "--timeout", "2", "--json"],
                timeout: 20
            )
            #expect(result.status == 0, "\(result.stderr)")
            let candidates = try JSONDecoder().decode([Candidate].self, from: Data(result.stdout.utf8))
            #expect(candidates.count == 1, "\(result.stdout)")
            let found = try #require(candidates.first)
            #expect(found.kind == "recorder")
            #expect(found.channels == 16)
            #expect(
                found.command.hasPrefix(
                    "camgw camera add hikvision-20 --address 192.0.2.20 --recorder hikvision --channels 1-16"
                ),
                "\(found.command)"
            )
            let table = try await gateway.run(
                GatewayProcess.executable.path,
                ["discover", "--interface", "192.0.2.1", "--timeout", "1"],
                timeout: 20
            )
            #expect(table.stdout.contains("recorder, 16 channels"), "\(table.stdout)")
        } catch {
            Issue.record(error)
        }
        await gateway.delete()
        await recorder.delete()
    }

    /// A camera that answers with Types that are not QNames (the `:` under a default namespace that trapped
    /// `camgw discover`) and scopes carrying terminal escapes: discover lists it, exits 0, and prints no control
    /// character.
    @Test func hostileProbeMatchesAreListedSafely() async throws {
        let gateway = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        do {
            try await gateway.link(address: "192.0.2.1/24", to: camera, address: "192.0.2.10/24")
            let device = try GatewayProcessLike.start(
                namespace: camera,
                "python3",
                [
                    ExternalTool.peerScript("wsdiscovery_hostile.py"), "device", "--interface", "192.0.2.10",
                    "--seconds", "20",
                ]
            )
            defer { device.terminate() }
            try await device.waitForOutput("listening")
            let json = try await gateway.run(
                GatewayProcess.executable.path,
                ["discover", "--interface", "192.0.2.1", "--timeout", "1", "--json"],
                timeout: 20
            )
            #expect(json.status == 0, "\(json.stderr)")
            let candidates = try JSONDecoder().decode([Candidate].self, from: Data(json.stdout.utf8))
            #expect(candidates.count == 7, "\(json.stdout)")
            #expect(candidates.allSatisfy { $0.address == "192.0.2.10" })
            #expect(candidates.allSatisfy { !$0.command.unicodeScalars.contains { $0.value < 0x20 } })
            let table = try await gateway.run(
                GatewayProcess.executable.path,
                ["discover", "--interface", "192.0.2.1", "--timeout", "1"],
                timeout: 20
            )
            #expect(table.status == 0, "\(table.stderr)")
            #expect(table.stdout.contains("EVIL\\u{1B}[2J"), "\(table.stdout)")
            let controls = table.stdout.unicodeScalars.filter { $0.value < 0x20 && $0 != "\n" }
            #expect(controls.isEmpty, "control characters reached the terminal: \(controls.map(\.value))")
        } catch {
            Issue.record(error)
        }
        await gateway.delete()
        await camera.delete()
    }
}

struct PeerDidNotStart: Error {
    var expected: String
}

/// A long-running peer inside a namespace, stopped by the test.
struct GatewayProcessLike {
    let process: GatewayProcess

    static func start(namespace: NetworkNamespace, _ tool: String, _ arguments: [String]) throws -> GatewayProcessLike {
        GatewayProcessLike(
            process: try GatewayProcess(
                arguments: arguments,
                namespace: namespace,
                executable: URL(fileURLWithPath: try ExternalTool.path(of: tool))
            )
        )
    }

    /// Waits until the peer prints `text`, for 20 s at most.
    func waitForOutput(_ text: String) async throws {
        do {
            _ = try await self.process.waitForOutput(matching: NSRegularExpression.escapedPattern(for: text))
        } catch {
            throw PeerDidNotStart(expected: text)
        }
    }

    func terminate() {
        self.process.signal(SIGTERM)
    }
}
