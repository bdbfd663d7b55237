import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix

/// The DNS and NTP decoys on the camera side (the egress lock sends every camera's DNS and NTP here, whatever
/// address it aimed at): DNS (UDP, and TCP for the resolvers that fall back to it) answers NXDOMAIN, or the
/// gateway's own address in learn mode, and every name each camera asked for is recorded; NTP answers from the
/// gateway's clock. Bounded: 1024 names per camera, 1024 cameras; 64 TCP connections, each closed after 10 s
/// without a query.
final class DecoyServer: Sendable {
    struct Lookup: Codable, Sendable, Hashable {
        var name: String
        var count: Int
        var first: Date
        var last: Date
    }

    private let lookups = NIOLockedValueBox([String: [String: Lookup]]())
    private let channels = NIOLockedValueBox([any Channel]())
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// By camera address: the names it looked up.
    var records: [String: [Lookup]] {
        self.lookups.withLockedValue { $0.mapValues { $0.values.sorted { $0.name < $1.name } } }
    }

    func start(address: String, learn: Bool, dnsPort: Int = 53, ntpPort: Int = 123) async throws -> (dns: Int, ntp: Int)
    {
        guard case .v4(let local) = try SocketAddress(ipAddress: address, port: 0) else {
            throw ChannelError.badInterfaceAddressFamily
        }
        let own = withUnsafeBytes(of: local.address.sin_addr.s_addr) { Array($0) }
        let answer: @Sendable (String, [UInt8]) -> [UInt8]? = { source, bytes in
            guard let query = try? DNSQuery.parse(bytes) else { return nil }
            self.record(query.name, from: source)
            return query.answer(address: learn ? own : nil)
        }
        let dns = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DecoyHandler(answer: answer))
                }
            }
            .bind(host: address, port: dnsPort).get()
        let connections = NIOLockedValueBox(0)
        // DNS over TCP (RFC 7766): each message after its two-byte length, on the same port as UDP.
        let dnsTCP = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let admitted = connections.withLockedValue { count -> Bool in
                    guard count < 64 else { return false }
                    count += 1
                    return true
                }
                guard admitted else { return channel.close() }
                channel.closeFuture.whenComplete { _ in connections.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    let source = channel.remoteAddress?.ipAddress ?? ""
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .seconds(10)),
                        ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                        LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
                        DecoyStreamHandler { bytes in answer(source, bytes) },
                    ])
                }
            }
            .bind(host: address, port: dns.localAddress?.port ?? dnsPort).get()
        let ntp = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        DecoyHandler { _, bytes in NTPAnswer.answer(to: bytes, now: Date().timeIntervalSince1970) }
                    )
                }
            }
            .bind(host: address, port: ntpPort).get()
        self.channels.withLockedValue { $0 = [dns, dnsTCP, ntp] }
        self.logger.info(
            "camera-side decoys listening",
            metadata: ["address": "\(address)", "dns": "\(learn ? "learn" : "nxdomain")"]
        )
        return (dns.localAddress?.port ?? dnsPort, ntp.localAddress?.port ?? ntpPort)
    }

    func stop() async {
        for channel in self.channels.withLockedValue({ $0 }) { try? await channel.close() }
    }

    private func record(_ name: String, from source: String) {
        let now = Date()
        let first = self.lookups.withLockedValue { lookups -> Bool in
            if lookups[source] == nil, lookups.count >= 1024 { return false }
            var names = lookups[source, default: [:]]
            var lookup = names[name] ?? Lookup(name: name, count: 0, first: now, last: now)
            guard names[name] != nil || names.count < 1024 else { return false }
            let isNew = lookup.count == 0
            lookup.count += 1
            lookup.last = now
            names[name] = lookup
            lookups[source] = names
            return isNew
        }
        if first {
            self.logger.notice(
                "camera looked up a name",
                metadata: ["camera": "\(source)", "name": "\(name)", "audit": "true"]
            )
        }
    }
}

/// One datagram in, at most one answer back to where it came from.
final class DecoyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let answer: @Sendable (String, [UInt8]) -> [UInt8]?

    init(answer: @escaping @Sendable (String, [UInt8]) -> [UInt8]?) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        guard envelope.data.readableBytes <= 1024,
            let reply = self.answer(envelope.remoteAddress.ipAddress ?? "", Array(envelope.data.readableBytesView))
        else { return }
        context.writeAndFlush(
            Self.wrapOutboundOut(
                AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: reply))
            ),
            promise: nil
        )
    }
}

/// One framed message in, its answer back on the same connection; anything that is not a query, or 10 s of
/// silence, ends the connection.
final class DecoyStreamHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let answer: @Sendable ([UInt8]) -> [UInt8]?

    init(answer: @escaping @Sendable ([UInt8]) -> [UInt8]?) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = Self.unwrapInboundIn(data)
        guard let reply = self.answer(Array(message.readableBytesView)) else {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(bytes: reply)), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
