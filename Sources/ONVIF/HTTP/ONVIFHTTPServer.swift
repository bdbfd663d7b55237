import GatewayAuth
import NIOCore
import NIOHTTP1
import NIOPosix

/// The VMS side of one virtual device: HTTP/1.1 with keep-alive (SwiftNIO's codec), requests of at most 64 KiB
/// (larger ones get 413 and a fault, and the connection closes), each answered by the device's proxy. Bounded:
/// connections per source and in all (``ConnectionBudget``, checked at accept), 60 s idle between requests and
/// 10 s for a request once it started (``ConnectionDeadlines``).
public enum ONVIFHTTPServer {
    public static let maxRequestBytes = 64 * 1024

    /// Path mode: one port for every device, each at `/onvif/<camera>/…`; `devices` is read per request, so devices
    /// added or removed by a reload appear and go at once.
    public static func startRouter(
        host: String,
        port: Int,
        budget: ConnectionBudget = .shared,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        devices: @escaping @Sendable (String) -> ONVIFDeviceProxy?
    ) async throws -> any Channel {
        try await self.bind(host: host, port: port, route: .path(devices), group: group, budget: budget)
    }

    public static func start(
        host: String,
        port: Int,
        proxy: ONVIFDeviceProxy,
        budget: ConnectionBudget = .shared,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> any Channel {
        try await self.bind(host: host, port: port, route: .device(proxy), group: group, budget: budget)
    }

    private static func bind(
        host: String,
        port: Int,
        route: ONVIFHTTPHandler.Route,
        group: any EventLoopGroup,
        budget: ConnectionBudget
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let source = channel.remoteAddress?.ipAddress ?? ""
                guard budget.acquire(source) else {
                    return channel.eventLoop.makeFailedFuture(ConnectionBudget.Full())
                }
                // Released however the channel ends, even one closed before it became active.
                channel.closeFuture.whenComplete { _ in budget.release(source) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionDeadlines(budget: budget, source: source))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ONVIFHTTPHandler(route: route))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

final class ONVIFHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Route: Sendable {
        case device(ONVIFDeviceProxy)
        case path(@Sendable (String) -> ONVIFDeviceProxy?)
    }

    private let route: Route
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(route: Route) {
        self.route = route
    }

    /// The device for a request path, the path within it, and where it is mounted.
    private func resolve(_ path: String) -> (ONVIFDeviceProxy, String, String)? {
        switch self.route {
        case .device(let proxy):
            return (proxy, path, "")
        case .path(let lookup):
            let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[0].isEmpty, parts[1] == "onvif",
                let proxy = lookup(String(parts[2].prefix { $0 != "/" && $0 != "?" }))
            else { return nil }
            let camera = String(parts[2].prefix { $0 != "/" && $0 != "?" })
            let rest = String(path.dropFirst("/onvif/\(camera)".count))
            return (proxy, rest.isEmpty ? "/" : rest, "/onvif/\(camera)")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
            self.tooLarge = false
        case .body(let buffer):
            guard !self.tooLarge else { return }
            if self.body.count + buffer.readableBytes > ONVIFHTTPServer.maxRequestBytes {
                self.tooLarge = true
                self.body = []
                return
            }
            self.body += buffer.readableBytesView
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            context.channel.pipeline.fireUserInboundEventTriggered(RequestReceived())
            if self.tooLarge {
                let fault = SOAPFault.sender("ter:InvalidArgVal", reason: "Request over 64 KiB")
                return Self.write(
                    .init(
                        status: 413,
                        contentType: "application/soap+xml; charset=utf-8",
                        headers: [],
                        body: Array(fault.document.utf8)
                    ),
                    keepAlive: false,
                    context: context
                )
            }
            guard let (proxy, path, mount) = self.resolve(head.uri) else {
                let fault = SOAPFault.sender(
                    "ter:InvalidArgVal",
                    reason: "No device at this path; try /onvif/<camera>/device_service"
                )
                return Self.write(
                    .init(
                        status: 404,
                        contentType: "application/soap+xml; charset=utf-8",
                        headers: [],
                        body: Array(fault.document.utf8)
                    ),
                    keepAlive: head.isKeepAlive,
                    context: context
                )
            }
            var request = ONVIFDeviceProxy.Request(
                method: head.method.rawValue,
                path: path,
                authorization: head.headers.first(name: "Authorization"),
                body: self.body,
                source: context.channel.remoteAddress?.ipAddress ?? "",
                localHost: context.channel.localAddress?.ipAddress ?? "127.0.0.1",
                localPort: context.channel.localAddress?.port ?? 80
            )
            request.mount = mount
            self.body = []
            let keepAlive = head.isKeepAlive
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let ready = request
            context.eventLoop.makeFutureWithTask { await proxy.handle(ready) }.whenSuccess { response in
                Self.write(response, keepAlive: keepAlive, context: bound.value)
            }
        }
    }

    private static func write(_ response: ONVIFDeviceProxy.Response, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Server", value: "CamGateway")
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        let done = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        context.channel.pipeline.fireUserInboundEventTriggered(RequestAnswered())
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
