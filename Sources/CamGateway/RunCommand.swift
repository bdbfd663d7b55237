import ArgumentParser
import CameraSimulator
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `camgw run`: the gateway daemon. Until the relay lands it serves the embedded demo camera directly.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway (with no configuration: the demo camera)."
    )

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1"

    @Option(help: "RTSP port (0 picks a free one and prints it).")
    var port = 8554

    @Flag(help: "Log at debug level.")
    var verbose = false

    func run() async throws {
        let logger = bootstrapLogging(verbose: self.verbose)
        var configuration = CameraSimulator.Configuration()
        configuration.host = self.listen
        configuration.port = self.port
        configuration.path = "/demo/main"
        let simulator = try CameraSimulator(configuration: configuration, logger: logger)
        let demo = AnnouncedService(simulator: simulator) { simulator in
            let url = simulator.url
            printFlushed(
                """
                CamGateway demo: a simulated camera is streaming its H.264 test clip (640x360, 25 fps).
                  RTSP URL: \(url)
                Open it with:
                  ffplay -rtsp_transport tcp \(url)
                  vlc \(url)
                Stop with Ctrl-C.
                """
            )
        }
        let group = ServiceGroup(
            configuration: .init(services: [demo], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
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
