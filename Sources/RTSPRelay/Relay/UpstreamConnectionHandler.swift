import NIOCore

/// The connection to a camera: a thin adapter that feeds bytes to the ``RTSPClientStateMachine`` and the
/// stream's data path, sends what the state machine says, and runs its timers (response timeout, keep-alive).
final class UpstreamConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let stream: RelayStream
    private var machine: RTSPClientStateMachine
    private var reader: InterleavedReader
    private var context: ChannelHandlerContext?
    private var keepAlive: Scheduled<Void>?
    private var responseTimer: Scheduled<Void>?
    private var receiverReports: Scheduled<Void>?
    private var failure: String?
    private var ended = false
    /// UDP transport: the RTP and RTCP sockets of each track, and where the camera sends from.
    private var datagramChannels: [(rtp: any Channel, rtcp: any Channel)] = []
    private var tracks: [RTSPClientStateMachine.Track] = []

    init(stream: RelayStream, machine: RTSPClientStateMachine, limits: RTSPLimits) {
        self.stream = stream
        self.machine = machine
        self.reader = InterleavedReader(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        self.run(self.machine.connected(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let now = NIODeadline.now()
        do {
            try self.reader.read(buffer) { frame, stitched in
                switch frame {
                case .interleaved(let interleaved):
                    self.stream.receive(interleaved, now: now, stitched: stitched)
                case .response(let response):
                    self.responseTimer?.cancel()
                    self.responseTimer = nil
                    self.run(self.machine.received(response), context: context)
                case .request:
                    break  // cameras' own requests (ANNOUNCE, SET_PARAMETER) are not answered or acted on
                }
            }
        } catch {
            self.fail("camera sent malformed RTSP: \(error)")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.stream.flushBatch(now: .now())
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.end(self.failure ?? "camera closed the connection")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail("connection error: \(error)")
    }

    /// Writes one packet on an interleaved channel of the camera connection (the backchannel). Refused, rather
    /// than queued, when the connection is not taking data: a camera that does not read costs nothing.
    func sendInterleaved(channel: UInt8, _ packet: ByteBuffer) -> Bool {
        guard let context, context.channel.isWritable, !self.ended else { return false }
        var framed = context.channel.allocator.buffer(capacity: packet.readableBytes + 4)
        RTSPMessageSerializer.writeInterleavedHeader(channel: channel, length: packet.readableBytes, into: &framed)
        framed.writeImmutableBuffer(packet)
        context.writeAndFlush(Self.wrapOutboundOut(framed), promise: nil)
        return true
    }

    /// Gives up on this connection; the stream reconnects with backoff.
    func fail(_ reason: String) {
        if self.failure == nil { self.failure = reason }
        self.context?.close(promise: nil)
    }

    /// TEARDOWN, then close (the stream no longer wants this session).
    func stop() {
        self.ended = true  // the stream already forgot this connection; no reconnect
        guard let context = self.context else { return }
        self.run(self.machine.stop(), context: context)
        // A camera that does not answer TEARDOWN is closed anyway.
        self.responseTimer?.cancel()
        self.responseTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) {
            context.close(promise: nil)
        }
    }

    private func end(_ reason: String) {
        for pair in self.datagramChannels {
            pair.rtp.close(promise: nil)
            pair.rtcp.close(promise: nil)
        }
        self.datagramChannels = []
        self.keepAlive?.cancel()
        self.responseTimer?.cancel()
        self.receiverReports?.cancel()
        guard !self.ended else { return }
        self.ended = true
        self.stream.upstreamEnded(self, reason: reason)
    }

    private func run(_ action: RTSPClientStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .send(let request):
            var buffer = context.channel.allocator.buffer(capacity: 512)
            RTSPMessageSerializer.write(request, into: &buffer)
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
            self.responseTimer?.cancel()
            let timeout = self.stream.configuration.responseTimeout
            let method = request.method
            self.responseTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout.timeAmount) {
                self.fail("camera did not answer \(method) within \(timeout)")
            }
        case .playing(let description, let tracks, let interval):
            if !self.machine.refusedFormats.isEmpty {
                self.stream.logger.warning(
                    "camera formats left out: the gateway does not check them (allow_unchecked_codecs relays them)",
                    metadata: ["formats": "\(self.machine.refusedFormats.joined(separator: ", "))"]
                )
            }
            for track in tracks where !track.format.isChecked {
                self.stream.logger.warning(
                    "relaying a format without payload checks (allow_unchecked_codecs)",
                    metadata: ["format": "\(track.format.name)", "track": "\(track.index)"]
                )
            }
            self.tracks = tracks
            self.stream.upstreamPlaying(self, description: description, tracks: tracks)
            self.scheduleKeepAlive(every: interval, context: context)
            self.scheduleReceiverReports(context: context)
        case .bindUDPPorts(let count):
            self.bindUDP(count: count, context: context)
        case .fail(let reason):
            self.fail(reason)
        case .close:
            context.close(promise: nil)
        case .none:
            break
        }
    }

    /// Binds an RTP/RTCP port pair per track on the address the camera connection uses, then lets the state
    /// machine send its SETUPs with those ports.
    private func bindUDP(count: Int, context: ChannelHandlerContext) {
        guard let local = context.channel.localAddress?.ipAddress, let camera = context.channel.remoteAddress?.ipAddress
        else { return self.fail("no addresses for UDP transport") }
        var pairs: [EventLoopFuture<(rtp: any Channel, rtcp: any Channel)>] = []
        for index in 0..<count {
            pairs.append(
                UpstreamDatagramHandler.bindPair(
                    on: context.eventLoop,
                    host: local,
                    stream: self.stream,
                    rtpChannel: UInt8(truncatingIfNeeded: 2 * index),
                    rtcpChannel: UInt8(truncatingIfNeeded: 2 * index + 1),
                    cameraAddress: camera
                )
            )
        }
        EventLoopFuture.whenAllComplete(pairs, on: context.eventLoop).assumeIsolated().whenSuccess { results in
            let bound = results.compactMap { try? $0.get() }
            guard bound.count == count, !self.ended else {
                for pair in bound {
                    pair.rtp.close(promise: nil)
                    pair.rtcp.close(promise: nil)
                }
                return self.fail("could not bind UDP ports for the camera")
            }
            self.datagramChannels = bound
            let ports = bound.map { pair in
                RTSPTransport.PortRange(
                    first: UInt16(pair.rtp.localAddress?.port ?? 0),
                    last: UInt16(pair.rtcp.localAddress?.port ?? 0)
                )
            }
            self.run(self.machine.udpPortsBound(ports), context: context)
        }
    }

    private func scheduleKeepAlive(every interval: Duration, context: ChannelHandlerContext) {
        self.keepAlive = context.eventLoop.assumeIsolated().scheduleTask(in: interval.timeAmount) {
            self.run(self.machine.keepAliveDue(), context: context)
            self.scheduleKeepAlive(every: interval, context: context)
        }
    }

    private func scheduleReceiverReports(context: ChannelHandlerContext) {
        self.receiverReports = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(5)) {
            for (channel, report) in self.stream.receiverReports(now: .now()) {
                var framed = context.channel.allocator.buffer(capacity: report.readableBytes + 4)
                RTSPMessageSerializer.writeInterleavedHeader(
                    channel: channel,
                    length: report.readableBytes,
                    into: &framed
                )
                framed.writeImmutableBuffer(report)
                context.write(Self.wrapOutboundOut(framed), promise: nil)
            }
            context.flush()
            self.scheduleReceiverReports(context: context)
        }
    }
}
