import CameraSimulator
import NIOCore
import NIOPosix
import ONVIF
import RTSPRelay
import TestSupport
import Testing

/// A simulator camera behind a relay, both on free loopback ports, stopped afterwards whatever happens.
struct RelayFixture {
    let simulator: CameraSimulator
    let relay: Relay
    let port: Int

    var url: String { "rtsp://127.0.0.1:\(self.port)/cam/main" }

    /// What a test changes from the defaults of the simulator and the relay.
    struct Options {
        var cameraCredentials: CameraSimulator.Credentials?
        var cameraSessionTimeout: Int?
        /// The password the relay uses, when it should differ from the camera's.
        var relayPassword: String?
        var readerMaxQueuedBytes: Int?
        var readerMaxBehind: Duration?
        var readerSocketSendBuffer: Int?
        var stallTimeout: Duration?
        var cameraTransport: RTSPClientStateMachine.LowerTransport?
        /// nil: anonymous access (said explicitly, as the configuration must).
        var access: ReaderAccessPolicy?
        var maxConnectionsPerSource: Int?
        var media: [MediaClip.Codec]?
        /// The camera's backchannel codec (nil: it has none).
        var cameraBackchannel: MediaClip.Codec?
        /// Whether the gateway relays the backchannel of this camera.
        var relayBackchannel = false
        var backoff: ReconnectBackoff?
        var allowPlaintextBasic = false
        /// The reader session timeout (seconds) the relay announces and enforces.
        var relaySessionTimeout: Int?
        var cameraQuirks: Set<CameraSimulator.Quirk> = []
    }

    static func run<T>(_ options: Options = Options(), _ body: (RelayFixture) async throws -> T) async throws -> T {
        var cameraConfiguration = CameraSimulator.Configuration()
        cameraConfiguration.credentials = options.cameraCredentials
        if let timeout = options.cameraSessionTimeout { cameraConfiguration.sessionTimeout = timeout }
        if let media = options.media { cameraConfiguration.media = media }
        cameraConfiguration.backchannel = options.cameraBackchannel
        cameraConfiguration.quirks = options.cameraQuirks
        let simulator = try CameraSimulator(configuration: cameraConfiguration)
        try await simulator.start()
        var camera = RelayConfiguration.Camera(
            name: "cam",
            host: "127.0.0.1",
            port: simulator.port,
            streams: [.init(name: "main", path: cameraConfiguration.path)],
            username: cameraConfiguration.credentials?.username,
            password: options.relayPassword ?? cameraConfiguration.credentials?.password
        )
        camera.linger = .seconds(2)
        camera.backchannel = options.relayBackchannel
        camera.allowPlaintextBasic = options.allowPlaintextBasic
        if let transport = options.cameraTransport { camera.transport = transport }
        var configuration = RelayConfiguration(cameras: [camera])
        configuration.port = 0
        configuration.access = options.access ?? ReaderAccessPolicy(allowAnonymous: true)
        configuration.backoff =
            options.backoff ?? ReconnectBackoff(initial: .milliseconds(200), maximum: .seconds(2), jitter: 0.1)
        if let value = options.readerMaxQueuedBytes { configuration.readerMaxQueuedBytes = value }
        if let value = options.readerMaxBehind { configuration.readerMaxBehind = value }
        if let value = options.readerSocketSendBuffer { configuration.readerSocketSendBuffer = value }
        if let value = options.stallTimeout { configuration.stallTimeout = value }
        if let value = options.maxConnectionsPerSource { configuration.maxConnectionsPerSource = value }
        if let value = options.relaySessionTimeout { configuration.sessionTimeout = value }
        let relay = Relay(
            configuration: configuration,
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            metadataFilter: MetadataStreamRewriter.rewrite
        )
        try await relay.start()
        let fixture = RelayFixture(simulator: simulator, relay: relay, port: await relay.port)
        do {
            let result = try await body(fixture)
            try await relay.stop()
            try await simulator.stop()
            return result
        } catch {
            try? await relay.stop()
            try? await simulator.stop()
            throw error
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes; records an issue when it never does.
func eventually(timeout: Duration = .seconds(10), _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("not within \(timeout): \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
