import CameraSimulator
import Crypto
import Foundation
import NIOPosix
import NIOSSL
import RTSPRelay
import TestSupport
import Testing

/// A camera reached over RTSPS is accepted only with the certificate pinned by its SHA-256 fingerprint.
@Suite struct PinnedCameraTests {
    /// - Parameter pinTheRightCertificate: false pins a fingerprint that differs from the camera's in every byte.
    static func withTLSCamera(pinTheRightCertificate: Bool, _ body: (Relay, Int) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-pin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = Fixtures.packageRoot.appendingPathComponent("certs/make-certs.sh").path
        let made = try await ExternalTool.run("/bin/bash", [script, directory.path, "camera.invalid"], timeout: 30)
        #expect(made.status == 0, "\(made.stderr)")
        let certificate = directory.appendingPathComponent("server.pem").path
        let der = try NIOSSLCertificate.fromPEMFile(certificate)[0].toDERBytes()

        var configuration = CameraSimulator.Configuration()
        configuration.tls = (certificate, directory.appendingPathComponent("server-key.pem").path)
        let simulator = try CameraSimulator(configuration: configuration)
        try await simulator.start()
        #expect(simulator.url.hasPrefix("rtsps://"))
        var camera = RelayConfiguration.Camera(
            name: "cam",
            host: "127.0.0.1",
            port: simulator.port,
            streams: [.init(name: "main", path: configuration.path)]
        )
        let fingerprint = Array(SHA256.hash(data: der))
        camera.tlsFingerprint = pinTheRightCertificate ? fingerprint : fingerprint.map { $0 ^ 0xFF }
        var relayConfiguration = RelayConfiguration(cameras: [camera])
        relayConfiguration.port = 0
        relayConfiguration.access = ReaderAccessPolicy(allowAnonymous: true)
        let relay = Relay(configuration: relayConfiguration, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        try await relay.start()
        do {
            try await body(relay, await relay.port)
        } catch {
            try? await relay.stop()
            try? await simulator.stop()
            throw error
        }
        try await relay.stop()
        try await simulator.stop()
    }

    @Test func thePinnedCertificateIsAccepted() async throws {
        try await Self.withTLSCamera(pinTheRightCertificate: true) { _, port in
            let client = try await TestRTSPClient.connect(port: port)
            _ = try await client.play("rtsp://127.0.0.1:\(port)/cam/main")
            _ = try await client.interleavedFrames(count: 20)
            await client.close()
        }
    }

    @Test func anyOtherCertificateIsRefused() async throws {
        try await Self.withTLSCamera(pinTheRightCertificate: false) { relay, port in
            let client = try await TestRTSPClient.connect(port: port)
            let describe = try await client.request(
                .describe,
                "rtsp://127.0.0.1:\(port)/cam/main",
                timeout: .seconds(10)
            )
            #expect(describe.status == .serviceUnavailable)
            let stats = try #require(try await relay.stats().stream("cam", "main"))
            #expect(stats.lastError?.contains("pinned fingerprint") == true, "\(stats.lastError ?? "")")
            await client.close()
        }
    }
}

/// A camera (or whoever answers at its address) that offers only Basic over plaintext RTSP would have the gateway
/// send the camera's password in clear to anyone on the camera network: refused, and the camera never receives
/// it; an admin who accepts that for one camera says so with `allow_plaintext_basic`.
@Suite struct PlaintextBasicTests {
    static let basicOnly = CameraSimulator.Credentials(username: "admin", password: "Cam-Pass-2", schemes: [.basic])

    @Test func aBasicOnlyCameraInPlaintextGetsNoPassword() async throws {
        var options = RelayFixture.Options()
        options.cameraCredentials = Self.basicOnly
        try await RelayFixture.run(options) { fixture in
            let reader = try await TestRTSPClient.connect(port: fixture.port)
            let describe = try await reader.request(.describe, fixture.url, timeout: .seconds(10))
            #expect(describe.status != .ok)
            try await eventually("the refusal is the stream's last error") {
                try await fixture.relay.stats().stream("cam", "main")?.lastError?.contains("only Basic") == true
            }
            #expect(fixture.simulator.basicCredentialsReceived == 0)
            #expect(fixture.simulator.requestCount(.describe) >= 1, "the camera was asked, and challenged")
            await reader.close()
        }
    }

    @Test func anAdminMayAllowItForOneCamera() async throws {
        var options = RelayFixture.Options()
        options.cameraCredentials = Self.basicOnly
        options.allowPlaintextBasic = true
        try await RelayFixture.run(options) { fixture in
            let reader = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await reader.play(fixture.url, timeout: .seconds(10))
            #expect(try await reader.interleavedFrames(count: 5).count >= 5)
            #expect(fixture.simulator.basicCredentialsReceived >= 1)
            await reader.close()
        }
    }
}
