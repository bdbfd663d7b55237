/// Keeps one track's RTP numbering continuous for readers across camera reconnects (RFC 3550 §5.1, §8.2).
///
/// Readers see one SSRC per track for the life of the relay stream, sequence numbers that go up by one per
/// packet, and timestamps that advance with wall-clock time across the gap: when the camera comes back with a
/// new SSRC, sequence and timestamp base, new offsets are computed once, and every packet after that is
/// rewritten with two additions. One rewrite per packet per stream, shared by all its readers.
public struct RTPContinuity: Sendable {
    public let outputSSRC: UInt32
    public let clockRate: UInt32
    private var sourceSSRC: UInt32?
    private var sequenceOffset: UInt16 = 0
    private var timestampOffset: UInt32 = 0
    private var lastOutputSequence: UInt16
    private var lastOutputTimestamp: UInt32
    private var lastArrivalNanoseconds: Int64?
    private var lastInputTimestamp: UInt32 = 0
    private var resyncPending = true

    /// A camera timestamp further than this from where wall-clock time says it should be is a discontinuity
    /// (a hostile or broken camera jumping by hours), handled like a new source: readers see time go on.
    public static let maxJumpSeconds: Int64 = 10

    public init(outputSSRC: UInt32, clockRate: UInt32, initialSequence: UInt16, initialTimestamp: UInt32) {
        self.outputSSRC = outputSSRC
        self.clockRate = max(clockRate, 1)
        self.lastOutputSequence = initialSequence &- 1
        self.lastOutputTimestamp = initialTimestamp
    }

    /// Call when the upstream session is re-established: the next packet starts a new mapping even if the
    /// camera kept its SSRC.
    public mutating func sourceRestarted() {
        self.resyncPending = true
    }

    /// The sequence number and timestamp the readers see for a packet from the camera.
    public mutating func map(
        sequence: UInt16,
        timestamp: UInt32,
        ssrc: UInt32,
        arrivalNanoseconds: Int64
    ) -> (
        sequence: UInt16, timestamp: UInt32
    ) {
        if self.resyncPending || ssrc != self.sourceSSRC
            || self.jumped(timestamp, arrivalNanoseconds: arrivalNanoseconds)
        {
            self.resync(sequence: sequence, timestamp: timestamp, ssrc: ssrc, arrivalNanoseconds: arrivalNanoseconds)
        }
        self.lastInputTimestamp = timestamp
        let out = (sequence &+ self.sequenceOffset, timestamp &+ self.timestampOffset)
        self.lastOutputSequence = out.0
        self.lastOutputTimestamp = out.1
        self.lastArrivalNanoseconds = arrivalNanoseconds
        return out
    }

    /// A packet the gateway left out on purpose (SEI, by policy) is not a loss: the numbering closes over it, so
    /// a depacketizer does not discard up to the next keyframe as it does after a gap (GStreamer's rtph265depay).
    public mutating func omitNext() {
        self.sequenceOffset &-= 1
    }

    /// The readers' timestamp for a camera timestamp, without advancing state (for sender reports).
    public func mapTimestamp(_ timestamp: UInt32) -> UInt32 { timestamp &+ self.timestampOffset }

    private func jumped(_ timestamp: UInt32, arrivalNanoseconds: Int64) -> Bool {
        guard let last = self.lastArrivalNanoseconds else { return false }
        let elapsedTicks = Self.ticks(elapsedNanoseconds: arrivalNanoseconds - last, clockRate: self.clockRate)
        // A gap longer than 32-bit RTP time can express is a jump whatever the camera's timestamp says.
        guard elapsedTicks <= Int64(UInt32.max) else { return true }
        let expected = self.lastInputTimestamp &+ UInt32(truncatingIfNeeded: elapsedTicks)
        let deviation = Int64(Int32(bitPattern: timestamp &- expected))
        return abs(deviation) > Self.maxJumpSeconds * Int64(self.clockRate)
    }

    /// RTP ticks in a gap, saturating: the clock rate is the camera's choice (any 32-bit `a=rtpmap` rate), and
    /// at 4 GHz a 36-minute gap overflowed the microseconds × rate product.
    static func ticks(elapsedNanoseconds: Int64, clockRate: UInt32) -> Int64 {
        let (product, overflow) = (max(elapsedNanoseconds, 0) / 1000).multipliedReportingOverflow(by: Int64(clockRate))
        return overflow ? Int64.max : product / 1_000_000
    }

    mutating func resync(sequence: UInt16, timestamp: UInt32, ssrc: UInt32, arrivalNanoseconds: Int64) {
        let nextSequence = self.lastOutputSequence &+ 1
        var nextTimestamp = self.lastOutputTimestamp
        if let last = self.lastArrivalNanoseconds {
            // Advance by the real gap, at least one tick, so that players neither stall nor see time run back.
            let elapsed = Self.ticks(elapsedNanoseconds: arrivalNanoseconds - last, clockRate: self.clockRate)
            let ticks = UInt32(truncatingIfNeeded: max(elapsed, 1))
            nextTimestamp = nextTimestamp &+ ticks
        }
        self.sequenceOffset = nextSequence &- sequence
        self.timestampOffset = nextTimestamp &- timestamp
        self.sourceSSRC = ssrc
        self.resyncPending = false
    }
}
