import Crypto
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One camera stream, pulled once and served to every reader: the upstream connection's lifecycle (on demand or
/// always on, reconnect with backoff), the packet checks, the renumbering, the keyframe cache and the fan-out.
///
/// Confined to the relay's event loop, as are its readers' channels, so that forwarding a packet is a few slice
/// writes with no lock, no hop between threads and no allocation.
final class RelayStream {
    let path: StreamPath
    let camera: RelayConfiguration.Camera
    let streamConfiguration: RelayConfiguration.Stream
    let core: RelayCore
    var logger: Logger

    enum UpstreamState: String {
        case idle
        case connecting
        case playing
        case backingOff = "backing off"
        case stopped
    }

    // MARK: Upstream state

    private(set) var upstreamState = UpstreamState.idle
    private var upstreamChannel: (any Channel)?
    private var upstreamHandler: UpstreamConnectionHandler?
    private var backoff: ReconnectBackoff
    private var reconnectTask: Scheduled<Void>?
    private var upstreamStartedAt: NIODeadline?
    private var lastError: String?
    private var reconnects = 0
    private var upstreamSessions = 0
    private var lastPacketAt = NIODeadline.now()
    private var describeWaiters: [EventLoopPromise<Void>] = []

    // MARK: Description

    private(set) var tracks: [RelayTrack] = []
    private var cameraTracks: [RTSPClientStateMachine.Track] = []
    /// Interleaved channel → track index (RTP) or track index + 128 (RTCP); 0xFF unknown.
    private var channelMap = [UInt8](repeating: 0xFF, count: 256)
    private(set) var gatewaySDP: String?
    /// The description for a reader that required the backchannel; nil when the camera has none (or it is off).
    private(set) var gatewaySDPWithBackchannel: String?
    private var videoTrack: Int?

    // MARK: Backchannel

    private(set) var backchannelTrack: Int?
    /// The one reader whose audio goes to the camera's speaker; others asking for it get 453.
    private var backchannelOwner: RelayReader?
    private var backchannelOutput = RTPContinuity(
        outputSSRC: UInt32.random(in: 1...UInt32.max),
        clockRate: 8000,
        initialSequence: UInt16.random(in: 0...UInt16.max),
        initialTimestamp: UInt32.random(in: 0...UInt32.max)
    )
    /// G.711 at 20 ms is 50 packets a second; twice that, with a burst, is what any VMS sends.
    private var backchannelLimiter = PacketRateLimiter(rate: 100, burst: 50)
    private var backchannelPackets = 0

    // MARK: Data path

    /// Rewritten `$` and RTP headers (and regenerated RTCP) of the current read batch. Written in full before any
    /// slice of it is handed out, and cleared at the start of the next batch: its storage is reused whenever the
    /// readers have written the last batch out, so steady state allocates nothing.
    private var arena: ByteBuffer
    private var batch: [PendingPacket] = []
    /// Datagrams for UDP readers, built once per packet for all of them (a datagram is one buffer, so this is the
    /// one copy UDP needs); cleared and reused per batch like the arena.
    private var datagramArena: ByteBuffer
    private var hasUDPReaders = false
    /// Multicast: one socket per stream, opened for the first multicast reader and kept until the stream stops.
    private var multicastSender: (any Channel)?
    private var multicastOpening: EventLoopFuture<Void>?
    private var multicastTargets: [(rtp: SocketAddress, rtcp: SocketAddress)?] = []
    private var multicastReaders = 0
    /// The group starts (and restarts after the camera did) at a keyframe: a joining decoder can start there.
    private var multicastWaitingForKeyframe = true
    private var cache: KeyframeCache
    private(set) var readers: [RelayReader] = []
    private var lingerTask: Scheduled<Void>?

    private var foreignDatagrams = 0
    private var packetsIn = 0
    private var bytesIn = 0
    /// Packets readers that have left did not get (they fell behind): kept so the stream's total never shrinks.
    private var departedReaderDrops = 0
    private var bitrateSample: (at: NIODeadline, bytes: Int)?
    private var bitsPerSecondIn = 0
    private var packetsOut = 0
    private var bytesOut = 0
    private var dropped: [RTPDropReason: Int] = Dictionary(uniqueKeysWithValues: RTPDropReason.allCases.map { ($0, 0) })

    /// Fragments of a run the payload check holds until its end (PayloadGuard); slices of the reads, as the
    /// keyframe cache keeps them.
    struct HeldPacket {
        var track: Int
        var frame: InterleavedFrame
        var header: RTPHeader
        var stitched: Bool
    }
    private var held: [HeldPacket] = []
    /// Packets the payload check made anew (an aggregation without its SEI, a metadata document's packets), and
    /// their bytes: the data path's only copies of camera payload besides stitched reads (`camgw-bench` prints them).
    private(set) var packetsRewritten = 0
    private(set) var bytesRewritten = 0

    struct PendingPacket {
        var track: Int
        var isRTCP: Bool
        /// `$` header + 12-byte RTP header, or `$` header + regenerated RTCP, in the arena.
        var headerOffset: Int
        var headerLength: Int
        /// `$` headers for the track's alternate channels follow the canonical header, 4 bytes each.
        var alternateOffset: Int
        /// Everything after the 12-byte RTP header (CSRCs, extension, payload, padding): a slice of the read.
        var payload: ByteBuffer
        var startsAccessUnit: Bool
        var startsKeyframe: Bool
        /// For UDP readers: the whole packet (rewritten header and payload, or the regenerated RTCP) in the
        /// datagram arena; `-1` when no UDP reader plays.
        var datagramOffset = -1
        var datagramLength = 0
    }

    init(path: StreamPath, camera: RelayConfiguration.Camera, stream: RelayConfiguration.Stream, core: RelayCore) {
        self.path = path
        self.camera = camera
        self.streamConfiguration = stream
        self.core = core
        self.backoff = core.configuration.backoff
        self.arena = core.allocator.buffer(capacity: 16 * 1024)
        self.datagramArena = core.allocator.buffer(capacity: 0)
        self.cache = KeyframeCache(
            maxBytes: core.configuration.gopCacheMaxBytes,
            maxPackets: core.configuration.gopCacheMaxPackets,
            allocator: core.allocator
        )
        var logger = core.logger
        logger[metadataKey: "camera"] = "\(camera.name)"
        logger[metadataKey: "stream"] = "\(stream.name)"
        self.logger = logger
    }

    var eventLoop: any EventLoop { self.core.eventLoop }
    var configuration: RelayConfiguration { self.core.configuration }
    var isDescribed: Bool { self.gatewaySDP != nil }

    // MARK: Readers

    /// Completes once the stream has a description (starting the upstream if it is idle).
    func describe() -> EventLoopFuture<Void> {
        if self.isDescribed { return self.eventLoop.makeSucceededVoidFuture() }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.describeWaiters.append(promise)
        self.lingerTask?.cancel()
        self.lingerTask = nil
        if self.upstreamState == .idle || self.upstreamState == .stopped { self.startUpstream() }
        // A client between DESCRIBE and PLAY gets at least half a minute: the linger is for streams nobody
        // watches any more, not for a VMS that is still setting up.
        if self.readers.isEmpty, self.camera.onDemand { self.scheduleLinger(atLeast: .seconds(30)) }
        return promise.futureResult
    }

    /// RTP-Info for a reader about to play: the first packet it will get on each track it set up.
    func rtpInfo(baseURL: String, bindings: [(rtp: UInt8, rtcp: UInt8)?]) -> RTPInfo? {
        guard !self.tracks.isEmpty else { return nil }
        var entries: [RTPInfo.Entry] = []
        for track in self.tracks where track.index < bindings.count && bindings[track.index] != nil {
            guard !track.isBackchannel else { continue }
            // Only video comes from the keyframe cache; audio starts with the next live packet.
            let first = track.index == self.videoTrack ? self.cache.firstPacket(track: track.index) : nil
            entries.append(
                .init(
                    url: "\(baseURL)/trackID=\(track.index)",
                    seq: first?.sequence ?? track.nextOutputSequence,
                    rtptime: first?.timestamp ?? track.lastOutputTimestamp
                )
            )
        }
        return entries.isEmpty ? nil : RTPInfo(entries: entries)
    }

    func attach(_ reader: RelayReader) {
        self.lingerTask?.cancel()
        self.lingerTask = nil
        // The camera session may have lingered out between this reader's DESCRIBE and its PLAY.
        if self.upstreamState == .idle || self.upstreamState == .stopped { self.startUpstream() }
        self.readers.append(reader)
        self.recomputeAlternateChannels()
        self.logger.info(
            "reader started",
            metadata: ["reader": "\(reader.address)", "readers": "\(self.readers.count)"]
        )
        self.fastStart(reader)
    }

    func detach(_ reader: RelayReader, reason: String) {
        guard let index = self.readers.firstIndex(where: { $0 === reader }) else { return }
        self.readers.remove(at: index)
        self.departedReaderDrops += reader.packetsDropped
        if self.backchannelOwner === reader { self.releaseBackchannel() }
        self.recomputeAlternateChannels()
        self.logger.info(
            "reader stopped",
            metadata: [
                "reader": "\(reader.address)", "reason": "\(reason)", "sent": "\(reader.packetsSent)",
                "dropped": "\(reader.packetsDropped)", "readers": "\(self.readers.count)",
            ]
        )
        if self.readers.isEmpty, self.camera.onDemand { self.scheduleLinger() }
    }

    private func scheduleLinger(atLeast minimum: Duration = .zero) {
        self.lingerTask?.cancel()
        self.lingerTask = self.eventLoop.assumeIsolated().scheduleTask(in: max(self.camera.linger, minimum).timeAmount)
        {
            guard self.readers.isEmpty, self.describeWaiters.isEmpty else { return }
            self.logger.info("no readers left: closing the camera session")
            self.stopUpstream()
        }
    }

    /// A new reader gets the last sender reports and every packet since the last keyframe at once, so it can
    /// show a picture now instead of waiting for the camera's next keyframe (cameras ship with 2–4 s GOPs).
    /// A multicast reader shares the group's packets: it starts where the group is.
    private func fastStart(_ reader: RelayReader) {
        guard !reader.isMulticast else { return }
        for track in self.tracks {
            guard let binding = reader.bindings[safe: track.index] ?? nil, let report = track.lastSenderReport else {
                continue
            }
            if let target = reader.udpTargets[track.index] {
                self.sendDatagram(report, payload: nil, socket: target.rtcp, to: target.rtcpAddress, reader: reader)
                continue
            }
            self.write(report, payload: nil, channel: binding.rtcp, canonical: track.canonicalRTCP, to: reader)
        }
        if let videoTrack = self.videoTrack {
            if self.cache.isUsable {
                // The video frames of the cache, with fast-start timestamps (see ``KeyframeCache``): their headers
                // rewritten into one buffer of this reader's. Audio starts live: a burst of it has nothing to show.
                let timestamps = self.cache.fastStartTimestamps(track: videoTrack)
                var headers = reader.context.channel.allocator.buffer(capacity: 16 * self.cache.count)
                var laidOut: [(entry: KeyframeCache.Entry, start: Int, length: Int)] = []
                // All headers first, then the slices: a slice handed out while the buffer still grows would make
                // each later write copy the whole buffer.
                self.cache.forEachEntry { entry, cached in
                    guard entry.track == videoTrack, reader.bindings[safe: entry.track] ?? nil != nil else { return }
                    let start = headers.writerIndex
                    headers.writeImmutableBuffer(cached)
                    headers.setInteger(timestamps[entry.timestamp] ?? entry.timestamp, at: start + 8)
                    laidOut.append((entry, start, cached.readableBytes))
                }
                for (entry, start, length) in laidOut {
                    guard let binding = reader.bindings[safe: entry.track] ?? nil else { continue }
                    let header = headers.getSlice(at: start, length: length)!
                    if let target = reader.udpTargets[entry.track] {
                        self.sendDatagram(
                            header,
                            payload: entry.payload,
                            socket: target.rtp,
                            to: target.rtpAddress,
                            reader: reader
                        )
                        continue
                    }
                    self.write(
                        header,
                        payload: entry.payload,
                        channel: binding.rtp,
                        canonical: self.tracks[entry.track].canonicalRTP,
                        to: reader
                    )
                }
            } else {
                reader.waitingForKeyframe = true
            }
        }
        if reader.wroteInBatch { self.flush(reader) }
    }

    private func flush(_ reader: RelayReader) {
        reader.wroteInBatch = false
        guard reader.isUDP else { return reader.context.flush() }
        for target in reader.udpTargets {
            target?.rtp.flush()
            target?.rtcp.flush()
        }
    }

    private func recomputeAlternateChannels() {
        self.multicastReaders = self.readers.count { $0.isMulticast }
        if self.multicastReaders == 0 { self.multicastWaitingForKeyframe = true }
        self.hasUDPReaders = self.readers.contains { $0.isUDP || $0.isMulticast }
        for index in self.tracks.indices {
            var rtp: [UInt8] = []
            var rtcp: [UInt8] = []
            for reader in self.readers {
                guard let binding = reader.bindings[safe: index] ?? nil else { continue }
                if binding.rtp != self.tracks[index].canonicalRTP {
                    if !rtp.contains(binding.rtp) { rtp.append(binding.rtp) }
                    reader.alternateRTP[index] = rtp.firstIndex(of: binding.rtp)
                } else {
                    reader.alternateRTP[index] = nil
                }
                if binding.rtcp != self.tracks[index].canonicalRTCP {
                    if !rtcp.contains(binding.rtcp) { rtcp.append(binding.rtcp) }
                    reader.alternateRTCP[index] = rtcp.firstIndex(of: binding.rtcp)
                } else {
                    reader.alternateRTCP[index] = nil
                }
            }
            self.tracks[index].alternateRTP = rtp
            self.tracks[index].alternateRTCP = rtcp
        }
    }

    // MARK: Multicast

    func multicastGroup(track: Int) -> RTSPServerSessionStateMachine.MulticastGroup? {
        guard let multicast = self.streamConfiguration.multicast, track < self.tracks.count else { return nil }
        let rtp = multicast.port + 2 * track
        guard rtp + 1 <= 65535 else { return nil }
        return .init(
            address: multicast.group,
            ports: .init(first: UInt16(rtp), last: UInt16(rtp + 1)),
            ttl: multicast.ttl
        )
    }

    /// Opens the stream's multicast sender once: IP_MULTICAST_IF on the sending interface (the configured one,
    /// or `localAddress`, where the reader reached us), the configured TTL, loopback on so that a reader on the
    /// gateway host itself can listen.
    func openMulticast(localAddress: String?) -> EventLoopFuture<Void> {
        if self.multicastSender != nil { return self.eventLoop.makeSucceededVoidFuture() }
        if let opening = self.multicastOpening { return opening }
        guard let multicast = self.streamConfiguration.multicast,
            let interface = multicast.interface ?? localAddress,
            case .v4(let local) = try? SocketAddress(ipAddress: interface, port: 0)
        else { return self.eventLoop.makeFailedFuture(RelayError.multicastUnavailable) }
        let interfaceAddress = local.address.sin_addr
        let opening = DatagramBootstrap(group: self.eventLoop)
            .bind(host: interface, port: 0)
            .flatMap { channel -> EventLoopFuture<any Channel> in
                guard let options = channel as? any SocketOptionProvider else {
                    return channel.eventLoop.makeFailedFuture(RelayError.multicastUnavailable)
                }
                return options.setIPMulticastIF(interfaceAddress)
                    .flatMap { options.setIPMulticastTTL(multicast.ttl) }
                    .flatMap { options.setIPMulticastLoop(1) }
                    .map { channel }
                    .flatMapError { error in channel.close().flatMapThrowing { throw error } }
            }
            .assumeIsolated()
            .map { channel -> Void in
                self.multicastSender = channel
                self.multicastTargets = (0..<self.tracks.count).map { track in
                    guard let group = self.multicastGroup(track: track),
                        let rtp = try? SocketAddress(ipAddress: group.address, port: Int(group.ports.first)),
                        let rtcp = try? SocketAddress(ipAddress: group.address, port: Int(group.ports.last))
                    else { return nil }
                    return (rtp, rtcp)
                }
                self.logger.info(
                    "multicast sender open",
                    metadata: ["group": "\(multicast.group):\(multicast.port)", "interface": "\(interface)"]
                )
            }
            .nonisolated()
        self.multicastOpening = opening
        opening.assumeIsolated().whenComplete { _ in self.multicastOpening = nil }
        return opening
    }

    /// Sends one packet of the batch to the group, once for every multicast reader.
    private func sendMulticast(_ packet: PendingPacket, sender: any Channel) {
        guard packet.datagramOffset >= 0, let target = self.multicastTargets[safe: packet.track] ?? nil else { return }
        if self.multicastWaitingForKeyframe {
            guard self.videoTrack == nil || (packet.track == self.videoTrack && packet.startsKeyframe) else { return }
            self.multicastWaitingForKeyframe = false
        }
        let datagram = self.datagramArena.getSlice(at: packet.datagramOffset, length: packet.datagramLength)!
        sender.write(
            AddressedEnvelope(remoteAddress: packet.isRTCP ? target.rtcp : target.rtp, data: datagram),
            promise: nil
        )
        self.packetsOut += 1
        self.bytesOut += packet.datagramLength
    }

    // MARK: Backchannel

    static let ignoredChannel: UInt8 = 0xFE

    var backchannelIsFree: Bool { self.backchannelTrack != nil && self.backchannelOwner == nil }

    /// Makes `reader` the one whose audio reaches the camera; false when another reader holds it.
    func claimBackchannel(_ reader: RelayReader) -> Bool {
        guard self.backchannelTrack != nil else { return false }
        if let owner = self.backchannelOwner, owner !== reader { return false }
        self.backchannelOwner = reader
        self.backchannelOutput.sourceRestarted()
        self.logger.notice("backchannel opened", metadata: ["reader": "\(reader.address)"])
        return true
    }

    private func releaseBackchannel() {
        guard let owner = self.backchannelOwner else { return }
        self.backchannelOwner = nil
        self.logger.notice("backchannel closed", metadata: ["reader": "\(owner.address)"])
    }

    /// An RTP packet from the reader on its backchannel channel: checked as camera packets are (version,
    /// lengths, the payload type the camera announced, size), rate-limited, renumbered into the gateway's own
    /// SSRC and sequence (the camera sees one continuous source whoever talks), and written to the camera.
    func receiveBackchannel(_ packet: ByteBuffer, from reader: RelayReader, now: NIODeadline) {
        guard self.backchannelOwner === reader, let index = self.backchannelTrack, self.upstreamState == .playing,
            let handler = self.upstreamHandler, index < self.cameraTracks.count
        else { return }
        let header: RTPHeader
        switch RTPCheck.validate(
            packet,
            allowedPayloadTypes: self.tracks[index].payloadTypes,
            maxSize: self.configuration.maxPacketSize
        ) {
        case .success(let valid): header = valid
        case .failure(let reason):
            self.dropped[reason, default: 0] += 1
            return
        }
        guard self.backchannelLimiter.admit(now: now) else {
            self.dropped[.rateLimited, default: 0] += 1
            return
        }
        let (sequence, timestamp) = self.backchannelOutput.map(
            sequence: header.sequence,
            timestamp: header.timestamp,
            ssrc: header.ssrc,
            arrivalNanoseconds: Int64(now.uptimeNanoseconds)
        )
        var rewritten = self.core.allocator.buffer(capacity: packet.readableBytes)
        rewritten.writeMultipleIntegers(
            UInt8(0x80),
            (header.marker ? 0x80 : 0) | header.payloadType,
            sequence,
            timestamp,
            self.backchannelOutput.outputSSRC
        )
        // Payload only: the reader's CSRCs, header extension and padding do not reach the camera.
        rewritten.writeImmutableBuffer(
            packet.getSlice(at: packet.readerIndex + header.headerLength, length: header.payloadLength)!
        )
        if handler.sendInterleaved(channel: self.cameraTracks[index].rtpChannel, rewritten) {
            self.backchannelPackets += 1
        } else {
            self.dropped[.rateLimited, default: 0] += 1
        }
    }

    // MARK: Upstream lifecycle

    func startUpstream() {
        guard self.upstreamState == .idle || self.upstreamState == .stopped || self.upstreamState == .backingOff else {
            return
        }
        self.reconnectTask = nil
        self.upstreamState = .connecting
        let machine = RTSPClientStateMachine(
            configuration: .init(
                url: RTSPURL(
                    host: self.camera.host,
                    port: self.camera.port,
                    pathAndQuery: self.streamConfiguration.path
                ),
                username: self.camera.username,
                password: self.camera.password,
                transport: self.camera.transport,
                backchannel: self.camera.backchannel,
                // Over a pinned TLS session Basic is as private as Digest; in plaintext only where the admin said so.
                allowsBasic: self.camera.tlsFingerprint != nil || self.camera.allowPlaintextBasic,
                allowUncheckedCodecs: self.camera.allowUncheckedCodecs,
                rewritesMetadata: self.core.metadataFilter != nil
            )
        )
        let handler = UpstreamConnectionHandler(stream: self, machine: machine, limits: self.core.upstreamLimits)
        self.upstreamHandler = handler
        let handlerBox = NIOLoopBound(handler, eventLoop: self.eventLoop)
        let pin = self.camera.tlsFingerprint
        let connect = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let pin {
                        try channel.pipeline.syncOperations.addHandler(Self.pinnedTLSHandler(pin, handler: handlerBox))
                    }
                    try channel.pipeline.syncOperations.addHandler(handlerBox.value)
                }
            }
            .connect(host: self.camera.host, port: self.camera.port)
        connect.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard self.upstreamHandler === handler else {
                    channel.close(promise: nil)  // stopped meanwhile
                    return
                }
                self.upstreamChannel = channel
            case .failure(let error):
                guard self.upstreamHandler === handler else { return }
                self.upstreamEnded(
                    handler,
                    reason: "connect to \(self.camera.host):\(self.camera.port) failed: \(error)"
                )
            }
        }
    }

    /// A TLS client that accepts exactly one certificate: the pinned one (by the SHA-256 of its DER encoding).
    private static func pinnedTLSHandler(
        _ pin: [UInt8],
        handler: NIOLoopBound<UpstreamConnectionHandler>
    ) throws -> NIOSSLClientHandler {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .noHostnameVerification  // the callback below decides
        let context = try NIOSSLContext(configuration: configuration)
        return try NIOSSLClientHandler(context: context, serverHostname: nil) { certificates, promise in
            let presented = (try? certificates.first?.toDERBytes()).map { Array(SHA256.hash(data: $0)) }
            guard presented == pin else {
                handler.value.fail("camera certificate does not match the pinned fingerprint")
                return promise.succeed(.failed)
            }
            promise.succeed(.certificateVerified)
        }
    }

    /// Closes the camera session (TEARDOWN first) and stays idle until a reader comes.
    func stopUpstream() {
        self.reconnectTask?.cancel()
        self.reconnectTask = nil
        self.upstreamState = .stopped
        self.cache.reset()  // a later reader must not get pictures from before the gap
        self.resetHeldFragments()
        let handler = self.upstreamHandler
        self.upstreamHandler = nil
        self.upstreamChannel = nil
        handler?.stop()
        for waiter in self.describeWaiters { waiter.fail(RelayError.streamStopped) }
        self.describeWaiters = []
    }

    /// Stops for good: the camera was removed (or the relay stops). Readers are closed.
    func shutdown() {
        self.lingerTask?.cancel()
        self.stopUpstream()
        self.multicastSender?.close(promise: nil)
        self.multicastSender = nil
        for reader in self.readers { reader.context.close(promise: nil) }
    }

    func upstreamPlaying(
        _ handler: UpstreamConnectionHandler,
        description: SessionDescription,
        tracks: [RTSPClientStateMachine.Track]
    ) {
        guard self.upstreamHandler === handler else { return }
        self.upstreamState = .playing
        self.upstreamStartedAt = .now()
        self.lastPacketAt = .now()
        self.upstreamSessions += 1
        self.apply(description: description, tracks: tracks)
        self.logger.info(
            "camera playing",
            metadata: ["tracks": "\(tracks.count)", "session": "\(self.upstreamSessions)"]
        )
        let waiters = self.describeWaiters
        self.describeWaiters = []
        for waiter in waiters { waiter.succeed() }
    }

    /// For the in-process benchmark: the data path is fed directly, with no camera connection.
    func assumeUpstreamPlaying() {
        self.upstreamState = .playing
    }

    /// Takes the camera's description: tracks, channel map and the gateway's own SDP. Readers stay when the
    /// layout is unchanged (a reconnect), and restart at the next keyframe. A camera that comes back with another
    /// format (an AAC layout) or other parameter sets in its SDP is a new layout: its readers reconnect and read the
    /// new SDP, so that the check and their decoders start from the same parameter sets. Another payload type
    /// offered beside its codec is refused as the new description says.
    func apply(description: SessionDescription, tracks: [RTSPClientStateMachine.Track]) {
        let layoutChanged =
            tracks.map(\.payloadTypes) != self.cameraTracks.map(\.payloadTypes)
            || tracks.map(\.codec) != self.cameraTracks.map(\.codec)
            || tracks.map(\.isBackchannel) != self.cameraTracks.map(\.isBackchannel)
            || tracks.map(\.format) != self.cameraTracks.map(\.format)
            // Other parameter sets in the SDP: the readers' decoders hold the old ones, the check would start from
            // the new ones; a reader reconnects and reads the new SDP.
            || tracks.map(\.formatParameters) != self.cameraTracks.map(\.formatParameters)
        if layoutChanged {
            if !self.readers.isEmpty {
                self.logger.warning("camera changed its tracks: readers reconnect")
                for reader in self.readers { reader.context.close(promise: nil) }
            }
            self.tracks = tracks.map { RelayTrack($0, keepSEI: self.camera.keepSEI) }
            self.held.removeAll(keepingCapacity: true)
            self.videoTrack = self.tracks.first(where: \.isVideo)?.index
            self.backchannelTrack = self.tracks.first(where: \.isBackchannel)?.index
            self.releaseBackchannel()
            self.cache.reset()
            self.writeGatewaySDP(description: description, tracks: tracks)
        } else {
            for index in self.tracks.indices {
                self.tracks[index].continuity.sourceRestarted()
                self.tracks[index].sourceLock.reset()
                self.tracks[index].refusedPayloadTypes = tracks[index].refusedPayloadTypes
                self.tracks[index].document.clear()
                self.tracks[index].payloadGuard.restart(keepSEI: self.camera.keepSEI)
            }
            self.held.removeAll(keepingCapacity: true)
            self.cache.reset()
            for reader in self.readers where self.videoTrack != nil { reader.waitingForKeyframe = true }
            self.multicastWaitingForKeyframe = true
        }
        self.cameraTracks = tracks
        self.channelMap = [UInt8](repeating: 0xFF, count: 256)
        for track in tracks {
            // The camera's RTCP about the backchannel audio it receives is of no use to readers: ignored.
            self.channelMap[Int(track.rtpChannel)] = track.isBackchannel ? Self.ignoredChannel : UInt8(track.index)
            self.channelMap[Int(track.rtcpChannel)] =
                track.isBackchannel ? Self.ignoredChannel : UInt8(track.index) | 0x80
        }
    }

    private func writeGatewaySDP(description: SessionDescription, tracks: [RTSPClientStateMachine.Track]) {
        let sessionID = String(UInt32.random(in: 1...UInt32.max))
        let sessionName = "\(self.camera.name)/\(self.streamConfiguration.name)"
        self.gatewaySDP = SDPWriter.write(
            GatewaySDP.make(from: description, tracks: tracks, sessionName: sessionName, sessionID: sessionID)
        )
        self.gatewaySDPWithBackchannel =
            self.backchannelTrack == nil
            ? nil
            : SDPWriter.write(
                GatewaySDP.make(
                    from: description,
                    tracks: tracks,
                    sessionName: sessionName,
                    sessionID: sessionID,
                    backchannel: true
                )
            )
    }

    func upstreamEnded(_ handler: UpstreamConnectionHandler, reason: String) {
        guard self.upstreamHandler === handler else { return }
        self.upstreamHandler = nil
        self.upstreamChannel = nil
        self.lastError = reason
        // Healthy means media flowed, not only that PLAY was answered: the time from PLAY to the last packet, so
        // a camera that answers and then stalls keeps backing off.
        if let started = self.upstreamStartedAt, self.lastPacketAt > started {
            self.backoff.connectionEnded(
                afterUptime: .nanoseconds(Int64((self.lastPacketAt - started).nanoseconds))
            )
        }
        self.upstreamStartedAt = nil
        self.cache.reset()
        self.resetHeldFragments()
        // Readers that asked for a description they cannot get now are told at once; attached readers stay
        // connected and get the stream again when the camera is back.
        for waiter in self.describeWaiters { waiter.fail(RelayError.cameraUnavailable(reason)) }
        self.describeWaiters = []
        if self.camera.onDemand, self.readers.isEmpty {
            self.upstreamState = .idle
            self.logger.info("camera session ended", metadata: ["reason": "\(reason)"])
            return
        }
        let delay = self.backoff.nextDelay(random: Double.random(in: 0..<1))
        self.reconnects += 1
        self.upstreamState = .backingOff
        self.logger.warning(
            "camera session ended: reconnecting",
            metadata: ["reason": "\(reason)", "in": "\(delay)", "attempt": "\(self.backoff.attempt)"]
        )
        self.reconnectTask = self.eventLoop.assumeIsolated().scheduleTask(in: delay.timeAmount) {
            guard self.upstreamState == .backingOff else { return }
            self.startUpstream()
        }
    }

    /// Periodic: stalled camera, readers behind for too long, receiver reports upstream.
    func housekeeping(now: NIODeadline) {
        if let sample = self.bitrateSample, now - sample.at >= .milliseconds(900) {
            let seconds = Double((now - sample.at).nanoseconds) / 1e9
            self.bitsPerSecondIn = Int(Double(self.bytesIn - sample.bytes) * 8 / seconds)
            self.bitrateSample = (now, self.bytesIn)
        } else if self.bitrateSample == nil {
            self.bitrateSample = (now, self.bytesIn)
        }
        if self.upstreamState == .playing, now - self.lastPacketAt > self.configuration.stallTimeout.timeAmount {
            self.upstreamHandler?.fail("no RTP for \(self.configuration.stallTimeout) (stalled)")
        }
        let maxBehind = self.configuration.readerMaxBehind.timeAmount
        for reader in self.readers {
            if let since = reader.behindSince, now - since > maxBehind {
                self.logger.warning(
                    "reader stayed behind too long: disconnecting",
                    metadata: ["reader": "\(reader.address)"]
                )
                reader.context.close(promise: nil)
            }
        }
    }

    /// Receiver reports for the camera (RFC 3550 §6.4.2), written on the upstream connection.
    func receiverReports(now: NIODeadline) -> [(channel: UInt8, report: ByteBuffer)] {
        guard self.upstreamState == .playing else { return [] }
        var reports: [(UInt8, ByteBuffer)] = []
        for index in self.tracks.indices {
            guard let source = self.tracks[index].reception.ssrc, index < self.cameraTracks.count else { continue }
            let interval = self.tracks[index].reception.reportInterval()
            var delay: UInt32 = 0
            if let arrival = self.tracks[index].reception.lastSRArrival {
                delay = RTPReception.delaySinceLastSR(nanoseconds: (now - arrival).nanoseconds)
            }
            var buffer = self.core.allocator.buffer(capacity: 32)
            RTCPWriter.writeReceiverReport(
                ssrc: self.tracks[index].continuity.outputSSRC,
                source: source,
                fractionLost: interval.fraction,
                cumulativeLost: interval.cumulative,
                highestSequence: self.tracks[index].reception.extendedMax,
                jitter: 0,
                lastSR: self.tracks[index].reception.lastSR,
                delaySinceLastSR: self.tracks[index].reception.lastSRArrival == nil ? 0 : delay,
                into: &buffer
            )
            reports.append((self.cameraTracks[index].rtcpChannel, buffer))
        }
        return reports
    }

    // MARK: Data path, pass 1: check, renumber, write headers

    /// A UDP packet from an address that is not the camera's.
    func countForeignDatagram() {
        self.foreignDatagrams += 1
        self.dropped[.unknownChannel, default: 0] += 1
    }

    func receive(_ frame: InterleavedFrame, now: NIODeadline, stitched: Bool = false) {
        let mapped = self.channelMap[Int(frame.channel)]
        guard mapped < Self.ignoredChannel else {
            if mapped == 0xFF { self.dropped[.unknownChannel, default: 0] += 1 }
            return
        }
        let trackIndex = Int(mapped & 0x7F)
        self.packetsIn += 1
        self.bytesIn += frame.payload.readableBytes
        if mapped & 0x80 != 0 {
            self.receiveRTCP(frame.payload, track: trackIndex, now: now)
            return
        }
        let header: RTPHeader
        switch RTPCheck.validate(
            frame.payload,
            allowedPayloadTypes: self.tracks[trackIndex].payloadTypes,
            maxSize: self.configuration.maxPacketSize
        ) {
        case .success(let valid): header = valid
        case .failure(let reason):
            let refused =
                reason == .unexpectedPayloadType
                && self.tracks[trackIndex].refusedPayloadTypes.contains(
                    (frame.payload.getInteger(at: frame.payload.readerIndex + 1, as: UInt8.self) ?? 0) & 0x7F
                )
            self.dropped[refused ? .uncheckedCodec : reason, default: 0] += 1
            return
        }
        guard self.tracks[trackIndex].sourceLock.accept(header.ssrc) else {
            self.dropped[.ssrcMismatch, default: 0] += 1
            return
        }
        self.lastPacketAt = now
        self.tracks[trackIndex].reception.received(sequence: header.sequence, ssrc: header.ssrc)
        // The payload check, once per packet for every reader (PayloadGuard): checked in place in the track so
        // that its state is never copied.
        let verdict = self.tracks[trackIndex].payloadGuard.check(
            frame.payload.getSlice(
                at: frame.payload.readerIndex + header.headerLength,
                length: header.payloadLength
            ) ?? ByteBuffer(),
            sequence: header.sequence,
            timestamp: header.timestamp,
            marker: header.marker
        )
        if verdict.discardHeld { self.discardHeld(track: trackIndex) }
        switch verdict.action {
        case .hold where self.tracks[trackIndex].payloadGuard.format == .onvifMetadata:
            // Copied: a slice would pin its whole read for as long as the document stays open.
            self.tracks[trackIndex].document.hold(frame.payload, header: header)
        case .hold:
            self.held.append(HeldPacket(track: trackIndex, frame: frame, header: header, stitched: stitched))
        case .drop(let reason):
            self.dropped[reason, default: 0] += 1
            // Policy drops leave no gap; a malformed packet does, so readers conceal as after a loss.
            if reason == .sei { self.tracks[trackIndex].continuity.omitNext() }
        case .forward:
            self.releaseHeld(track: trackIndex, now: now)
            self.forward(frame, header: header, track: trackIndex, now: now, stitched: stitched)
        case .document:
            self.tracks[trackIndex].document.hold(frame.payload, header: header)
            self.forwardDocument(track: trackIndex, now: now)
        case .strip(let units):
            self.releaseHeld(track: trackIndex, now: now)
            let rewritten = Self.strip(
                units,
                from: frame.payload,
                header: header,
                h265: self.tracks[trackIndex].payloadGuard.format == .h265,
                allocator: self.core.allocator
            )
            self.packetsRewritten += 1
            self.bytesRewritten += rewritten.readableBytes
            var stripped = header
            stripped.payloadLength = rewritten.readableBytes - header.headerLength
            // A buffer of its own that nobody reuses: the keyframe cache may keep it without a second copy.
            self.forward(
                InterleavedFrame(channel: frame.channel, payload: rewritten),
                header: stripped,
                track: trackIndex,
                now: now,
                stitched: false
            )
        }
    }

    /// The camera session ended: held fragments of its unfinished runs go (they would pin their reads until the
    /// next session), and each track's payload check starts over.
    private func resetHeldFragments() {
        for _ in self.held { self.dropped[.badFragmentation, default: 0] += 1 }
        self.held.removeAll(keepingCapacity: true)
        for index in self.tracks.indices {
            self.dropped[.badMetadata, default: 0] += self.tracks[index].document.parts.count
            self.tracks[index].document.clear()
            self.tracks[index].payloadGuard.restart(keepSEI: self.camera.keepSEI)
        }
    }

    private func discardHeld(track: Int) {
        if !self.tracks[track].document.parts.isEmpty {
            self.dropped[.badMetadata, default: 0] += self.tracks[track].document.parts.count
            self.tracks[track].document.clear()
        }
        var kept = 0
        for index in self.held.indices {
            if self.held[index].track == track {
                self.dropped[.badFragmentation, default: 0] += 1
            } else {
                self.held.swapAt(index, kept)
                kept += 1
            }
        }
        self.held.removeLast(self.held.count - kept)
    }

    private func releaseHeld(track: Int, now: NIODeadline) {
        guard !self.held.isEmpty else { return }
        var kept = 0
        for index in self.held.indices {
            let packet = self.held[index]
            if packet.track == track {
                self.forward(packet.frame, header: packet.header, track: track, now: now, stitched: packet.stitched)
            } else {
                self.held.swapAt(index, kept)
                kept += 1
            }
        }
        self.held.removeLast(self.held.count - kept)
    }

    /// A metadata document, its payloads gathered until the marker: parsed and written anew by the ONVIF side's
    /// filter, then sent in at most as many packets as the camera used, each with a header of the gateway's own
    /// (no CSRCs, extension or padding of the camera's) and at most `maxPacketSize` long; the numbering closes
    /// over the packets left unused, the marker is on the last. One copy per document, a few a second: not the
    /// video path.
    private func forwardDocument(track: Int, now: NIODeadline) {
        // Taken, not cleared: clearing a buffer still shared with `document` would allocate its full capacity.
        let document = self.tracks[track].document
        self.tracks[track].document = HeldDocument()
        let parts = document.parts
        guard let filter = self.core.metadataFilter, !parts.isEmpty, document.bytes.readableBytes > 0,
            let rewritten = filter(Array(document.bytes.readableBytesView)), !rewritten.isEmpty
        else {
            self.dropped[.badMetadata, default: 0] += parts.count
            return
        }
        guard
            let (size, count) = HeldDocument.packetization(
                received: document.bytes.readableBytes,
                packets: parts.count,
                rewritten: rewritten.count,
                maxPacketSize: self.configuration.maxPacketSize
            )
        else {
            self.dropped[.badMetadata, default: 0] += parts.count
            return
        }
        for index in 0..<count {
            let start = index * size
            let length = min(size, rewritten.count - start)
            var header = parts[index]
            header.marker = index == count - 1
            header.headerLength = 12
            header.payloadLength = length
            var out = self.core.allocator.buffer(capacity: 12 + length)
            out.writeMultipleIntegers(
                UInt8(0x80),
                (header.marker ? 0x80 : 0) | header.payloadType,
                header.sequence,
                header.timestamp,
                header.ssrc
            )
            out.writeBytes(rewritten[start..<(start + length)])
            self.packetsRewritten += 1
            self.bytesRewritten += out.readableBytes
            self.forward(
                InterleavedFrame(channel: self.tracks[track].canonicalRTP, payload: out),
                header: header,
                track: track,
                now: now,
                stitched: false
            )
        }
        for _ in count..<parts.count { self.tracks[track].continuity.omitNext() }
    }

    /// An aggregation packet without the units whose bit is set (SEI the policy drops): a new packet, the one
    /// case the payload check copies. The header (CSRCs and extension kept) loses its padding bit with the
    /// padding.
    static func strip(
        _ units: UInt64,
        from packet: ByteBuffer,
        header: RTPHeader,
        h265: Bool,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let base = packet.readerIndex
        let payloadStart = base + header.headerLength
        let aggregationHeader = h265 ? 2 : 1
        var out = allocator.buffer(capacity: header.headerLength + header.payloadLength)
        out.writeImmutableBuffer(packet.getSlice(at: base, length: header.headerLength)!)
        out.setInteger((out.getInteger(at: 0, as: UInt8.self) ?? 0x80) & ~0x20, at: 0)
        out.writeImmutableBuffer(packet.getSlice(at: payloadStart, length: aggregationHeader)!)
        var offset = payloadStart + aggregationHeader
        var index = 0
        let end = payloadStart + header.payloadLength
        while offset + 2 <= end, let size = packet.getInteger(at: offset, as: UInt16.self) {
            if units & (1 << UInt64(index)) == 0 {
                out.writeImmutableBuffer(packet.getSlice(at: offset, length: 2 + Int(size))!)
            }
            offset += 2 + Int(size)
            index += 1
        }
        return out
    }

    private func forward(
        _ frame: InterleavedFrame,
        header: RTPHeader,
        track trackIndex: Int,
        now: NIODeadline,
        stitched: Bool
    ) {
        let (sequence, timestamp) = self.tracks[trackIndex].continuity.map(
            sequence: header.sequence,
            timestamp: header.timestamp,
            ssrc: header.ssrc,
            arrivalNanoseconds: now.uptimeNanoseconds > Int64.max ? 0 : Int64(now.uptimeNanoseconds)
        )
        var track = self.tracks[trackIndex]
        let startsAccessUnit = track.lastMarker || track.lastInputTimestamp != header.timestamp
        if startsAccessUnit { track.accessUnitHasKeyframe = false }
        var startsKeyframe = false
        if let codec = track.codec, !track.accessUnitHasKeyframe,
            KeyframeDetector.startsKeyframe(
                frame.payload.getSlice(
                    at: frame.payload.readerIndex + header.headerLength,
                    length: header.payloadLength
                ) ?? ByteBuffer(),
                codec: codec
            )
        {
            startsKeyframe = true
            track.accessUnitHasKeyframe = true
        }
        track.lastMarker = header.marker
        track.lastInputTimestamp = header.timestamp
        track.nextOutputSequence = sequence &+ 1
        track.lastOutputTimestamp = timestamp
        self.tracks[trackIndex] = track

        let offset = self.arena.writerIndex
        let payloadLength = frame.payload.readableBytes
        RTSPMessageSerializer.writeInterleavedHeader(
            channel: track.canonicalRTP,
            length: payloadLength,
            into: &self.arena
        )
        let firstTwo = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt16.self)!
        self.arena.writeMultipleIntegers(firstTwo, sequence, timestamp, track.continuity.outputSSRC)
        let alternateOffset = self.arena.writerIndex
        for channel in track.alternateRTP {
            RTSPMessageSerializer.writeInterleavedHeader(channel: channel, length: payloadLength, into: &self.arena)
        }
        var packet = PendingPacket(
            track: trackIndex,
            isRTCP: false,
            headerOffset: offset,
            headerLength: 16,
            alternateOffset: alternateOffset,
            payload: frame.payload.getSlice(at: frame.payload.readerIndex + 12, length: payloadLength - 12)!,
            startsAccessUnit: startsAccessUnit,
            startsKeyframe: startsKeyframe
        )
        if self.hasUDPReaders {
            packet.datagramOffset = self.datagramArena.writerIndex
            packet.datagramLength = payloadLength
            self.datagramArena.writeImmutableBuffer(self.arena.getSlice(at: offset + 4, length: 12)!)
            self.datagramArena.writeImmutableBuffer(packet.payload)
        }
        self.batch.append(packet)
        if self.videoTrack != nil {
            if startsKeyframe, trackIndex == self.videoTrack {
                self.cache.keyframeStarts()
            }
            self.cache.append(
                packet,
                header: self.arena,
                track: trackIndex,
                sequence: sequence,
                timestamp: timestamp,
                copyPayload: stitched
            )
        }
    }

    private func receiveRTCP(_ payload: ByteBuffer, track trackIndex: Int, now: NIODeadline) {
        switch RTPCheck.validateRTCP(payload, maxSize: self.configuration.maxPacketSize) {
        case .failure(let reason):
            self.dropped[reason, default: 0] += 1
        case .success(nil):
            break  // SDES, BYE, receiver reports: consumed, nothing for readers
        case .success(let report?):
            guard report.ssrc == self.tracks[trackIndex].reception.ssrc else { return }  // not a source we relay
            if let last = self.tracks[trackIndex].lastSenderReportForwarded, now - last < .milliseconds(500) {
                self.dropped[.rtcpRateLimited, default: 0] += 1
                return
            }
            self.tracks[trackIndex].lastSenderReportForwarded = now
            self.tracks[trackIndex].reception.lastSR = UInt32(truncatingIfNeeded: report.ntpTime >> 16)
            self.tracks[trackIndex].reception.lastSRArrival = now
            // Only plain values are read from the track here: a copy of the whole track would share its kept
            // report's storage and make the in-place reuse below allocate.
            let continuity = self.tracks[trackIndex].continuity
            let canonicalRTCP = self.tracks[trackIndex].canonicalRTCP
            let rewritten = RTCPSenderReport(
                ssrc: continuity.outputSSRC,
                ntpTime: report.ntpTime,
                rtpTime: continuity.mapTimestamp(report.rtpTime),
                packetCount: report.packetCount,
                octetCount: report.octetCount
            )
            let offset = self.arena.writerIndex
            self.arena.writeMultipleIntegers(UInt8(ascii: "$"), canonicalRTCP, UInt16(0))
            RTCPWriter.writeSenderReport(rewritten, cname: "camgw", into: &self.arena)
            let reportLength = self.arena.writerIndex - offset - 4
            self.arena.setInteger(UInt16(reportLength), at: offset + 2)
            let alternateOffset = self.arena.writerIndex
            for channel in self.tracks[trackIndex].alternateRTCP {
                self.arena.writeMultipleIntegers(UInt8(ascii: "$"), channel, UInt16(reportLength))
            }
            // Kept for readers that join later, mutated in place so its storage is reused while no reader holds it.
            if self.tracks[trackIndex].lastSenderReport == nil {
                self.tracks[trackIndex].lastSenderReport = self.core.allocator.buffer(capacity: 64)
            }
            self.tracks[trackIndex].lastSenderReport!.clear()
            self.tracks[trackIndex].lastSenderReport!.writeImmutableBuffer(
                self.arena.getSlice(at: offset, length: 4 + reportLength)!
            )
            var packet = PendingPacket(
                track: trackIndex,
                isRTCP: true,
                headerOffset: offset,
                headerLength: 4 + reportLength,
                alternateOffset: alternateOffset,
                payload: ByteBuffer(),
                startsAccessUnit: false,
                startsKeyframe: false
            )
            if self.hasUDPReaders {
                packet.datagramOffset = self.datagramArena.writerIndex
                packet.datagramLength = reportLength
                self.datagramArena.writeImmutableBuffer(self.arena.getSlice(at: offset + 4, length: reportLength)!)
            }
            self.batch.append(packet)
        }
    }

    // MARK: Data path, pass 2: fan out, one flush per reader per batch

    func flushBatch(now: NIODeadline) {
        defer {
            self.batch.removeAll(keepingCapacity: true)
            self.arena.clear()
            self.datagramArena.clear()
        }
        guard !self.batch.isEmpty, !self.readers.isEmpty else { return }
        let highWater = self.configuration.readerMaxQueuedBytes
        let multicastSender = self.multicastReaders > 0 ? self.multicastSender : nil
        for packet in self.batch {
            let canonical = self.arena.getSlice(at: packet.headerOffset, length: packet.headerLength)!
            let size = packet.headerLength + packet.payload.readableBytes
            let isVideo = packet.track == self.videoTrack
            if let multicastSender { self.sendMulticast(packet, sender: multicastSender) }
            for reader in self.readers {
                guard reader.plays(track: packet.track), !reader.paused, !reader.isMulticast else { continue }
                let writable = reader.context.channel.isWritable
                if reader.waitingForKeyframe {
                    guard !packet.isRTCP else { continue }
                    guard isVideo, packet.startsKeyframe, writable else {
                        reader.packetsDropped += 1
                        continue
                    }
                    reader.waitingForKeyframe = false
                    reader.behindSince = nil
                    reader.bytesWhileUnwritable = 0
                }
                if writable {
                    reader.behindSince = nil
                    reader.bytesWhileUnwritable = 0
                } else {
                    // Decided at access unit starts so a reader never gets a cut frame; the byte bound catches a
                    // camera whose access units never end.
                    reader.bytesWhileUnwritable += size
                    let atBoundary = isVideo ? packet.startsAccessUnit : self.videoTrack == nil
                    if atBoundary || reader.bytesWhileUnwritable > highWater {
                        if reader.behindSince == nil { reader.behindSince = now }
                        if self.videoTrack != nil { reader.waitingForKeyframe = true }
                        reader.packetsDropped += 1
                        continue
                    }
                }
                if let target = reader.udpTargets[packet.track] {
                    guard packet.datagramOffset >= 0 else { continue }
                    let datagram = self.datagramArena.getSlice(
                        at: packet.datagramOffset,
                        length: packet.datagramLength
                    )!
                    let socket = packet.isRTCP ? target.rtcp : target.rtp
                    let address = packet.isRTCP ? target.rtcpAddress : target.rtpAddress
                    socket.write(AddressedEnvelope(remoteAddress: address, data: datagram), promise: nil)
                    reader.wroteInBatch = true
                    reader.packetsSent += 1
                    reader.bytesSent += packet.datagramLength
                    self.packetsOut += 1
                    self.bytesOut += packet.datagramLength
                    continue
                }
                let alternate = packet.isRTCP ? reader.alternateRTCP[packet.track] : reader.alternateRTP[packet.track]
                if let alternate {
                    let header = self.arena.getSlice(at: packet.alternateOffset + 4 * alternate, length: 4)!
                    reader.context.write(NIOAny(header), promise: nil)
                    reader.context.write(
                        NIOAny(canonical.getSlice(at: canonical.readerIndex + 4, length: packet.headerLength - 4)!),
                        promise: nil
                    )
                } else {
                    reader.context.write(NIOAny(canonical), promise: nil)
                }
                if packet.payload.readableBytes > 0 {
                    reader.context.write(NIOAny(packet.payload), promise: nil)
                }
                reader.wroteInBatch = true
                reader.packetsSent += 1
                reader.bytesSent += size
                self.packetsOut += 1
                self.bytesOut += size
            }
        }
        for reader in self.readers where reader.wroteInBatch {
            self.flush(reader)
        }
        multicastSender?.flush()
    }

    /// Sends one cached packet (its `$` header dropped) to a UDP reader outside a batch (fast start). A datagram
    /// is one buffer, so this copies: a joining reader only, never the hot path.
    private func sendDatagram(
        _ header: ByteBuffer,
        payload: ByteBuffer?,
        socket: any Channel,
        to address: SocketAddress,
        reader: RelayReader
    ) {
        var datagram = socket.allocator.buffer(capacity: header.readableBytes + (payload?.readableBytes ?? 0))
        datagram.writeImmutableBuffer(header.getSlice(at: header.readerIndex + 4, length: header.readableBytes - 4)!)
        if let payload { datagram.writeImmutableBuffer(payload) }
        socket.write(AddressedEnvelope(remoteAddress: address, data: datagram), promise: nil)
        reader.wroteInBatch = true
        reader.packetsSent += 1
        reader.bytesSent += datagram.readableBytes
        self.packetsOut += 1
        self.bytesOut += datagram.readableBytes
    }

    /// Writes one packet to one reader outside a batch (fast start), with its own channel number.
    private func write(
        _ header: ByteBuffer,
        payload: ByteBuffer?,
        channel: UInt8,
        canonical: UInt8,
        to reader: RelayReader
    ) {
        if channel == canonical {
            reader.context.write(NIOAny(header), promise: nil)
        } else {
            var own = header
            own.setInteger(channel, at: own.readerIndex + 1)  // copies: a joining reader only, never the hot path
            reader.context.write(NIOAny(own), promise: nil)
        }
        if let payload, payload.readableBytes > 0 { reader.context.write(NIOAny(payload), promise: nil) }
        reader.wroteInBatch = true
        reader.packetsSent += 1
        reader.bytesSent += header.readableBytes + (payload?.readableBytes ?? 0)
        self.packetsOut += 1
        self.bytesOut += header.readableBytes + (payload?.readableBytes ?? 0)
    }

    // MARK: Stats

    var stats: RelayStats.Stream {
        RelayStats.Stream(
            path: self.path,
            upstreamUp: self.upstreamState == .playing,
            upstreamState: self.upstreamState.rawValue,
            lastError: self.lastError,
            reconnects: self.reconnects,
            upstreamSessions: self.upstreamSessions,
            packetsIn: self.packetsIn,
            bytesIn: self.bytesIn,
            bitsPerSecondIn: self.upstreamState == .playing ? self.bitsPerSecondIn : 0,
            packetsOut: self.packetsOut,
            bytesOut: self.bytesOut,
            dropped: self.dropped,
            gopCachePackets: self.cache.count,
            backchannelPackets: self.backchannelPackets,
            readerDrops: self.departedReaderDrops + self.readers.reduce(0) { $0 + $1.packetsDropped },
            readers: self.readers.map(\.stats)
        )
    }
}

public enum RelayError: Error, Hashable, Sendable, CustomStringConvertible {
    case cameraUnavailable(String)
    case streamStopped
    /// The stream has no multicast group, or no IPv4 interface to send it from.
    case multicastUnavailable

    public var description: String {
        switch self {
        case .cameraUnavailable(let reason): "camera unavailable: \(reason)"
        case .streamStopped: "stream stopped"
        case .multicastUnavailable: "no multicast group or IPv4 interface for this stream"
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? {
        index >= 0 && index < self.count ? self[index] : nil
    }
}
