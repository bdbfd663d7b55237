import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The relay's state: its streams and its RTSP server. Confined to one event loop — the same one that serves the
/// readers and talks to the cameras — so the data path needs no locks and no thread hops. Every entry point runs
/// on that loop (``Relay`` hops there); `@unchecked Sendable` only lets the box cross into it.
final class RelayCore: @unchecked Sendable {
    let eventLoop: any EventLoop
    let logger: Logger
    let allocator = ByteBufferAllocator()
    private(set) var configuration: RelayConfiguration
    private(set) var streams: [StreamPath: RelayStream] = [:]
    private var serverChannel: (any Channel)?
    private var tlsServerChannel: (any Channel)?
    /// The current TLS context; new RTSPS connections take whichever is current (see ``reloadTLS()``).
    private var tlsContext: NIOSSLContext?
    private var housekeeping: Scheduled<Void>?
    private var nextReaderID = 0
    private var connectionsBySource: [String: Int] = [:]
    /// Refused connections waiting out their 503.
    private var refusing = 0
    static let maxRefusing = 64
    let loginFailures: LoginFailureGate
    /// The daemon's VMS-side budget, shared with the virtual ONVIF devices; nil: only the per-source limit.
    let connections: ConnectionBudget?
    /// Failed VMS logins since start.
    var authFailures = 0
    /// The ONVIF side's parser for metadata documents; nil: metadata tracks are an unchecked format.
    let metadataFilter: MetadataDocumentFilter?

    init(
        configuration: RelayConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        loginFailures: LoginFailureGate?,
        connections: ConnectionBudget? = nil,
        metadataFilter: MetadataDocumentFilter? = nil
    ) {
        self.metadataFilter = metadataFilter
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.loginFailures = loginFailures ?? LoginFailureGate(limit: configuration.loginFailureLimit)
        self.connections = connections
    }

    /// A new connection from `source` (IPv6 by its /64, as the failed-login and ONVIF counts are: one host
    /// can rotate through its prefix): admitted unless the source is over its limit or the VMS-side budget is
    /// full. A refused one gets a 503 for its first request and two seconds to send it — but at most
    /// ``maxRefusing`` at once: past that, and on RTSPS (a 503 would cost a TLS handshake first), nil: close it
    /// at accept, so a flood of connections cannot hold descriptors beyond the budget it is refused by.
    func connectionOpened(from source: String, isTLS: Bool) -> ConnectionAdmission? {
        let key = LoginFailureGate.sourceKey(source)
        let underLimit = self.connectionsBySource[key, default: 0] < self.configuration.maxConnectionsPerSource
        if underLimit, self.connections?.acquire(source) ?? true {
            self.connectionsBySource[key, default: 0] += 1
            return ConnectionAdmission(source: source, admitted: true, holdsSlot: self.connections != nil)
        }
        guard !isTLS, self.refusing < Self.maxRefusing else { return nil }
        self.refusing += 1
        return ConnectionAdmission(source: source, admitted: false, holdsSlot: false)
    }

    func connectionClosed(_ admission: ConnectionAdmission) {
        guard admission.admitted else {
            self.refusing -= 1
            return
        }
        if admission.holdsSlot { self.connections?.release(admission.source) }
        let key = LoginFailureGate.sourceKey(admission.source)
        guard let count = self.connectionsBySource[key] else { return }
        self.connectionsBySource[key] = count > 1 ? count - 1 : nil
    }

    var upstreamLimits: RTSPLimits {
        var limits = RTSPLimits()
        limits.maxInterleavedFrameSize = min(0xFFFF, self.configuration.maxPacketSize)
        return limits
    }

    var readerCount: Int { self.streams.values.reduce(0) { $0 + $1.readers.count } }

    func makeReaderID() -> Int {
        self.nextReaderID += 1
        return self.nextReaderID
    }

    func stream(_ path: StreamPath) -> RelayStream? { self.streams[path] }

    // MARK: Lifecycle

    func start() -> EventLoopFuture<Void> {
        self.eventLoop.preconditionInEventLoop()
        if let tls = self.configuration.tls {
            do {
                self.tlsContext = try tls.makeContext()
            } catch {
                return self.eventLoop.makeFailedFuture(error)
            }
        }
        for camera in self.configuration.cameras {
            for stream in camera.streams {
                let path = StreamPath(camera: camera.name, stream: stream.name)
                self.streams[path] = RelayStream(path: path, camera: camera, stream: stream, core: self)
            }
        }
        var bootstrap = ServerBootstrap(group: self.eventLoop)
        if let sendBuffer = self.configuration.readerSocketSendBuffer {
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(sendBuffer))
        }
        let plain = self.bind(bootstrap, port: self.configuration.port, tls: false)
        let secure = self.configuration.tls.map { self.bind(bootstrap, port: $0.port, tls: true) }
        return plain.and(secure ?? self.eventLoop.makeSucceededFuture(nil)).assumeIsolated().map {
            channel,
            tlsChannel in
            self.serverChannel = channel
            self.tlsServerChannel = tlsChannel
            self.logger.info(
                "RTSP relay listening",
                metadata: ["address": "\(channel?.localAddress?.description ?? "?")"]
            )
            if let tlsChannel {
                self.logger.info(
                    "RTSPS relay listening",
                    metadata: ["address": "\(tlsChannel.localAddress?.description ?? "?")"]
                )
            }
            for stream in self.streams.values where !stream.camera.onDemand { stream.startUpstream() }
            self.scheduleHousekeeping()
        }.nonisolated()
    }

    private func bind(_ bootstrap: ServerBootstrap, port: Int, tls: Bool) -> EventLoopFuture<(any Channel)?> {
        let highWater = self.configuration.readerMaxQueuedBytes
        return
            bootstrap
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: highWater / 2, high: highWater))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard
                        let admission = self.connectionOpened(from: channel.remoteAddress?.ipAddress ?? "", isTLS: tls)
                    else { throw ConnectionBudget.Full() }
                    do {
                        if tls {
                            guard let context = self.tlsContext else { throw RelayError.streamStopped }
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RTSPMessageDecoder()))
                        try channel.pipeline.syncOperations.addHandler(
                            RTSPServerConnectionHandler(core: self, admission: admission, isTLS: tls)
                        )
                    } catch {
                        self.connectionClosed(admission)  // no handler to give it back on close
                        throw error
                    }
                }
            }
            .bind(host: self.configuration.listenHost, port: port)
            .map { $0 }
    }

    /// Takes a new configuration live, changing only what changed: an added camera starts, a removed one stops
    /// (its readers' connections close), a changed one restarts, and every other stream goes on with its camera
    /// session and readers untouched. What cannot change without a restart (listen address, ports) refuses the
    /// whole configuration, and the old one stays.
    func apply(_ new: RelayConfiguration) throws(RelayReloadError) -> RelayReloadSummary {
        self.eventLoop.preconditionInEventLoop()
        let old = self.configuration
        guard new.listenHost == old.listenHost, new.port == old.port, new.tls?.port == old.tls?.port,
            (new.tls == nil) == (old.tls == nil)
        else {
            throw RelayReloadError(reason: "the listen address, RTSP port or RTSPS port changed: that needs a restart")
        }
        var tlsContext = self.tlsContext
        if let tls = new.tls, tls != old.tls {
            do {
                tlsContext = try tls.makeContext()
            } catch {
                throw RelayReloadError(reason: "TLS certificate or key unusable: \(error)")
            }
        }
        let oldCameras = Dictionary(old.cameras.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newCameras = Dictionary(new.cameras.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var summary = RelayReloadSummary()
        for (name, camera) in oldCameras {
            guard let replacement = newCameras[name] else {
                summary.removed.append(name)
                self.removeStreams(of: camera, reason: "camera removed from the configuration")
                continue
            }
            if replacement != camera {
                summary.changed.append(name)
                self.removeStreams(of: camera, reason: "camera changed in the configuration")
            } else {
                summary.unchanged.append(name)
            }
        }
        summary.added = newCameras.keys.filter { oldCameras[$0] == nil }
        self.configuration = new
        self.tlsContext = tlsContext
        for camera in new.cameras where summary.added.contains(camera.name) || summary.changed.contains(camera.name) {
            for stream in camera.streams {
                let path = StreamPath(camera: camera.name, stream: stream.name)
                let relayStream = RelayStream(path: path, camera: camera, stream: stream, core: self)
                self.streams[path] = relayStream
                if !camera.onDemand { relayStream.startUpstream() }
            }
        }
        summary.sort()
        self.logger.info(
            "configuration applied",
            metadata: [
                "added": "\(summary.added)", "removed": "\(summary.removed)", "changed": "\(summary.changed)",
                "unchanged": "\(summary.unchanged.count)",
            ]
        )
        return summary
    }

    private func removeStreams(of camera: RelayConfiguration.Camera, reason: String) {
        for stream in camera.streams {
            let path = StreamPath(camera: camera.name, stream: stream.name)
            guard let relayStream = self.streams.removeValue(forKey: path) else { continue }
            relayStream.logger.info("stream stopped", metadata: ["reason": "\(reason)"])
            relayStream.shutdown()
        }
    }

    /// Reads the certificate chain and key again (after a renewal); connections already open keep theirs.
    func reloadTLS() throws {
        self.eventLoop.preconditionInEventLoop()
        guard let tls = self.configuration.tls else { return }
        self.tlsContext = try tls.makeContext()
        self.logger.info("TLS certificate reloaded", metadata: ["certificate": "\(tls.certificateChainPath)"])
    }

    private func scheduleHousekeeping() {
        self.housekeeping = self.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) {
            let now = NIODeadline.now()
            for stream in self.streams.values { stream.housekeeping(now: now) }
            self.scheduleHousekeeping()
        }
    }

    func stop() -> EventLoopFuture<Void> {
        self.eventLoop.preconditionInEventLoop()
        self.housekeeping?.cancel()
        for stream in self.streams.values { stream.shutdown() }
        let servers = [self.serverChannel, self.tlsServerChannel].compactMap { $0 }
        self.serverChannel = nil
        self.tlsServerChannel = nil
        return EventLoopFuture.andAllComplete(servers.map { $0.close() }, on: self.eventLoop)
    }

    var port: Int? { self.serverChannel?.localAddress?.port }
    var tlsPort: Int? { self.tlsServerChannel?.localAddress?.port }

    var stats: RelayStats {
        RelayStats(
            streams: self.streams.values.map(\.stats).sorted { $0.path.description < $1.path.description },
            authFailures: self.authFailures
        )
    }
}

/// What ``RelayCore/connectionOpened(from:isTLS:)`` decided for one connection, given back when it closes.
struct ConnectionAdmission {
    var source: String
    /// Counted for its source; false: refused, waiting out its 503.
    var admitted: Bool
    /// Holds a slot of the VMS-side budget.
    var holdsSlot: Bool
}
