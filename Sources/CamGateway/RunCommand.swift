import ArgumentParser
import CameraSimulator
import Logging
import NIOCore
import NIOPosix
import ONVIF
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

    @Option(help: "Log format: text, or json (one object per line, for journald).")
    var logFormat: LogFormat = .text

    func validate() throws {
        // getaddrinfo takes any number as a service and keeps its low 16 bits: 70000 would listen on 4464.
        if let port = self.port, !(0...65535).contains(port) {
            throw ValidationError("--port must be 0–65535, not \(port)")
        }
    }

    func run() async throws {
        let logger = bootstrapLogging(verbose: self.verbose, format: self.logFormat)
        // One event loop for the whole relay: cameras, readers and fan-out share it, so no packet crosses threads.
        let relayLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var services: [any Service] = []
        var gateway: GatewayConfiguration
        var demoCredentials: (user: String, password: String)?

        if let path = self.config {
            do {
                gateway = try GatewayConfig.load(path: path)
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
            var relayConfiguration = RelayConfiguration(cameras: [demo])
            // The demo serves loopback without VMS credentials, and says so; a configuration must ask for it.
            relayConfiguration.access = ReaderAccessPolicy(allowAnonymous: true)
            // Its ONVIF side: the simulator answering as the demo camera, behind a virtual device on port 8000 (a
            // free one with --port 0), which a VMS user "demo" signs in to.
            let onvifCamera = ONVIFCameraSimulator(
                configuration: {
                    var configuration = ONVIFCameraSimulator.Configuration.demo(rtspURL: simulator.url)
                    configuration.username = "admin"
                    configuration.password = password
                    return configuration
                }()
            )
            try await onvifCamera.start()
            services.append(ONVIFSimulatorService(simulator: onvifCamera))
            let vmsPassword = randomHex(bytes: 6)
            relayConfiguration.access.users = [
                .withPassword("demo", vmsPassword, realm: relayConfiguration.access.realm, streams: ["*"])
            ]
            gateway = GatewayConfiguration(relay: relayConfiguration)
            gateway.cameras["demo"] = CameraSettings(
                onvifPort: onvifCamera.port,
                gatewayONVIFPort: self.port == 0 ? 0 : 8000
            )
            gateway.onvifPasswords["demo"] = vmsPassword
            gateway.admin.metricsPort = nil
            demoCredentials = ("demo", vmsPassword)
        }
        var relayConfiguration = gateway.relay
        if let listen = self.listen { relayConfiguration.listenHost = listen }
        if let port = self.port { relayConfiguration.port = port }

        gateway.relay = relayConfiguration
        // One failed-login limiter for RTSP and ONVIF: they check the same credentials.
        // The addresses the VMS signed in from are trusted across restarts (see LoginTrustFile).
        let trustFile = LoginTrustFile(configPath: self.config)
        var saveTrust: (@Sendable ([LoginFailureGate.Trust]) -> Void)?
        if let trustFile { saveTrust = { trusts in trustFile.save(trusts, logger: logger) } }
        let loginFailures = LoginFailureGate(
            limit: relayConfiguration.loginFailureLimit,
            trusted: trustFile?.load(users: Set(relayConfiguration.access.users.map(\.name)), logger: logger) ?? [],
            onTrustChange: saveTrust
        )
        // One VMS-side connection budget for RTSP and ONVIF, below the file limit by what the cameras need.
        let streams = relayConfiguration.cameras.reduce(0) { $0 + $1.streams.count }
        let vmsSideTotal = ConnectionBudget.vmsSideTotal(
            configured: relayConfiguration.maxConnections,
            streams: streams
        )
        let vmsSide = ConnectionBudget(
            perSource: ConnectionBudget.vmsSidePerSource(total: vmsSideTotal),
            total: vmsSideTotal,
            exempt: { loginFailures.isTrusted($0) }
        )
        logger.info(
            "VMS-side connections bounded",
            metadata: ["total": "\(vmsSide.total)", "per source": "\(vmsSide.perSource)", "streams": "\(streams)"]
        )
        let relay = Relay(
            configuration: relayConfiguration,
            eventLoop: relayLoop.next(),
            logger: logger,
            loginFailures: loginFailures,
            connections: vmsSide,
            metadataFilter: MetadataStreamRewriter.rewrite
        )
        let daemon = GatewayDaemon(
            relay: relay,
            configuration: gateway,
            configPath: self.config,
            listen: self.listen,
            port: self.port,
            logger: logger,
            loginFailures: loginFailures,
            connections: vmsSide
        )
        let isDemo = self.config == nil
        let credentials = demoCredentials
        let listenHost = relayConfiguration.listenHost
        let cameraNames = relayConfiguration.cameras.flatMap { camera in
            camera.streams.map { "\(camera.name)/\($0.name)" }
        }
        services.append(
            RelayService(daemon: daemon, logger: logger) { port, tlsPort in
                let host = listenHost == "0.0.0.0" ? "127.0.0.1" : listenHost
                let hostPart = host.contains(":") ? "[\(host)]" : host
                let urls =
                    cameraNames.map { "rtsp://\(hostPart):\(port)/\($0)" }
                    + (tlsPort.map { tlsPort in cameraNames.map { "rtsps://\(hostPart):\(tlsPort)/\($0)" } } ?? [])
                if isDemo, let url = urls.first {
                    printFlushed(
                        """
                        CamGateway demo: a simulated camera (H.264, 640x360, 25 fps, Digest-protected like a real \
                        one) is relayed by the gateway, and served as a virtual ONVIF device (user \
                        \(credentials?.user ?? "demo"), password \(credentials?.password ?? ""); its URL follows).
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
        if self.config != nil {
            services.append(ControlService(daemon: daemon, settings: gateway.admin, logger: logger))
        }
        services.append(ONVIFService(relay: relay, daemon: daemon))
        if let appliance = gateway.appliance {
            services.append(DecoyService(daemon: daemon, appliance: appliance, logger: logger))
        }
        if let metricsPort = gateway.admin.metricsPort {
            services.append(
                MetricsService(daemon: daemon, host: gateway.admin.metricsHost, port: metricsPort, logger: logger)
            )
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        try await relayLoop.shutdownGracefully()
    }
}

/// Runs the relay until graceful shutdown, announcing its URLs once it is bound. SIGHUP reloads the
/// configuration (changing only what changed) and the TLS certificate.
struct RelayService: Service {
    let daemon: GatewayDaemon
    let logger: Logger
    let announce: @Sendable (Int, Int?) -> Void

    func run() async throws {
        let relay = self.daemon.relay
        try await relay.start()
        self.announce(await relay.port, await relay.tlsPort)
        // systemd: ready once the relay listens; the watchdog fed from the relay's own event loop, so that a
        // stuck loop (the one every packet goes through) gets the service restarted.
        let notifier = SystemdNotifier()
        notifier.send("READY=1\nSTATUS=relaying")
        let watchdog = notifier.watchdogInterval.map { interval in
            relay.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { _ in
                notifier.send("WATCHDOG=1")
            }
        }
        let daemon = self.daemon
        let logger = self.logger
        let reloads = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                if daemon.configPath != nil {
                    notifier.send("RELOADING=1")
                    let reply = await daemon.reload()
                    notifier.send("READY=1")
                    if reply.ok {
                        logger.info("SIGHUP: configuration reloaded")
                    } else {
                        logger.error("SIGHUP: reload failed", metadata: ["reason": "\(reply.error ?? "")"])
                    }
                    continue
                }
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
        notifier.send("STOPPING=1")
        watchdog?.cancel()
        reloads.cancel()
        try await relay.stop()
    }
}

/// The virtual ONVIF devices, one HTTP port per camera that has `gateway_onvif_port`; each prints its URL once
/// bound. Started after the relay, whose RTSP port goes into the stream URIs; reloads change them through the
/// daemon.
struct ONVIFService: Service {
    let relay: Relay
    let daemon: GatewayDaemon

    func run() async throws {
        var rtspPort = 0
        for _ in 0..<500 where rtspPort == 0 {
            rtspPort = await self.relay.port
            if rtspPort == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        for (camera, url) in await self.daemon.startONVIF(rtspPort: rtspPort) {
            printFlushed("onvif: \(url) \(camera)")
        }
        try? await gracefulShutdown()
        await self.daemon.virtualDevices.stop()
    }
}

/// The Prometheus endpoint, for the lifetime of the daemon; prints its URL once bound.
struct MetricsService: Service {
    let daemon: GatewayDaemon
    let host: String
    let port: Int
    let logger: Logger

    func run() async throws {
        let metrics = GatewayMetrics()
        metrics.bootstrap()
        let daemon = self.daemon
        let channel: any Channel
        do {
            channel = try await MetricsServer.start(host: self.host, port: self.port) {
                guard let stats = try? await daemon.relay.stats() else { return "" }
                let configuration = daemon.configuration
                // Lookups are per source address, so per device: a recorder's channels share one.
                let devices = EgressReport(configuration: configuration, names: [:], sets: [])
                let names = Dictionary(
                    devices.cameras.compactMap { row in row.address.map { ($0, row.camera) } },
                    uniquingKeysWith: { first, _ in first }
                )
                var lookups: [String: Int] = [:]
                for (address, records) in daemon.decoys.records {
                    guard let device = names[address] else { continue }
                    lookups[device] = records.reduce(0) { $0 + $1.count }
                }
                return metrics.scrape(
                    stats,
                    onvif: daemon.onvifDevices.mapValues(\.callCounts),
                    dnsLookups: lookups,
                    egress: daemon.egressCounts.withLockedValue { $0 },
                    cameras: configuration.relay.cameras.count,
                    devices: configuration.devices.reduce(into: [:]) { $0[$1.kind, default: 0] += 1 }
                )
            }
        } catch {
            self.logger.error(
                "no metrics endpoint",
                metadata: ["address": "\(self.host):\(self.port)", "error": "\(error)"]
            )
            try? await gracefulShutdown()
            return
        }
        let address = channel.localAddress
        let hostPart = self.host.contains(":") ? "[\(self.host)]" : self.host
        printFlushed("metrics: http://\(hostPart):\(address?.port ?? self.port)/metrics")
        self.logger.info("metrics listening", metadata: ["address": "\(address?.description ?? "?")"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// The control socket, for the lifetime of the daemon.
struct ControlService: Service {
    let daemon: GatewayDaemon
    let settings: AdminSettings
    let logger: Logger

    /// A control socket that cannot be made is logged, not fatal: the streams matter more than the admin path.
    func run() async throws {
        let daemon = self.daemon
        let channel: any Channel
        do {
            channel = try await ControlServer.start(
                path: self.settings.socketPath,
                group: self.settings.socketGroup,
                logger: self.logger
            ) { command in await daemon.handle(command) }
        } catch {
            self.logger.error(
                "no control socket: camgw edits and status cannot reach this daemon (SIGHUP still reloads)",
                metadata: ["path": "\(self.settings.socketPath)", "error": "\(error)"]
            )
            try? await gracefulShutdown()
            return
        }
        try? await gracefulShutdown()
        try? await channel.close()
        unlink(self.settings.socketPath)
    }
}

/// The camera-side DNS and NTP decoys, for the lifetime of the daemon; not fatal when they cannot bind.
struct DecoyService: Service {
    let daemon: GatewayDaemon
    let appliance: ApplianceSettings
    let logger: Logger

    func run() async throws {
        do {
            let ports = try await self.daemon.decoys.start(
                address: self.appliance.cameraSideAddress,
                learn: self.appliance.dnsLearnMode,
                dnsPort: self.appliance.decoyDNSPort,
                ntpPort: self.appliance.decoyNTPPort
            )
            printFlushed(
                "decoys: dns \(self.appliance.cameraSideAddress):\(ports.dns) ntp \(self.appliance.cameraSideAddress):\(ports.ntp)"
            )
        } catch {
            self.logger.error("camera-side decoys not started", metadata: ["error": "\(error)"])
        }
        try? await gracefulShutdown()
        await self.daemon.decoys.stop()
    }
}

/// Keeps the demo's ONVIF camera until graceful shutdown.
struct ONVIFSimulatorService: Service {
    let simulator: ONVIFCameraSimulator

    func run() async throws {
        try? await gracefulShutdown()
        try await self.simulator.stop()
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

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

func bootstrapLogging(verbose: Bool, format: LogFormat = .text) -> Logger {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .info
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = verbose ? .debug : .info
            return handler
        }
    }
    return Logger(label: "camgw")
}

/// Prints and flushes at once: when stdout is a pipe, a script waiting for the URL must not wait for a buffer.
func printFlushed(_ text: String) {
    print(text)
    fflush(nil)  // all streams; naming `stdout` is not concurrency-safe in Swift 6
}
