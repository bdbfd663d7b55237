import NIOCore

/// A VMS session that plays a stream: where its packets go and how far behind it is. Lives on the relay's event
/// loop; its writes go through the context of its connection's handler.
final class RelayReader {
    let id: Int
    let context: ChannelHandlerContext
    let address: String
    let since: NIODeadline
    /// Per track: the reader's channels, `nil` when the reader did not set the track up.
    let bindings: [(rtp: UInt8, rtcp: UInt8)?]
    /// Per track: index into the track's alternate channel lists, `nil` when the reader uses the canonical ones.
    var alternateRTP: [Int?]
    var alternateRTCP: [Int?]
    /// Per track, for a UDP reader: our sockets and the reader's addresses.
    let udpTargets: [UDPTarget?]
    var isUDP: Bool { self.udpTargets.contains { $0 != nil } }
    /// Listens to the stream's multicast group: counted, but sent nothing of its own.
    let isMulticast: Bool

    /// Whether the reader set this track up.
    func plays(track: Int) -> Bool { track < self.bindings.count && self.bindings[track] != nil }

    struct UDPTarget {
        let rtp: any Channel
        let rtcp: any Channel
        let rtpAddress: SocketAddress
        let rtcpAddress: SocketAddress
    }

    var paused = false
    /// Skipping to the next keyframe: it fell behind, or it joined without a cached keyframe.
    var waitingForKeyframe = false
    var behindSince: NIODeadline?
    var bytesWhileUnwritable = 0
    var wroteInBatch = false

    var packetsSent = 0
    var bytesSent = 0
    var packetsDropped = 0

    init(
        id: Int,
        context: ChannelHandlerContext,
        address: String,
        since: NIODeadline,
        bindings: [(rtp: UInt8, rtcp: UInt8)?],
        udpTargets: [UDPTarget?]? = nil,
        multicast: Bool = false
    ) {
        self.isMulticast = multicast
        self.id = id
        self.context = context
        self.address = address
        self.since = since
        self.bindings = bindings
        self.udpTargets = udpTargets ?? Array(repeating: nil, count: bindings.count)
        self.alternateRTP = Array(repeating: nil, count: bindings.count)
        self.alternateRTCP = Array(repeating: nil, count: bindings.count)
    }

    var stats: RelayStats.Reader {
        RelayStats.Reader(
            address: self.address,
            transport: self.isMulticast ? "multicast" : self.isUDP ? "udp" : "tcp",
            since: self.since,
            packetsSent: self.packetsSent,
            bytesSent: self.bytesSent,
            packetsDropped: self.packetsDropped,
            waitingForKeyframe: self.waitingForKeyframe,
            queuedBytes: (try? self.context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        )
    }
}
