import NIOCore

/// The packets of a stream since its last video keyframe, so that a reader who joins gets a decodable picture at
/// once. Headers are copied into storage of the cache's own (never slices of the batch arena, which would keep
/// the arena's storage alive and force a copy on its next reuse); payloads are slices of the read buffers, which
/// nobody writes to again, except those stitched across two reads, which are copied too (the stitch buffer is
/// reused on the next read).
struct KeyframeCache {
    struct Entry {
        var track: Int
        var headerOffset: Int
        /// A slice of a read buffer, or empty when the payload was copied into the cache's storage.
        var payload: ByteBuffer
        var copiedPayloadLength: Int
        var sequence: UInt16
        var timestamp: UInt32
    }

    private var entries: [Entry] = []
    private var headers: ByteBuffer
    private var bytes = 0
    private let maxBytes: Int
    private let maxPackets: Int
    /// Starts at a keyframe and stayed within bounds.
    private(set) var isUsable = false

    init(maxBytes: Int, maxPackets: Int, allocator: ByteBufferAllocator) {
        self.maxBytes = maxBytes
        self.maxPackets = maxPackets
        self.headers = allocator.buffer(capacity: 16 * 256)
        self.entries.reserveCapacity(256)
    }

    var count: Int { self.entries.count }

    mutating func reset() {
        self.entries.removeAll(keepingCapacity: true)
        self.headers.clear()
        self.bytes = 0
        self.isUsable = false
    }

    mutating func keyframeStarts() {
        self.reset()
        self.isUsable = true
    }

    mutating func append(
        _ packet: RelayStream.PendingPacket,
        header arena: ByteBuffer,
        track: Int,
        sequence: UInt16,
        timestamp: UInt32,
        copyPayload: Bool
    ) {
        guard self.isUsable else { return }
        guard self.entries.count < self.maxPackets, self.bytes + packet.payload.readableBytes + 16 <= self.maxBytes
        else {
            self.reset()  // an absurd GOP: no fast start until the next keyframe
            return
        }
        let offset = self.headers.writerIndex
        self.headers.writeImmutableBuffer(arena.getSlice(at: packet.headerOffset, length: 16)!)
        if copyPayload { self.headers.writeImmutableBuffer(packet.payload) }
        self.entries.append(
            Entry(
                track: track,
                headerOffset: offset,
                payload: copyPayload ? ByteBuffer() : packet.payload,
                copiedPayloadLength: copyPayload ? packet.payload.readableBytes : 0,
                sequence: sequence,
                timestamp: timestamp
            )
        )
        self.bytes += packet.payload.readableBytes + 16
    }

    /// The first packet a joining reader gets on `track`, with its fast-start timestamp.
    func firstPacket(track: Int) -> (sequence: UInt16, timestamp: UInt32)? {
        guard self.isUsable, let entry = self.entries.first(where: { $0.track == track }) else { return nil }
        return (entry.sequence, self.fastStartTimestamps(track: track)[entry.timestamp] ?? entry.timestamp)
    }

    /// The timestamps a joining reader gets for the cached frames of `track`: one RTP tick apart, ending at the
    /// last frame's own timestamp. The cache arrives in one burst; with their real spacing (seconds of RTP time
    /// in milliseconds of arrival) a jitter buffer gives several frames one presentation time (GStreamer's
    /// `h264parse` then emits none, and `mp4mux` refuses the recording). Compressed, the burst is what it is —
    /// frames from the past shown at once — and the live packets that follow keep their own timestamps, so the
    /// stream stays continuous and monotonic.
    func fastStartTimestamps(track: Int) -> [UInt32: UInt32] {
        var distinct: [UInt32] = []
        for entry in self.entries where entry.track == track && distinct.last != entry.timestamp {
            distinct.append(entry.timestamp)
        }
        guard let last = distinct.last else { return [:] }
        var map: [UInt32: UInt32] = [:]
        for (index, timestamp) in distinct.enumerated() {
            map[timestamp] = last &- UInt32(truncatingIfNeeded: distinct.count - 1 - index)
        }
        return map
    }

    func forEachEntry(_ body: (Entry, ByteBuffer) -> Void) {
        for entry in self.entries {
            body(entry, self.headers.getSlice(at: entry.headerOffset, length: 16 + entry.copiedPayloadLength)!)
        }
    }
}
