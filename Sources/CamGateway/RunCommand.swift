import ArgumentParser
import CameraSimulator
import Logging
import NIOPosix
import RTSPRelay
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `camgw run`: the gateway daemon. With `--config` it relays the configured cameras; without, it runs the demo:
/// the built-in camera simulator behind the relay.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway (with no configuration: the demo camera behind the relay)."
    )

    @Option(help: "Configuration file (TOML). Without it, the demo runs.")
    var config: String?

    @Option(help: "Address to listen on (overrides the configuration).")
    var listen: String?

    @Option(help: "RTSP port (overrides the configuration; 0 picks a free one and prints it).")
    var port: Int?

    @Flag(help: "Log at debug level.")
    var verbose = false

    func run() async throws {
        let logger = bootstrapLogging(verbose: self.verbose)
        // One event loop for the whole relay: cameras, readers and fan-out share it, so no packet crosses threads.
        let relayLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var services: [any Service] = []
        var relayConfiguration: RelayConfiguration
        var demoCredentials: (user: String, password: String)?

        if let path = self.config {
            do {
                relayConfiguration = try GatewayConfig.load(path: path)
            } catch {
                throw ValidationError("\(error)")
            }
        } else {
            // The demo camera asks for Digest credentials, as a real one does; the relay answers for the VMS.
            let password = randomHex(bytes: 6)
            var camera = CameraSimulator.Configuration()
            camera.host = "127.0.0.1"
            camera.port = 0
            camera.credentials = .init(username: "admin", password: password)
            let simulator = try CameraSimulator(configuration: camera, logger: Logger(label: "camgw.demo-camera"))
            try await simulator.start()
            services.append(SimulatorService(simulator: simulator))
            var demo = RelayConfiguration.Camera(
                name: "demo",
                host: "127.0.0.1",
                port: simulator.port,
                streams: [.init(name: "main", path: camera.path)],
                username: "admin",
                password: password
            )
            demo.onDemand = false  // always on: the first viewer gets the cached keyframe at once
            relayConfiguration = RelayConfiguration(cameras: [demo])
            // The demo serves loopback without VMS credentials, and says so; a configuration must ask for it.
            relayConfiguration.access = ReaderAccessPolicy(allowAnonymous: true)
            demoCredentials = ("admin", password)
        }
        if let listen = self.listen { relayConfiguration.listenHost = listen }
        if let port = self.port { relayConfiguration.port = port }

        let relay = Relay(configuration: relayConfiguration, eventLoop: relayLoop.next(), logger: logger)
        let isDemo = self.config == nil
        let credentials = demoCredentials
        let listenHost = relayConfiguration.listenHost
        let cameraNames = relayConfiguration.cameras.flatMap { camera in
            camera.streams.map { "\(camera.name)/\($0.name)" }
        }
        services.append(
            RelayService(relay: relay, logger: logger) { port, tlsPort in
                let host = listenHost == "0.0.0.0" ? "127.0.0.1" : listenHost
                let hostPart = host.contains(":") ? "[\(host)]" : host
                let urls =
                    cameraNames.map { "rtsp://\(hostPart):\(port)/\($0)" }
                    + (tlsPort.map { tlsPort in cameraNames.map { "rtsps://\(hostPart):\(tlsPort)/\($0)" } } ?? [])
                if isDemo, let url = urls.first {
                    printFlushed(
                        """
                        CamGateway demo: a simulated camera (H.264, 640x360, 25 fps, Digest-protected with \
                        \(credentials?.user ?? "admin")/\(credentials?.password ?? "")) is relayed by the gateway.
                          RTSP URL: \(url)
                        Open it with:
                          ffplay -rtsp_transport tcp \(url)
                          vlc \(url)
                        Stop with Ctrl-C.
                        """
                    )
                } else {
                    printFlushed(
                        "CamGateway relaying \(urls.count) stream(s):\n"
                            + urls.map { "  \($0)" }.joined(separator: "\n")
                    )
                }
            }
        )
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        try await relayLoop.shutdownGracefully()
    }
}

/// Runs the relay until graceful shutdown, announcing its URLs once it is bound; SIGHUP reloads the TLS
/// certificate.
struct RelayService: Service {
    let relay: Relay
    let logger: Logger
    let announce: @Sendable (Int, Int?) -> Void

    func run() async throws {
        try await self.relay.start()
        self.announce(await self.relay.port, await self.relay.tlsPort)
        let relay = self.relay
        let logger = self.logger
        let reloads = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    try await relay.reloadTLS()
                } catch {
                    logger.error(
                        "TLS reload failed; the previous certificate stays in use",
                        metadata: ["error": "\(error)"]
                    )
                }
            }
        }
        try? await gracefulShutdown()
        reloads.cancel()
        try await self.relay.stop()
    }
}

/// Keeps an already started simulator until graceful shutdown.
struct SimulatorService: Service {
    let simulator: CameraSimulator

    func run() async throws {
        try? await gracefulShutdown()
        try await self.simulator.stop()
    }
}

/// Starts a simulator, announces it once it is bound (so a port of 0 is printed as the real port), and stops it
/// on graceful shutdown.
struct AnnouncedService: Service {
    let simulator: CameraSimulator
    let announce: @Sendable (CameraSimulator) -> Void

    func run() async throws {
        try await self.simulator.start()
        self.announce(self.simulator)
        try? await gracefulShutdown()
        try await self.simulator.stop()
    }
}

func bootstrapLogging(verbose: Bool) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = verbose ? .debug : .info
        return handler
    }
    return Logger(label: "camgw")
}

/// Prints and flushes at once: when stdout is a pipe, a script waiting for the URL must not wait for a buffer.
func printFlushed(_ text: String) {
    print(text)
    fflush(nil)  // all streams; naming `stdout` is not concurrency-safe in Swift 6
}
