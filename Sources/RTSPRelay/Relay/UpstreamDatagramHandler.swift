import NIOCore
import NIOPosix

/// One of the UDP sockets a camera sends a track's RTP or RTCP to (when the camera is pulled over UDP). Packets
/// from any address but the camera's are dropped: on UDP anyone on the camera network can aim packets at the
/// port, and only the camera may feed its stream.
final class UpstreamDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let stream: RelayStream
    private let channel: UInt8
    private let cameraAddress: String

    init(stream: RelayStream, channel: UInt8, cameraAddress: String) {
        self.stream = stream
        self.channel = channel
        self.cameraAddress = cameraAddress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        guard envelope.remoteAddress.ipAddress == self.cameraAddress else {
            self.stream.countForeignDatagram()
            return
        }
        self.stream.receive(InterleavedFrame(channel: self.channel, payload: envelope.data), now: .now())
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.stream.flushBatch(now: .now())
        context.fireChannelReadComplete()
    }

    /// Binds an even RTP port and the odd port after it for RTCP (RFC 3550 §11), retrying a few times when the
    /// kernel hands out an odd port or the next one is taken.
    static func bindPair(
        on eventLoop: any EventLoop,
        host: String,
        stream: RelayStream,
        rtpChannel: UInt8,
        rtcpChannel: UInt8,
        cameraAddress: String,
        attempts: Int = 16
    ) -> EventLoopFuture<(rtp: any Channel, rtcp: any Channel)> {
        let box = NIOLoopBound(stream, eventLoop: eventLoop)
        @Sendable func bootstrap(_ channel: UInt8) -> DatagramBootstrap {
            DatagramBootstrap(group: eventLoop)
                .channelOption(.socketOption(.so_rcvbuf), value: 1 << 20)
                .channelInitializer { datagramChannel in
                    datagramChannel.eventLoop.makeCompletedFuture {
                        try datagramChannel.pipeline.syncOperations.addHandler(
                            UpstreamDatagramHandler(stream: box.value, channel: channel, cameraAddress: cameraAddress)
                        )
                    }
                }
        }
        return bootstrap(rtpChannel).bind(host: host, port: 0).flatMap { rtp in
            let port = rtp.localAddress?.port ?? 1
            let retry: @Sendable () -> EventLoopFuture<(rtp: any Channel, rtcp: any Channel)> = {
                rtp.close().flatMap {
                    guard attempts > 1 else {
                        return eventLoop.makeFailedFuture(RelayError.cameraUnavailable("no free UDP port pair"))
                    }
                    return bindPair(
                        on: eventLoop,
                        host: host,
                        stream: box.value,
                        rtpChannel: rtpChannel,
                        rtcpChannel: rtcpChannel,
                        cameraAddress: cameraAddress,
                        attempts: attempts - 1
                    )
                }
            }
            guard port % 2 == 0, port < 65535 else { return retry() }
            return bootstrap(rtcpChannel).bind(host: host, port: port + 1)
                .map { rtcp in (rtp: rtp, rtcp: rtcp) }
                .flatMapError { _ in retry() }
        }
    }
}
