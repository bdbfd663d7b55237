import NIOCore
import RTSPRelay
import Testing

@Suite struct RTPCheckTests {
    static let h264 = PayloadTypeSet([96])

    static func packet(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
    static let header: [UInt8] = [0x80, 0xE0, 0x00, 0x01, 0, 0, 0x0E, 0x10, 0xDE, 0xAD, 0xBE, 0xEF]

    @Test func validPacket() throws {
        let result = RTPCheck.validate(
            Self.packet(Self.header + [0x65, 1, 2]),
            allowedPayloadTypes: Self.h264,
            maxSize: 1500
        )
        let header = try result.get()
        #expect(header.marker)
        #expect(header.payloadType == 96)
        #expect(header.sequence == 1)
        #expect(header.timestamp == 3600)
        #expect(header.ssrc == 0xDEAD_BEEF)
        #expect(header.headerLength == 12)
        #expect(header.payloadLength == 3)
    }

    @Test func extensionCSRCAndPadding() throws {
        // V=2, P=1, X=1, CC=1
        var bytes: [UInt8] = [0xB1, 0x60, 0, 2, 0, 0, 0, 1, 0, 0, 0, 9]
        bytes += [1, 2, 3, 4]  // CSRC
        bytes += [0xBE, 0xDE, 0, 1, 9, 9, 9, 9]  // extension of one word
        bytes += [0x41, 0x42, 0, 0, 4]  // payload of 2, padding of 3... last byte says 4 pads? make it consistent:
        bytes[bytes.count - 1] = 3
        let header = try RTPCheck.validate(Self.packet(bytes), allowedPayloadTypes: Self.h264, maxSize: 1500).get()
        #expect(header.headerLength == 12 + 4 + 8)
        #expect(header.payloadLength == 2)
    }

    @Test(arguments: [
        ([0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0] as [UInt8], RTPDropReason.tooShort),
        ([0x40, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65], .badVersion),
        ([0x8F, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65], .tooShort),  // 15 CSRCs claimed
        ([0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0xFF, 0xFF], .badExtension),
        ([0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE], .badExtension),
        ([0xA0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65, 0], .badPadding),
        ([0xA0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65, 200], .badPadding),
        ([0x80, 0x08, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65], .unexpectedPayloadType),
    ])
    func refused(_ bytes: [UInt8], _ reason: RTPDropReason) {
        let result = RTPCheck.validate(Self.packet(bytes), allowedPayloadTypes: Self.h264, maxSize: 1500)
        #expect(throws: reason) { try result.get() }
    }

    @Test func sizeLimitAtAndPast() {
        let payload = [UInt8](repeating: 0x41, count: 100 - 12)
        #expect(
            (try? RTPCheck.validate(Self.packet(Self.header + payload), allowedPayloadTypes: Self.h264, maxSize: 100)
                .get()) != nil
        )
        #expect(throws: RTPDropReason.tooLarge) {
            try RTPCheck.validate(
                Self.packet(Self.header + payload + [0]),
                allowedPayloadTypes: Self.h264,
                maxSize: 100
            ).get()
        }
    }

    @Test func rtcpCompound() throws {
        var sr = ByteBuffer()
        RTCPWriter.writeSenderReport(
            .init(ssrc: 7, ntpTime: 0x1122_3344_5566_7788, rtpTime: 99, packetCount: 5, octetCount: 500),
            cname: "camgw",
            into: &sr
        )
        #expect(sr.readableBytes == 44)
        let report = try #require(try RTPCheck.validateRTCP(sr, maxSize: 1500).get())
        #expect(report.ssrc == 7)
        #expect(report.rtpTime == 99)
        #expect(report.ntpTime == 0x1122_3344_5566_7788)
        var rr = ByteBuffer()
        RTCPWriter.writeReceiverReport(
            ssrc: 1,
            source: 7,
            fractionLost: 0,
            cumulativeLost: 0,
            highestSequence: 5,
            jitter: 0,
            lastSR: 0,
            delaySinceLastSR: 0,
            into: &rr
        )
        #expect(try RTPCheck.validateRTCP(rr, maxSize: 1500).get() == nil)
        var truncated = sr
        truncated.moveWriterIndex(to: 30)
        #expect(throws: RTPDropReason.badRTCP) { try RTPCheck.validateRTCP(truncated, maxSize: 1500).get() }
        #expect(throws: RTPDropReason.badRTCP) {
            try RTPCheck.validateRTCP(ByteBuffer(bytes: [0x80, 96, 0, 0]), maxSize: 1500).get()
        }
    }
}

@Suite struct KeyframeDetectorTests {
    @Test(arguments: [
        ([0x65, 0x88] as [UInt8], true),  // IDR
        ([0x67, 0x42], true),  // SPS
        ([0x41, 0x9A], false),  // P slice
        ([0x68, 0xCE], false),  // PPS alone
        ([0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xCE], true),  // STAP-A with SPS, PPS
        ([0x78, 0, 2, 0x06, 0x05, 0, 2, 0x41, 0x9A], false),  // STAP-A with SEI, P
        ([0x7C, 0x85, 0x88], true),  // FU-A start of IDR
        ([0x7C, 0x05, 0x88], false),  // FU-A continuation of IDR
        ([0x7C, 0x81, 0x9A], false),  // FU-A start of P
        ([0x78, 0xFF, 0xFF], false),  // STAP-A with a length past the end
    ])
    func h264(_ payload: [UInt8], _ expected: Bool) {
        #expect(KeyframeDetector.startsKeyframe(ByteBuffer(bytes: payload), codec: .h264) == expected)
    }

    @Test(arguments: [
        ([0x26, 0x01] as [UInt8], true),  // IDR_W_RADL (19)
        ([0x40, 0x01], true),  // VPS (32)
        ([0x02, 0x01], false),  // TRAIL_R (1)
        ([0x60, 0x01, 0, 2, 0x40, 0x01], true),  // AP with VPS
        ([0x62, 0x01, 0x93], true),  // FU start of IDR_W_RADL
        ([0x62, 0x01, 0x13], false),  // FU continuation
        ([0x62, 0x01, 0x81], false),  // FU start of TRAIL_R
    ])
    func h265(_ payload: [UInt8], _ expected: Bool) {
        #expect(KeyframeDetector.startsKeyframe(ByteBuffer(bytes: payload), codec: .h265) == expected)
    }
}

@Suite struct RTPContinuityTests {
    /// Across a camera restart (new SSRC, sequence and timestamp base) readers see +1 sequence numbers and a
    /// timestamp advanced by the real gap.
    @Test func continuesAcrossANewSource() {
        var continuity = RTPContinuity(outputSSRC: 42, clockRate: 90000, initialSequence: 1000, initialTimestamp: 5000)
        let first = continuity.map(sequence: 65535, timestamp: 4_294_960_000, ssrc: 0xA, arrivalNanoseconds: 0)
        #expect(first.sequence == 1000)
        let second = continuity.map(sequence: 0, timestamp: 4_294_963_600, ssrc: 0xA, arrivalNanoseconds: 40_000_000)
        #expect(second.sequence == 1001)
        #expect(second.timestamp == first.timestamp &+ 3600)
        // Camera rebooted: new SSRC, sequence and base; 2 s later.
        let after = continuity.map(sequence: 17, timestamp: 123, ssrc: 0xB, arrivalNanoseconds: 2_040_000_000)
        #expect(after.sequence == 1002)
        #expect(after.timestamp == second.timestamp &+ 180_000)
        let next = continuity.map(sequence: 18, timestamp: 3723, ssrc: 0xB, arrivalNanoseconds: 2_080_000_000)
        #expect(next.sequence == 1003)
        #expect(next.timestamp == after.timestamp &+ 3600)
        #expect(continuity.mapTimestamp(3723) == next.timestamp)
    }

    @Test func resyncsOnReconnectWithTheSameSSRC() {
        var continuity = RTPContinuity(outputSSRC: 1, clockRate: 8000, initialSequence: 0, initialTimestamp: 0)
        _ = continuity.map(sequence: 500, timestamp: 1000, ssrc: 9, arrivalNanoseconds: 0)
        continuity.sourceRestarted()
        let after = continuity.map(sequence: 10, timestamp: 50, ssrc: 9, arrivalNanoseconds: 1_000_000_000)
        #expect(after.sequence == 1)
        #expect(after.timestamp == 8000)
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func doublesToTheCapAndResetsWhenHealthy() {
        var backoff = ReconnectBackoff(jitter: 0)
        let delays = (0..<9).map { _ in backoff.nextDelay(random: 0.5) }
        #expect(
            delays == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30),
                .seconds(30), .seconds(30),
            ]
        )
        backoff.connectionEnded(afterUptime: .seconds(4))
        #expect(backoff.nextDelay(random: 0.5) == .seconds(30))
        backoff.connectionEnded(afterUptime: .seconds(5))
        #expect(backoff.nextDelay(random: 0.5) == .milliseconds(500))
    }

    @Test func jitterStaysWithinItsFraction() {
        var low = ReconnectBackoff(jitter: 0.2)
        var high = ReconnectBackoff(jitter: 0.2)
        #expect(low.nextDelay(random: 0) == .milliseconds(400))
        #expect(high.nextDelay(random: 0.9999) < .milliseconds(600))
        #expect(high.nextDelay(random: 0.9999) > .milliseconds(1190))
    }
}

@Suite struct SourceLockTests {
    @Test func locksTheFirstSourceAndSwitchesOnlyOnAPersistentOne() {
        var lock = SourceLock(switchAfter: 3)
        var accepted: [Bool] = []
        for ssrc: UInt32 in [1, 1] { accepted.append(lock.accept(ssrc)) }
        #expect(accepted == [true, true])
        // A different SSRC on every packet never gets through.
        accepted = (2...20).map { lock.accept(UInt32($0)) }
        #expect(!accepted.contains(true))
        // One that persists does, on its third packet in a row; then the old one is refused.
        accepted = [1, 7, 7, 7, 1].map { lock.accept($0) }
        #expect(accepted == [true, false, false, true, false])
        #expect(lock.locked == 7)
        lock.reset()
        accepted = [lock.accept(1)]
        #expect(accepted == [true])
    }
}

@Suite struct TimestampJumpTests {
    /// A camera whose RTP time jumps by hours is treated as a new source: readers see time go on smoothly.
    @Test func jumpsOfHoursAreAbsorbed() {
        var continuity = RTPContinuity(outputSSRC: 1, clockRate: 90000, initialSequence: 0, initialTimestamp: 0)
        let a = continuity.map(sequence: 1, timestamp: 1000, ssrc: 5, arrivalNanoseconds: 0)
        let b = continuity.map(
            sequence: 2,
            timestamp: 1000 &+ 3 * 3600 * 90000,
            ssrc: 5,
            arrivalNanoseconds: 40_000_000
        )
        #expect(b.timestamp == a.timestamp &+ 3600)
        #expect(b.sequence == a.sequence &+ 1)
        // Ordinary progress is not a jump.
        let c = continuity.map(
            sequence: 3,
            timestamp: 1000 &+ 3 * 3600 * 90000 &+ 3600,
            ssrc: 5,
            arrivalNanoseconds: 80_000_000
        )
        #expect(c.timestamp == b.timestamp &+ 3600)
    }
}
