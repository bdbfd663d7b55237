import Testing

@testable import RTSPRelay

/// Numbers a camera controls (its clock rate, how long it stays silent on RTCP) must never overflow the relay's
/// arithmetic: an overflow traps, and the relay's event loop carries every camera.
@Suite struct RTCPArithmeticTests {
    @Test func theDelaySinceTheLastSenderReportSaturates() {
        #expect(RTPReception.delaySinceLastSR(nanoseconds: 1_000_000_000) == 65536)
        #expect(RTPReception.delaySinceLastSR(nanoseconds: 0) == 0)
        #expect(RTPReception.delaySinceLastSR(nanoseconds: -5) == 0)
        // 40 hours without a sender report: past the field (18 h), and past where ns × 65536 overflowed (39 h).
        #expect(RTPReception.delaySinceLastSR(nanoseconds: 40 * 3600 * 1_000_000_000) == UInt32.max)
        #expect(RTPReception.delaySinceLastSR(nanoseconds: Int64.max) == UInt32.max)
    }

    /// `a=rtpmap:96 H264/4294967295`, then a gap of 40 minutes: the gap in RTP ticks overflowed 64 bits.
    @Test func aFourGigahertzClockRateAfterALongGap() {
        let minute: Int64 = 60 * 1_000_000_000
        var continuity = RTPContinuity(outputSSRC: 1, clockRate: UInt32.max, initialSequence: 0, initialTimestamp: 0)
        let first = continuity.map(sequence: 1, timestamp: 10, ssrc: 7, arrivalNanoseconds: 0)
        // The same session, a track silent for 40 minutes (the jump check).
        let later = continuity.map(sequence: 2, timestamp: 20, ssrc: 7, arrivalNanoseconds: 40 * minute)
        #expect(later.sequence == first.sequence &+ 1)
        // Reconnected after another 40 minutes (the resync).
        continuity.sourceRestarted()
        let resumed = continuity.map(sequence: 900, timestamp: 5, ssrc: 7, arrivalNanoseconds: 80 * minute)
        #expect(resumed.sequence == later.sequence &+ 1)
        #expect(RTPContinuity.ticks(elapsedNanoseconds: Int64.max, clockRate: UInt32.max) == Int64.max)
        #expect(RTPContinuity.ticks(elapsedNanoseconds: 1_000_000_000, clockRate: 90_000) == 90_000)
    }
}
