import CameraSimulator
import Foundation
import Logging
import ONVIF
import RTSPRelay
import TestSupport
import Testing

/// The gateway as an ONVIF client of a camera (the simulator answering from real captures): it follows the
/// camera's clock, falls back to HTTP Digest, and stops before the camera locks its account.
@Suite struct CameraSideTests {
    static func simulator(
        _ change: (inout ONVIFCameraSimulator.Configuration) -> Void = { _ in }
    ) async throws -> ONVIFCameraSimulator {
        var configuration = ONVIFCameraSimulator.Configuration.hikvision(
            fixtures: Fixtures.root.appendingPathComponent("onvif/hikvision")
        )
        configuration.username = "admin"
        configuration.password = "Cam-Pass-7"
        change(&configuration)
        let simulator = ONVIFCameraSimulator(configuration: configuration)
        try await simulator.start()
        return simulator
    }

    static func client(_ simulator: ONVIFCameraSimulator, password: String = "Cam-Pass-7") -> ONVIFCameraClient {
        var configuration = ONVIFCameraClient.Configuration(
            host: "127.0.0.1",
            port: simulator.port,
            username: "admin",
            password: password
        )
        configuration.breakDuration = .seconds(60)
        return ONVIFCameraClient(configuration: configuration, logger: Logger(label: "test"))
    }

    static let getDeviceInformation = XMLElement(namespace: ONVIFNamespace.device, name: "GetDeviceInformation")

    @Test(arguments: [-7200.0, 0.0, 10800.0])
    func usernameTokenOnTheCamerasClock(_ offset: TimeInterval) async throws {
        let simulator = try await Self.simulator { $0.clockOffset = offset }
        let answer = try await Self.client(simulator).call(Self.getDeviceInformation, namespace: ONVIFNamespace.device)
        #expect(answer.name == "GetDeviceInformationResponse")
        #expect(simulator.received("device:GetSystemDateAndTime") == 1, "the clock is learned once")
        #expect(simulator.failedLogins == 0)
        try await simulator.stop()
    }

    @Test func digestWhenTheCameraAsksForIt() async throws {
        let simulator = try await Self.simulator { $0.digestOnly = true }
        let client = Self.client(simulator)
        let answer = try await client.call(Self.getDeviceInformation, namespace: ONVIFNamespace.device)
        #expect(answer.name == "GetDeviceInformationResponse")
        let again = try await client.call(
            XMLElement(namespace: ONVIFNamespace.media, name: "GetProfiles"),
            namespace: ONVIFNamespace.media
        )
        #expect(again.name == "GetProfilesResponse")
        try await simulator.stop()
    }

    /// Dahua firmware hands out a new Digest nonce with every 401 and takes each once: the client follows without
    /// counting those as failures.
    @Test func aFreshNonceOnEveryRequest() async throws {
        let simulator = try await Self.simulator {
            $0.digestOnly = true
            $0.freshNoncePerRequest = true
        }
        let client = Self.client(simulator)
        for _ in 0..<4 {
            let answer = try await client.call(Self.getDeviceInformation, namespace: ONVIFNamespace.device)
            #expect(answer.name == "GetDeviceInformationResponse")
        }
        #expect(!client.breakerOpen)
        #expect(simulator.failedLogins == 0)
        try await simulator.stop()
    }

    /// Wrong credentials: the client stops after three failures, under the camera's lockout threshold of five,
    /// and says so instead of trying again.
    @Test func theBreakerOpensBeforeTheCameraLocksUs() async throws {
        let simulator = try await Self.simulator { $0.lockoutAfter = 5 }
        let client = Self.client(simulator, password: "wrong")
        for _ in 0..<10 {
            await #expect(throws: SOAPFault.self) {
                try await client.call(Self.getDeviceInformation, namespace: ONVIFNamespace.device)
            }
        }
        #expect(client.breakerOpen)
        #expect(!simulator.isLockedOut, "the camera never reached its lockout")
        #expect(simulator.received("device:GetDeviceInformation") <= 4)
        try await simulator.stop()
    }
}
