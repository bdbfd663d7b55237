import Logging
import NIOCore
import NIOPosix

/// The RTSP relay: pulls each configured camera stream once and serves it at
/// `rtsp://<listen>:<port>/<camera>/<stream>` to every VMS reader.
///
/// All of its work happens on one event loop (by default a dedicated one). Forwarding a packet to a reader on
/// the same loop is a couple of slice writes; a second loop would cost a thread hop, which is an allocation,
/// per packet batch and per reader. One loop moves several Gbit/s of zero-copy writes, more than a site's
/// cameras produce; `camgw-bench` prints the figures.
public final class Relay: Sendable {
    public let eventLoop: any EventLoop
    private let core: RelayCore

    public init(
        configuration: RelayConfiguration,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(),
        logger: Logger = Logger(label: "camgw.relay"),
        loginFailures: LoginFailureGate? = nil,
        connections: ConnectionBudget? = nil,
        metadataFilter: MetadataDocumentFilter? = nil
    ) {
        self.eventLoop = eventLoop
        self.core = RelayCore(
            configuration: configuration,
            eventLoop: eventLoop,
            logger: logger,
            loginFailures: loginFailures,
            connections: connections,
            metadataFilter: metadataFilter
        )
    }

    public func start() async throws {
        try await self.eventLoop.flatSubmit { self.core.start() }.get()
    }

    public func stop() async throws {
        try await self.eventLoop.flatSubmit { self.core.stop() }.get()
    }

    /// The bound RTSP port, once started.
    public var port: Int {
        get async { (try? await self.eventLoop.submit { self.core.port }.get()) ?? nil ?? 0 }
    }

    /// The bound RTSPS port, when TLS is configured.
    public var tlsPort: Int? {
        get async { (try? await self.eventLoop.submit { self.core.tlsPort }.get()) ?? nil }
    }

    /// Loads the TLS certificate and key files again (`camgw` does this on SIGHUP).
    public func reloadTLS() async throws {
        try await self.eventLoop.submit { try self.core.reloadTLS() }.get()
    }

    /// Applies a new configuration, changing only what changed (see ``RelayReloadSummary``); throws
    /// ``RelayReloadError`` and keeps the old one when it cannot be applied live.
    @discardableResult
    public func apply(_ configuration: RelayConfiguration) async throws -> RelayReloadSummary {
        try await self.eventLoop.submit { () throws -> RelayReloadSummary in try self.core.apply(configuration) }.get()
    }

    public func stats() async throws -> RelayStats {
        try await self.eventLoop.submit { self.core.stats }.get()
    }
}
