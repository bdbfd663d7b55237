import NIOCore

/// The gateway's UDP socket towards one UDP reader. Only the reader's own address is heard, and only as a sign
/// of life (RTCP receiver reports keep its session from timing out); nothing received is forwarded.
final class ReaderDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let source: String
    private let alive: () -> Void

    init(source: String, alive: @escaping () -> Void) {
        self.source = source
        self.alive = alive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if Self.unwrapInboundIn(data).remoteAddress.ipAddress == self.source { self.alive() }
    }
}
