import NIOCore

/// One media of a relayed stream: what its packets must look like, how they are renumbered for readers, and the
/// reception statistics its receiver reports to the camera are made from.
struct RelayTrack {
    let index: Int
    let payloadTypes: PayloadTypeSet
    let codec: VideoCodec?
    let clockRate: UInt32
    /// The ONVIF backchannel: readers send on it, the camera receives; nothing is fanned out.
    let isBackchannel: Bool
    /// Payload types of this media left out as unchecked formats (the camera's latest description).
    var refusedPayloadTypes: PayloadTypeSet
    var payloadGuard: PayloadGuard
    /// The metadata document being received (``PayloadGuard/Action/document``).
    var document = HeldDocument()
    /// The channels the gateway's own SDP numbering implies (2n, 2n+1); most readers use them, and their `$`
    /// header is written once per packet for all of them.
    var canonicalRTP: UInt8 { UInt8(truncatingIfNeeded: 2 * self.index) }
    var canonicalRTCP: UInt8 { UInt8(truncatingIfNeeded: 2 * self.index + 1) }
    /// Other channels some readers asked for.
    var alternateRTP: [UInt8] = []
    var alternateRTCP: [UInt8] = []

    var continuity: RTPContinuity
    /// Input-side access unit tracking: a packet after a marker, or with a new timestamp, starts an access unit.
    var lastInputTimestamp: UInt32?
    var lastMarker = true
    var accessUnitHasKeyframe = false
    /// Readers' view of the next packet, for RTP-Info when no cached packet precedes it.
    var nextOutputSequence: UInt16
    var lastOutputTimestamp: UInt32
    /// The last sender report, regenerated for readers, sent first to a joining reader.
    var lastSenderReport: ByteBuffer?
    var reception = RTPReception()
    var sourceLock = SourceLock()
    /// When the last sender report was passed on to readers (they are rate-limited: a flood stops here).
    var lastSenderReportForwarded: NIODeadline?

    var isVideo: Bool { self.codec != nil }

    init(_ track: RTSPClientStateMachine.Track, keepSEI: Set<UInt32>) {
        self.index = track.index
        self.payloadTypes = track.payloadTypes
        self.codec = track.codec
        self.clockRate = track.clockRate
        self.isBackchannel = track.isBackchannel
        self.refusedPayloadTypes = track.refusedPayloadTypes
        self.payloadGuard = PayloadGuard(
            format: track.format,
            keepSEI: keepSEI,
            parameterSets: track.formatParameters.parameterSets
        )
        let sequence = UInt16.random(in: 0...UInt16.max)
        let timestamp = UInt32.random(in: 0...UInt32.max)
        self.continuity = RTPContinuity(
            outputSSRC: UInt32.random(in: 1...UInt32.max),
            clockRate: track.clockRate,
            initialSequence: sequence,
            initialTimestamp: timestamp
        )
        self.nextOutputSequence = sequence
        self.lastOutputTimestamp = timestamp
    }
}

/// Reception statistics of one source (RFC 3550 §6.4.1, A.3), enough for honest receiver reports.
struct RTPReception {
    var ssrc: UInt32?
    var baseSequence: UInt32 = 0
    var maxSequence: UInt16 = 0
    var cycles: UInt32 = 0
    var received: UInt32 = 0
    var expectedPrior: UInt32 = 0
    var receivedPrior: UInt32 = 0
    /// Middle 32 bits of the last SR's NTP time, and when it arrived.
    var lastSR: UInt32 = 0
    var lastSRArrival: NIODeadline?

    mutating func received(sequence: UInt16, ssrc: UInt32) {
        if self.ssrc != ssrc {
            self = RTPReception(ssrc: ssrc, baseSequence: UInt32(sequence), maxSequence: sequence)
        }
        if sequence &- self.maxSequence < 0x8000 {
            if sequence < self.maxSequence { self.cycles &+= 1 << 16 }
            self.maxSequence = sequence
        }
        self.received &+= 1
    }

    /// DLSR in 1/65536 s (RFC 3550 §6.4.1), saturated: a sender report older than the field can say (18 h) must
    /// not overflow the multiplication (at 39 h it did, and trapped the relay's event loop).
    static func delaySinceLastSR(nanoseconds: Int64) -> UInt32 {
        let limit = Int64(UInt32.max) * 15_259  // 1e9 / 65536 rounded up: past this the value saturates
        guard nanoseconds < limit else { return UInt32.max }
        return UInt32(clamping: max(nanoseconds, 0) * 65536 / 1_000_000_000)
    }

    var extendedMax: UInt32 { self.cycles | UInt32(self.maxSequence) }

    /// Fraction lost since the last report and cumulative loss; advances the "prior" counters.
    mutating func reportInterval() -> (fraction: UInt8, cumulative: UInt32) {
        let expected = self.extendedMax &- self.baseSequence &+ 1
        let lost = expected > self.received ? expected - self.received : 0
        let expectedInterval = expected &- self.expectedPrior
        let receivedInterval = self.received &- self.receivedPrior
        self.expectedPrior = expected
        self.receivedPrior = self.received
        let lostInterval = expectedInterval > receivedInterval ? expectedInterval - receivedInterval : 0
        let fraction = expectedInterval == 0 ? 0 : UInt8(min(255, (lostInterval << 8) / expectedInterval))
        return (fraction, min(lost, 0x7F_FFFF))
    }
}
