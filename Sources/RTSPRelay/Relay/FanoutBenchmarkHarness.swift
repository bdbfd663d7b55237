import Logging
import NIOCore
import NIOEmbedded

/// Drives one relay stream's data path in process, for `camgw-bench`: reads from a camera connection go through
/// the same ``InterleavedReader``, checks, renumbering, keyframe cache and fan-out as in production, to readers
/// whose channels end in a handler that drops what it is given (so only the relay's own work is measured, not a
/// test channel's buffering). SPI: not part of the library's API.
@_spi(Benchmark)
public final class FanoutBenchmarkHarness {
    private let loop = EmbeddedEventLoop()
    private let core: RelayCore
    private let stream: RelayStream
    private var reader: InterleavedReader
    private var channels: [EmbeddedChannel] = []
    private let sinks: [CountingSink]

    /// - Parameters:
    ///   - readers: how many readers play the stream.
    ///   - payloadType: the H.264 payload type of the camera's packets (channel 0).
    public init(readers: Int, payloadType: UInt8 = 96, keyframeCache: Bool = true, payloadChecks: Bool = true) throws {
        var configuration = RelayConfiguration(cameras: [
            .init(name: "bench", host: "127.0.0.1", streams: [.init(name: "main", path: "/")])
        ])
        configuration.maxPacketSize = 65535
        if !keyframeCache { configuration.gopCacheMaxPackets = 0 }
        self.core = RelayCore(
            configuration: configuration,
            eventLoop: self.loop,
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }),
            loginFailures: nil
        )
        self.stream = RelayStream(
            path: StreamPath(camera: "bench", stream: "main"),
            camera: configuration.cameras[0],
            stream: configuration.cameras[0].streams[0],
            core: self.core
        )
        self.reader = InterleavedReader(limits: self.core.upstreamLimits)
        let media = SessionDescription.Media(
            type: "video",
            formats: [String(payloadType)],
            attributes: [.init("rtpmap", "\(payloadType) H264/90000"), .init("control", "trackID=0")]
        )
        let track = RTSPClientStateMachine.Track(
            index: 0,
            media: media,
            controlURL: "rtsp://127.0.0.1/trackID=0",
            payloadTypes: PayloadTypeSet([payloadType]),
            clockRate: 90000,
            codec: .h264,
            // Off: the camera's payloads go through unread, as with `allow_unchecked_codecs` (for the cost).
            format: payloadChecks ? .h264 : .unchecked("bench")
        )
        self.stream.apply(
            description: SessionDescription(
                origin: .init(sessionID: "1", sessionVersion: "1", address: "0.0.0.0"),
                sessionName: "bench",
                media: [media]
            ),
            tracks: [track]
        )
        self.stream.assumeUpstreamPlaying()
        var sinks: [CountingSink] = []
        for index in 0..<readers {
            let sink = CountingSink()
            let capture = ContextCapture()
            let channel = EmbeddedChannel(handlers: [sink, capture], loop: self.loop)
            self.channels.append(channel)
            sinks.append(sink)
            let reader = RelayReader(
                id: index,
                context: capture.context!,
                address: "bench-\(index)",
                since: .now(),
                bindings: [(0, 1)]
            )
            self.stream.attach(reader)
        }
        self.sinks = sinks
    }

    /// Detaches the readers and closes their channels: an EmbeddedChannel, its pipeline and the contexts the
    /// readers keep hold each other until then.
    public func close() {
        for reader in self.stream.readers { self.stream.detach(reader, reason: "benchmark over") }
        for channel in self.channels { _ = try? channel.finish() }
        self.channels = []
        self.loop.run()
    }

    /// One read from the camera connection, then the end of the read batch (one flush per reader).
    public func read(_ buffer: ByteBuffer) throws {
        let now = NIODeadline.now()
        try self.reader.read(buffer) { frame, stitched in
            if case .interleaved(let interleaved) = frame {
                self.stream.receive(interleaved, now: now, stitched: stitched)
            }
        }
        self.stream.flushBatch(now: now)
    }

    /// Packets the readers were given in all, and packets the stream took from the camera.
    public var packetsWritten: Int { self.stream.readers.reduce(0) { $0 + $1.packetsSent } }
    /// Writes that reached the end of the readers' pipelines (headers and payloads are separate writes).
    public var writesSwallowed: Int { self.sinks.reduce(0) { $0 + $1.writes } }
    public var packetsReceived: Int { self.stream.stats.packetsIn }
    /// Packets the payload check rewrote (copies), and their bytes.
    public var packetsRewritten: Int { self.stream.packetsRewritten }
    public var bytesRewritten: Int { self.stream.bytesRewritten }
    public var packetsDropped: Int { self.stream.stats.dropped.values.reduce(0, +) }
    /// Drops by reason, for the ones that happened.
    public var drops: [String: Int] {
        Dictionary(
            uniqueKeysWithValues: self.stream.stats.dropped.filter { $0.value > 0 }.map { ($0.key.rawValue, $0.value) }
        )
    }
}

/// Keeps the context a ``RelayReader`` writes through.
private final class ContextCapture: ChannelInboundHandler {
    typealias InboundIn = Never
    var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }
}

/// Swallows writes at the head of the pipeline, counting them.
private final class CountingSink: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var writes = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        _ = Self.unwrapOutboundIn(data)
        self.writes += 1
        promise?.succeed()
    }

    func flush(context: ChannelHandlerContext) {}
}
