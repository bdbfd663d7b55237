import NIOCore
import NIOHTTP1
import NIOPosix

/// The VMS side of one virtual device: HTTP/1.1 with keep-alive (SwiftNIO's codec), requests of at most 64 KiB
/// (larger ones get 413 and a fault, and the connection closes), each answered by the device's proxy.
public enum ONVIFHTTPServer {
    public static let maxRequestBytes = 64 * 1024

    public static func start(
        host: String,
        port: Int,
        proxy: ONVIFDeviceProxy,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ONVIFHTTPHandler(proxy: proxy))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

final class ONVIFHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let proxy: ONVIFDeviceProxy
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(proxy: ONVIFDeviceProxy) {
        self.proxy = proxy
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
            let request = ONVIFDeviceProxy.Request(
                method: head.method.rawValue,
                path: head.uri,
                authorization: head.headers.first(name: "Authorization"),
                body: self.body,
                source: context.channel.remoteAddress?.ipAddress ?? "",
                localHost: context.channel.localAddress?.ipAddress ?? "127.0.0.1",
                localPort: context.channel.localAddress?.port ?? 80
            )
            self.body = []
            let proxy = self.proxy
            let keepAlive = head.isKeepAlive
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.makeFutureWithTask { await proxy.handle(request) }.whenSuccess { response in
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
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
