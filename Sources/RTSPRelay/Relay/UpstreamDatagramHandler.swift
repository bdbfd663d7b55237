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

    /// Binds the RTP/RTCP port pair of one track, each socket feeding the stream.
    static func bindPair(
        on eventLoop: any EventLoop,
        host: String,
        stream: RelayStream,
        rtpChannel: UInt8,
        rtcpChannel: UInt8,
        cameraAddress: String
    ) -> EventLoopFuture<(rtp: any Channel, rtcp: any Channel)> {
        let box = NIOLoopBound(stream, eventLoop: eventLoop)
        return DatagramPortPair.bind(on: eventLoop, host: host, range: nil) { isRTCP, channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    UpstreamDatagramHandler(
                        stream: box.value,
                        channel: isRTCP ? rtcpChannel : rtpChannel,
                        cameraAddress: cameraAddress
                    )
                )
            }
        }
    }
}
