import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 request to a camera on its own connection, with a deadline and a cap on the answer.
///
/// A few lines over NIOHTTP1 rather than AsyncHTTPClient: the gateway sends exactly one kind of request to
/// exactly one configured host and port, and must never follow a redirect, use a proxy from the environment,
/// pool connections across cameras or read an unbounded body; AsyncHTTPClient's features would all be turned off.
public enum HTTPExchange {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case connect(String)
        case timeout
        case tooLarge(Int)
        case closed

        public var description: String {
            switch self {
            case .connect(let reason): "cannot connect: \(reason)"
            case .timeout: "no complete answer in time"
            case .tooLarge(let limit): "answer larger than \(limit) bytes"
            case .closed: "connection closed before the answer was complete"
            }
        }
    }

    public static func send(
        host: String,
        port: Int,
        method: HTTPMethod,
        path: String,
        headers: HTTPHeaders,
        body: [UInt8],
        timeout: TimeAmount = .seconds(10),
        maxResponseBytes: Int = 1024 * 1024,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(Failure) -> Response {
        let promise = group.next().makePromise(of: Response.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            ResponseCollector(promise: promise, maxBytes: maxResponseBytes)
                        )
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            promise.fail(Failure.connect("\(error)"))
            throw .connect("\(error)")
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        head.headers.replaceOrAdd(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { promise.fail(Failure.timeout) }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await promise.futureResult.get()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .closed
        }
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<HTTPExchange.Response>
    private let maxBytes: Int
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    init(promise: EventLoopPromise<HTTPExchange.Response>, maxBytes: Int) {
        self.promise = promise
        self.maxBytes = maxBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(let buffer):
            guard self.body.count + buffer.readableBytes <= self.maxBytes else {
                self.promise.fail(HTTPExchange.Failure.tooLarge(self.maxBytes))
                context.close(promise: nil)
                return
            }
            self.body += buffer.readableBytesView
        case .end:
            guard let head = self.head else { return self.promise.fail(HTTPExchange.Failure.closed) }
            self.promise.succeed(.init(status: Int(head.status.code), headers: head.headers, body: self.body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(HTTPExchange.Failure.closed)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(HTTPExchange.Failure.closed)
        context.close(promise: nil)
    }
}
