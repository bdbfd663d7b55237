import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET /metrics` over HTTP/1.1 (SwiftNIO's HTTP codec), bound to localhost unless configured otherwise. Nothing
/// else is served: other paths get 404, other methods 405.
enum MetricsServer {
    static func start(
        host: String,
        port: Int,
        scrape: @escaping @Sendable () async -> String
    ) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(scrape: scrape))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let scrape: @Sendable () async -> String
    private var head: HTTPRequestHead?

    init(scrape: @escaping @Sendable () async -> String) {
        self.scrape = scrape
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            guard head.method == .GET || head.method == .HEAD else {
                return Self.respond(
                    .methodNotAllowed,
                    body: "only GET\n",
                    keepAlive: head.isKeepAlive,
                    context: context
                )
            }
            guard head.uri == "/metrics" || head.uri.hasPrefix("/metrics?") else {
                return Self.respond(.notFound, body: "try /metrics\n", keepAlive: head.isKeepAlive, context: context)
            }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let scrape = self.scrape
            let keepAlive = head.isKeepAlive
            context.eventLoop.makeFutureWithTask { await scrape() }.whenSuccess { text in
                Self.respond(.ok, body: text, keepAlive: keepAlive, context: bound.value)
            }
        }
    }

    private static func respond(
        _ status: HTTPResponseStatus,
        body: String,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
