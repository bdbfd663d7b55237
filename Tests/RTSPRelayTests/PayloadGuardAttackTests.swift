import NIOCore
import Testing

@testable import RTSPRelay

/// A hostile camera's payload shapes, one by one, against the check that stands between it and the VMS's
/// depacketizers and decoders; and the real cameras' parameter sets from the shared fixtures, which must pass.
@Suite struct PayloadGuardAttackTests {
    static func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

    static func base64(_ text: String) -> ByteBuffer {
        ByteBuffer(bytes: base64Decode(text) ?? [])
    }

    /// An H.264 SPS written field by field (Baseline, no VUI), for the out-of-range cases.
    static func sps(
        profile: UInt8 = 66,
        level: UInt8 = 30,
        id: UInt32 = 0,
        widthMBs: UInt32 = 19,
        trailing: Bool = true
    )
        -> ByteBuffer
    {
        var bits = BitWriter()
        bits.write(UInt32(profile), 8)
        bits.write(0, 8)
        bits.write(UInt32(level), 8)
        bits.ue(id)
        bits.ue(0)  // log2_max_frame_num_minus4
        bits.ue(2)  // pic_order_cnt_type
        bits.ue(1)  // max_num_ref_frames
        bits.write(0, 1)
        bits.ue(widthMBs)
        bits.ue(14)  // height in map units - 1
        bits.write(1, 1)  // frame_mbs_only
        bits.write(1, 1)  // direct_8x8
        bits.write(0, 1)  // cropping
        bits.write(0, 1)  // vui
        if trailing { bits.trailing() }
        return Self.bytes([0x67] + bits.bytes)
    }

    static func pps(id: UInt32 = 0, sps: UInt32 = 0) -> ByteBuffer {
        var bits = BitWriter()
        bits.ue(id)
        bits.ue(sps)
        bits.write(0, 2)
        bits.ue(0)  // one slice group
        bits.ue(0)
        bits.ue(0)
        bits.write(0, 3)
        bits.se(0)
        bits.se(0)
        bits.se(0)
        bits.write(0, 3)
        bits.trailing()
        return Self.bytes([0x68] + bits.bytes)
    }

    static func stapA(_ units: [ByteBuffer], sizes: [Int]? = nil) -> ByteBuffer {
        var packet = ByteBuffer(bytes: [0x78])
        for (index, unit) in units.enumerated() {
            packet.writeInteger(UInt16(sizes?[index] ?? unit.readableBytes))
            packet.writeImmutableBuffer(unit)
        }
        return packet
    }

    static func fu(start: Bool, end: Bool, type: UInt8 = 5) -> ByteBuffer {
        Self.bytes([0x7C, (start ? 0x80 : 0) | (end ? 0x40 : 0) | type, 0xAA, 0xBB])
    }

    static let slice = Self.bytes([0x65, 0x88, 0x84, 0x00])

    @Test func realCamerasParameterSetsPass() throws {
        // go2rtc's and retina's Hikvision/Dahua fixtures: Main and High profile SPS with VUI, and their PPS.
        for (sps, pps) in [
            ("Z2QAHqwsaoLA9puCgIKgAAADACAAAAMD0IAA", "aO4xshsA"),
            ("Z2QAM6wVFKAyAOP5f/AAEAAWyAAAH0AAB1MAIA==", "aO48sA=="),
        ] {
            var guardian = PayloadGuard(format: .h264)
            #expect(guardian.check(Self.base64(sps), sequence: 0, timestamp: 0).action == .forward, "\(sps)")
            #expect(guardian.check(Self.base64(pps), sequence: 1, timestamp: 0).action == .forward, "\(pps)")
        }
        // A fixture whose sprop is cut short (the SPS ends inside its VUI): refused as a camera would send it.
        var guardian = PayloadGuard(format: .h264)
        #expect(
            guardian.check(Self.base64("Z00AKZpkA8A="), sequence: 0, timestamp: 0).action == .drop(.badParameterSet)
        )
    }

    @Test func badNALHeaders() {
        var guardian = PayloadGuard(format: .h264)
        for header: UInt8 in [0xE5, 0x00, 0x62, 0x6D, 0x79, 0x7A, 0x7B, 0x7D, 0x7E, 0x7F] {
            let verdict = guardian.check(Self.bytes([header, 0x88, 0x84]), sequence: 0, timestamp: 0)
            #expect(verdict.action == .drop(.badNALHeader), "0x\(String(header, radix: 16))")
        }
        var h265 = PayloadGuard(format: .h265)
        // Forbidden bit; layer 1; temporal id 0; a reserved type (22); PACI (50).
        for header: [UInt8] in [[0x80, 0x01], [0x02, 0x09], [0x02, 0x00], [0x2C, 0x01], [0x64, 0x01]] {
            #expect(
                h265.check(Self.bytes(header + [0xAF, 0x00]), sequence: 0, timestamp: 0).action == .drop(.badNALHeader)
            )
        }
    }

    @Test func parameterSetsOutOfRange() {
        var guardian = PayloadGuard(format: .h264)
        #expect(guardian.check(Self.sps(), sequence: 0, timestamp: 0).action == .forward)
        #expect(guardian.check(Self.pps(), sequence: 1, timestamp: 0).action == .forward)
        for (name, sps) in [
            ("sps id 32", Self.sps(id: 32)), ("unknown profile", Self.sps(profile: 99)),
            ("unknown level", Self.sps(level: 7)), ("width 8208", Self.sps(widthMBs: 512)),
            ("no trailing bits", Self.sps(trailing: false)),
            // Zeros to the end, escaped as an encoder escapes them (00 00 03), so that only the exp-Golomb read fails.
            ("an exp-Golomb code that never ends", Self.bytes([0x67, 66, 0, 30, 0, 0, 3, 0, 0, 3, 0])),
        ] {
            var fresh = PayloadGuard(format: .h264)
            #expect(fresh.check(sps, sequence: 0, timestamp: 0).action == .drop(.badParameterSet), "\(name)")
        }
        // A PPS naming an SPS nobody validated; a PPS id past 255.
        #expect(guardian.check(Self.pps(sps: 3), sequence: 2, timestamp: 0).action == .drop(.badParameterSet))
    }

    /// An H.265 SPS written field by field (Main, 1920×1080, one sub-layer), for its tail: reference picture sets,
    /// long-term pictures, VUI and extensions.
    static func h265SPS(
        sets: [(negative: UInt32, predicted: Bool)] = [(2, false)],
        dpb: UInt32 = 4,
        longTerm: UInt32? = nil,
        cpbCount: UInt32? = nil,
        extensions: Bool = false
    ) -> ByteBuffer {
        var bits = BitWriter()
        bits.write(0, 4)  // VPS id
        bits.write(0, 3)  // max_sub_layers_minus1
        bits.write(1, 1)
        bits.write(0, 2)
        bits.write(0, 1)
        bits.write(1, 5)  // Main
        bits.write(0x6000_0000, 32)
        bits.write(0, 24)
        bits.write(0, 24)
        bits.write(93, 8)  // level 3.1
        bits.ue(0)  // SPS id
        bits.ue(1)  // 4:2:0
        bits.ue(1920)
        bits.ue(1080)
        bits.write(0, 1)
        bits.ue(0)
        bits.ue(0)
        bits.ue(4)  // log2_max_pic_order_cnt_lsb_minus4
        bits.write(1, 1)
        bits.ue(dpb)
        bits.ue(0)
        bits.ue(0)
        for value: UInt32 in [0, 3, 0, 3, 0, 0] { bits.ue(value) }
        bits.write(0, 1)  // scaling lists
        bits.write(0, 1)
        bits.write(1, 1)
        bits.write(0, 1)  // PCM
        bits.ue(UInt32(sets.count))
        var previous: UInt32 = 0
        for (index, set) in sets.enumerated() {
            if index > 0 { bits.write(set.predicted ? 1 : 0, 1) }
            if set.predicted {
                bits.write(0, 1)
                bits.ue(0)
                for _ in 0...previous { bits.write(1, 1) }
                previous += 1
            } else {
                bits.ue(set.negative)
                bits.ue(0)
                for _ in 0..<min(set.negative, 64) {
                    bits.ue(0)
                    bits.write(1, 1)
                }
                previous = set.negative
            }
        }
        bits.write(longTerm == nil ? 0 : 1, 1)
        if let longTerm {
            bits.ue(longTerm)
            for _ in 0..<min(longTerm, 64) { bits.write(0x55, 9) }
        }
        bits.write(1, 1)
        bits.write(1, 1)
        bits.write(cpbCount == nil ? 0 : 1, 1)  // VUI
        if let cpbCount {
            bits.write(0, 7)  // no aspect, overscan, signal, location; neutral, field, frame-field
            bits.write(0, 1)  // no default window
            bits.write(1, 1)  // timing
            bits.write(1001, 32)
            bits.write(60000, 32)
            bits.write(0, 1)
            bits.write(1, 1)  // HRD
            bits.write(1, 1)  // NAL HRD
            bits.write(0, 1)
            bits.write(0, 1)  // no sub-picture parameters
            bits.write(0, 8)
            bits.write(0, 15)
            bits.write(1, 1)  // fixed rate
            bits.ue(0)
            bits.ue(cpbCount)
            for _ in 0...min(cpbCount, 64) {
                bits.ue(1000)
                bits.ue(1000)
                bits.write(0, 1)
            }
            bits.write(0, 1)  // no bitstream restriction
        }
        bits.write(extensions ? 1 : 0, 1)
        if extensions { bits.write(0x80, 8) }
        bits.trailing()
        return Self.bytes([0x42, 0x01] + bits.escaped)
    }

    /// The counts in the H.265 SPS tail that size a decoder's tables, each just inside and just past its range.
    @Test func h265SPSTailCountsAreBounded() {
        func passes(_ sps: ByteBuffer) -> Bool { H265ParameterSets.sps(sps, start: 0, end: sps.readableBytes) != nil }
        #expect(passes(Self.h265SPS()))
        #expect(passes(Self.h265SPS(sets: [(2, false), (0, true), (0, true)], longTerm: 32, cpbCount: 31)))
        // Counts past the DPB the SPS declares are an encoder's slip that FFmpeg corrects: passed.
        #expect(passes(Self.h265SPS(sets: [(5, false)], dpb: 4)))
        #expect(passes(Self.h265SPS(sets: [(15, false)] + Array(repeating: (0, true), count: 17))))
        for (name, sps) in [
            ("65 reference picture sets", Self.h265SPS(sets: Array(repeating: (1, false), count: 65))),
            ("16 negative pictures", Self.h265SPS(sets: [(16, false)])),
            (
                "a predicted set past 32 pictures",
                Self.h265SPS(sets: [(15, false)] + Array(repeating: (0, true), count: 18))
            ),
            ("33 long-term pictures", Self.h265SPS(longTerm: 33)),
            ("32 CPBs", Self.h265SPS(cpbCount: 32)),
            ("a range extension", Self.h265SPS(extensions: true)),
        ] {
            #expect(!passes(sps), "\(name)")
        }
        // Cut anywhere, it fails: every read is bounded by the NAL.
        let whole = Self.h265SPS(sets: [(2, false), (0, true)], longTerm: 2, cpbCount: 1)
        for length in 3..<whole.readableBytes {
            #expect(!passes(whole.getSlice(at: 0, length: length)!), "cut at \(length)")
        }
    }

    /// After a bad parameter set nothing passes until a good SPS: no slice is decoded against it.
    @Test func aBadParameterSetStopsTheTrackUntilAGoodOne() {
        var guardian = PayloadGuard(format: .h264)
        #expect(guardian.check(Self.sps(id: 40), sequence: 0, timestamp: 0).action == .drop(.badParameterSet))
        #expect(guardian.check(Self.slice, sequence: 1, timestamp: 0).action == .drop(.waitingForParameterSet))
        #expect(
            guardian.check(Self.fu(start: true, end: false), sequence: 2, timestamp: 0).action
                == .drop(.waitingForParameterSet)
        )
        #expect(guardian.check(Self.sps(), sequence: 3, timestamp: 1).action == .forward)
        #expect(guardian.check(Self.pps(), sequence: 4, timestamp: 1).action == .forward)
        #expect(guardian.check(Self.slice, sequence: 5, timestamp: 1).action == .forward)
    }

    @Test func aggregationSizesMustAddUp() {
        var guardian = PayloadGuard(format: .h264)
        let good = Self.stapA([Self.sps(), Self.pps()])
        #expect(guardian.check(good, sequence: 0, timestamp: 0).action == .forward)
        // Truncated (the last size claims more than is there), a short sum (trailing bytes), a zero size, a
        // STAP-A inside a STAP-A.
        var truncated = good
        truncated.moveWriterIndex(to: truncated.writerIndex - 2)
        var trailing = good
        trailing.writeBytes([0x00, 0x01])
        for (name, packet) in [
            ("truncated", truncated), ("trailing bytes", trailing),
            ("zero size", Self.stapA([Self.slice, Self.bytes([])])),
            ("nested", Self.stapA([Self.stapA([Self.slice])])),
        ] {
            #expect(guardian.check(packet, sequence: 1, timestamp: 0).action == .drop(.badAggregation), "\(name)")
        }
    }

    @Test func seiIsDroppedOrCutOut() {
        var guardian = PayloadGuard(format: .h264)
        let sei = Self.bytes([0x06, 0x05, 0x04, 0xDE, 0xAD, 0xBE, 0xEF, 0x80])
        #expect(guardian.check(sei, sequence: 0, timestamp: 0).action == .drop(.sei))
        // Inside an aggregation only the SEI unit goes (bit 2: the third unit).
        let packet = Self.stapA([Self.sps(), Self.pps(), sei])
        #expect(guardian.check(packet, sequence: 1, timestamp: 0).action == .strip(0b100))
        // Kept by policy when every message is a kept type; an oversized one never.
        var keeping = PayloadGuard(format: .h264, keepSEI: [5])
        #expect(keeping.check(sei, sequence: 0, timestamp: 0).action == .forward)
        var big = ByteBuffer(bytes: [0x06, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        big.writeRepeatingByte(0x41, count: 2310)
        big.writeInteger(UInt8(0x80))
        #expect(keeping.check(big, sequence: 1, timestamp: 0).action == .drop(.sei))
    }

    /// A reader never gets a fragment run that does not end: runs are held to their end fragment, and a run
    /// that breaks is dropped whole.
    @Test func fragmentRunsEndOrAreDropped() {
        var guardian = PayloadGuard(format: .h264)
        #expect(guardian.check(Self.fu(start: true, end: false), sequence: 10, timestamp: 0).action == .hold)
        #expect(guardian.check(Self.fu(start: false, end: false), sequence: 11, timestamp: 0).action == .hold)
        #expect(guardian.check(Self.fu(start: false, end: true), sequence: 12, timestamp: 0).action == .forward)
        // A start without an end, then a new start: the first run is discarded.
        _ = guardian.check(Self.fu(start: true, end: false), sequence: 13, timestamp: 1)
        let restart = guardian.check(Self.fu(start: true, end: false), sequence: 14, timestamp: 2)
        #expect(restart == .init(action: .hold, discardHeld: true))
        // A gap in sequence numbers, another timestamp, another type: the run breaks.
        #expect(
            guardian.check(Self.fu(start: false, end: true), sequence: 16, timestamp: 2)
                == .init(action: .drop(.badFragmentation), discardHeld: true)
        )
        _ = guardian.check(Self.fu(start: true, end: false), sequence: 17, timestamp: 3)
        #expect(guardian.check(Self.fu(start: false, end: true), sequence: 18, timestamp: 4).discardHeld)
        _ = guardian.check(Self.fu(start: true, end: false), sequence: 19, timestamp: 5)
        #expect(guardian.check(Self.fu(start: false, end: true, type: 1), sequence: 20, timestamp: 5).discardHeld)
        // A single NAL while a run is open ends that run unfinished.
        _ = guardian.check(Self.fu(start: true, end: false), sequence: 21, timestamp: 6)
        #expect(guardian.check(Self.slice, sequence: 22, timestamp: 6) == .init(action: .forward, discardHeld: true))
        // An end or middle with no run; start and end in one; a fragmented SPS.
        #expect(
            guardian.check(Self.fu(start: false, end: true), sequence: 23, timestamp: 7).action
                == .drop(.badFragmentation)
        )
        #expect(
            guardian.check(Self.fu(start: true, end: true), sequence: 24, timestamp: 7).action
                == .drop(.badFragmentation)
        )
        #expect(
            guardian.check(Self.fu(start: true, end: false, type: 7), sequence: 25, timestamp: 7).action
                == .drop(.badFragmentation)
        )
    }

    /// A slice whose bytes hold 00 00 01 and an SPS: FFmpeg's depacketizer writes the slice after a start code, and
    /// its Annex B reader then finds a second NAL no check saw. Whole, in an aggregation, split across fragments.
    @Test func aStartCodeInsideANALIsRefused() {
        let smuggled: [UInt8] = [0x67, 0x42, 0x00, 0x1E]
        for h265 in [false, true] {
            let header: [UInt8] = h265 ? [0x02, 0x01] : [0x41]
            for code: [UInt8] in [[0, 0, 1], [0, 0, 0], [0, 0, 2]] {
                var guardian = PayloadGuard(format: h265 ? .h265 : .h264)
                let packet = Self.bytes(header + [0x9A, 0x22] + code + smuggled)
                #expect(guardian.check(packet, sequence: 0, timestamp: 0).action == .drop(.startCodeInNAL))
            }
            // What an encoder writes instead (00 00 03 01) passes, as does a NAL ending in zeros.
            var guardian = PayloadGuard(format: h265 ? .h265 : .h264)
            #expect(
                guardian.check(Self.bytes(header + [0x9A, 0, 0, 3, 1, 0x22, 0, 0]), sequence: 0, timestamp: 0).action
                    == .forward
            )
        }
        var guardian = PayloadGuard(format: .h264)
        let stap = Self.stapA([Self.bytes([0x41, 0x9A, 0x00, 0x00, 0x01, 0x06, 0x05]), Self.slice])
        #expect(guardian.check(stap, sequence: 0, timestamp: 0).action == .drop(.startCodeInNAL))

        // Split across fragments: "… 00 00" | "01 …", "… 00" | "00 01 …", and "… 00" | "00" | "01 …".
        for split: [[UInt8]] in [
            [[0x11, 0, 0], [1, 0x67]], [[0x11, 0], [0, 1, 0x67]], [[0x11, 0], [0], [1, 0x67]],
        ] {
            var guardian = PayloadGuard(format: .h264)
            var verdicts: [PayloadGuard.Verdict] = []
            for (index, part) in split.enumerated() {
                let bits: UInt8 = (index == 0 ? 0x80 : 0) | (index == split.count - 1 ? 0x40 : 0) | 5
                verdicts.append(
                    guardian.check(Self.bytes([0x7C, bits] + part), sequence: UInt16(index), timestamp: 0)
                )
            }
            #expect(verdicts.last == .init(action: .drop(.startCodeInNAL), discardHeld: true), "\(split)")
            #expect(!verdicts.contains { $0.action == .forward }, "\(split)")
        }
        // Zeros that run to the end of a NAL are trailing zero bytes, whole or in the end fragment; before the end
        // they are not.
        var trailing = PayloadGuard(format: .h264)
        #expect(
            trailing.check(Self.bytes([0x41, 0x9A, 0x22, 0, 0, 0, 0]), sequence: 0, timestamp: 0).action == .forward
        )
        #expect(trailing.check(Self.bytes([0x7C, 0x85, 0x11, 0, 0]), sequence: 1, timestamp: 1).action == .hold)
        #expect(trailing.check(Self.bytes([0x7C, 0x45, 0, 0, 0]), sequence: 2, timestamp: 1).action == .forward)
        #expect(trailing.check(Self.bytes([0x7C, 0x85, 0x11, 0, 0]), sequence: 3, timestamp: 2).action == .hold)
        #expect(
            trailing.check(Self.bytes([0x7C, 0x45, 0, 1, 0]), sequence: 4, timestamp: 2).action
                == .drop(.startCodeInNAL)
        )
        // The same bytes with 03 between: the run ends and is forwarded.
        var clean = PayloadGuard(format: .h264)
        #expect(clean.check(Self.bytes([0x7C, 0x85, 0x11, 0, 0]), sequence: 0, timestamp: 0).action == .hold)
        #expect(clean.check(Self.bytes([0x7C, 0x45, 3, 1, 0x67]), sequence: 1, timestamp: 0).action == .forward)
    }

    @Test func aacAUHeadersMustMatchThePacket() throws {
        let layout = try #require(
            AUHeaderLayout(fmtp: ["mode": "AAC-hbr", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3"])
        )
        var guardian = PayloadGuard(format: .aac(layout))
        /// One AU header (16 bits: 13 size, 3 index) for `size`, then `data` bytes.
        func packet(headerBits: UInt16 = 16, size: Int, data: Int) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeInteger(headerBits)
            buffer.writeInteger(UInt16(size << 3))
            buffer.writeRepeatingByte(0x21, count: data)
            return buffer
        }
        #expect(guardian.check(packet(size: 40, data: 40), sequence: 0, timestamp: 0).action == .forward)
        // A fragment of a large AU: one header, a size beyond the packet.
        #expect(guardian.check(packet(size: 3000, data: 1400), sequence: 1, timestamp: 0).action == .forward)
        for (name, bad) in [
            ("sizes short of the data", packet(size: 30, data: 40)),
            ("headers length past the packet", packet(headerBits: 0xFFF0, size: 40, data: 40)),
            ("headers length not a whole header", packet(headerBits: 20, size: 40, data: 40)),
            ("no headers", packet(headerBits: 0, size: 40, data: 40)),
        ] {
            #expect(guardian.check(bad, sequence: 2, timestamp: 0).action == .drop(.badAUHeader), "\(name)")
        }
    }

    /// LATM as FFmpeg's rtpenc_latm writes it (PayloadLengthInfo, then the frame; a frame larger than the packet
    /// continues without a header, the marker on its last packet), and the shapes that do not add up.
    @Test func latmLengthsMustAddUp() {
        func latm(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
        let frame300 = [UInt8](repeating: 0x21, count: 300)
        var guardian = PayloadGuard(format: .latm)
        #expect(guardian.check(latm([4, 1, 2, 3, 4]), sequence: 0, timestamp: 0, marker: true).action == .forward)
        #expect(
            guardian.check(latm([0xFF, 45] + frame300), sequence: 1, timestamp: 1, marker: true).action == .forward
        )
        #expect(
            guardian.check(latm([2, 9, 9, 3, 1, 2, 3]), sequence: 2, timestamp: 2, marker: true).action == .forward
        )
        // One frame over three packets.
        #expect(
            guardian.check(latm([0xFF, 45] + frame300[0..<100]), sequence: 3, timestamp: 3, marker: false).action
                == .forward
        )
        #expect(guardian.check(latm(Array(frame300[0..<150])), sequence: 4, timestamp: 3).action == .forward)
        #expect(
            guardian.check(latm(Array(frame300[0..<50])), sequence: 5, timestamp: 3, marker: true).action == .forward
        )
        // The frame claims more than the packet with the marker has; bytes after the last frame; a length that
        // runs off the end; a length past any AAC frame; nothing at all.
        for (name, bytes) in [
            ("short", [9, 1, 2, 3]), ("trailing", [2, 1, 2, 7]), ("open length", [0xFF, 0xFF]),
            ("huge", [UInt8](repeating: 0xFF, count: 40) + [1]), ("empty", []),
        ] as [(String, [UInt8])] {
            #expect(
                guardian.check(latm(bytes), sequence: 6, timestamp: 4, marker: true).action == .drop(.badAUHeader),
                "\(name)"
            )
        }
        // A gap inside a frame: FFmpeg would join what is left of the timestamp into elements the check never saw,
        // so the rest of that timestamp goes; the next timestamp starts clean.
        _ = guardian.check(latm([0xFF, 45] + frame300[0..<100]), sequence: 7, timestamp: 5, marker: false)
        #expect(
            guardian.check(latm(Array(frame300[0..<200])), sequence: 9, timestamp: 5, marker: true).action
                == .drop(.badAUHeader)
        )
        #expect(guardian.check(latm([2, 1, 2]), sequence: 10, timestamp: 6, marker: true).action == .forward)
        // A packet refused in the middle of a timestamp: its later packets go too, even ones that would read well.
        #expect(guardian.check(latm([9, 1, 2]), sequence: 11, timestamp: 7, marker: false).action == .forward)
        #expect(
            guardian.check(latm([UInt8](repeating: 0xFF, count: 40)), sequence: 12, timestamp: 7).action
                == .drop(.badAUHeader)
        )
        #expect(
            guardian.check(latm([2, 1, 2]), sequence: 13, timestamp: 7, marker: true).action == .drop(.badAUHeader)
        )
        #expect(guardian.check(latm([2, 1, 2]), sequence: 14, timestamp: 8, marker: true).action == .forward)
        // The marker packet itself dropped: the reader's buffer for the timestamp stays open and would join the next
        // packet of it to the first, so that one goes too, marker or not.
        #expect(guardian.check(latm([5, 0xAA, 0xBB]), sequence: 20, timestamp: 10).action == .forward)
        #expect(guardian.check(latm([0xFF]), sequence: 21, timestamp: 10, marker: true).action == .drop(.badAUHeader))
        #expect(
            guardian.check(latm([1, 0x11, 2, 0x22, 0x33]), sequence: 22, timestamp: 10, marker: true).action
                == .drop(.badAUHeader)
        )
        // A length run that continues in the next packet, as FFmpeg reads it.
        #expect(guardian.check(latm([0xFF]), sequence: 15, timestamp: 9).action == .forward)
        #expect(guardian.check(latm([45] + frame300), sequence: 16, timestamp: 9, marker: true).action == .forward)
    }

    /// Metadata documents are held to their marker and handed over whole; one that breaks off or grows past the
    /// bound is dropped with everything held for it.
    @Test func metadataDocumentsAreHeldToTheirMarker() {
        var guardian = PayloadGuard(format: .onvifMetadata)
        let part = ByteBuffer(repeating: 0x20, count: 1000)
        #expect(guardian.check(part, sequence: 1, timestamp: 0, marker: false).action == .hold)
        #expect(guardian.check(part, sequence: 2, timestamp: 0, marker: false).action == .hold)
        #expect(guardian.check(part, sequence: 3, timestamp: 0, marker: true) == .init(action: .document))
        // A gap: what was held goes, this packet starts the next document.
        _ = guardian.check(part, sequence: 4, timestamp: 1, marker: false)
        #expect(
            guardian.check(part, sequence: 6, timestamp: 1, marker: true) == .init(action: .document, discardHeld: true)
        )
        // A document that never ends stops at the bound.
        var sequence: UInt16 = 10
        var last = PayloadGuard.Verdict(action: .hold)
        while last.action == .hold, sequence < 1000 {
            last = guardian.check(part, sequence: sequence, timestamp: 2, marker: false)
            sequence += 1
        }
        #expect(last == .init(action: .drop(.badMetadata), discardHeld: true))
        #expect(Int(sequence - 10) == MetadataDocumentRun.maxBytes / 1000 + 1)
    }

    /// The packets a rewritten document goes out in never pass the relay's packet size (a 65,535-byte packet with
    /// a 40,000-byte header extension once made one of 80,000), and never need more numbers than the camera used.
    @Test func aRewrittenDocumentFitsThePacketSize() throws {
        let attack = try #require(
            HeldDocument.packetization(received: 25_535 + 65_523, packets: 2, rewritten: 40_000, maxPacketSize: 65_535)
        )
        #expect(attack.size + 12 <= 65_535)
        #expect(attack.size * attack.count >= 40_000)
        // The camera's 1400-byte packets: the same size out, fewer packets if the document shrank.
        #expect(
            HeldDocument.packetization(received: 4200, packets: 3, rewritten: 2000, maxPacketSize: 16384)! == (1400, 2)
        )
        #expect(
            HeldDocument.packetization(received: 4200, packets: 3, rewritten: 6000, maxPacketSize: 16384)! == (2000, 3)
        )
        // Grown past what the camera's packet count can carry at the packet size: dropped.
        #expect(HeldDocument.packetization(received: 100, packets: 1, rewritten: 20_000, maxPacketSize: 16384) == nil)
        for received in [1, 700, 5000, 90_000] {
            for packets in [1, 2, 7, 64] {
                for rewritten in [1, 500, 4096, 70_000] {
                    guard
                        let (size, count) = HeldDocument.packetization(
                            received: received,
                            packets: packets,
                            rewritten: rewritten,
                            maxPacketSize: 16384
                        )
                    else { continue }
                    #expect(
                        size + 12 <= 16384 && count <= packets && size * count >= rewritten
                            && size * (count - 1) < rewritten
                    )
                }
            }
        }
    }

    @Test func formatsOutsideTheAllowlistAreUnchecked() {
        #expect(!PayloadFormat(encoding: "AV1", payloadType: 98, fmtp: [:]).isChecked)
        #expect(!PayloadFormat(encoding: nil, payloadType: 26, fmtp: [:]).isChecked)  // static JPEG
        #expect(!PayloadFormat(encoding: "H264", payloadType: 96, fmtp: ["packetization-mode": "2"]).isChecked)
        #expect(!PayloadFormat(encoding: "H265", payloadType: 96, fmtp: ["sprop-max-don-diff": "2"]).isChecked)
        #expect(!PayloadFormat(encoding: "MPEG4-GENERIC", payloadType: 97, fmtp: ["mode": "CELP-cbr"]).isChecked)
        #expect(PayloadFormat(encoding: nil, payloadType: 8, fmtp: [:]) == .g711)
        #expect(PayloadFormat(encoding: "h265", payloadType: 96, fmtp: [:]) == .h265)
    }
}

/// Writes bits MSB first, exp-Golomb included, for the hand-made parameter sets.
struct BitWriter {
    var bytes: [UInt8] = []
    var used = 8

    mutating func write(_ value: UInt32, _ count: Int) {
        for shift in stride(from: count - 1, through: 0, by: -1) {
            if self.used == 8 {
                self.bytes.append(0)
                self.used = 0
            }
            if (value >> UInt32(shift)) & 1 == 1 { self.bytes[self.bytes.count - 1] |= 0x80 >> UInt8(self.used) }
            self.used += 1
        }
    }

    mutating func ue(_ value: UInt32) {
        let code = UInt64(value) + 1
        let length = 64 - code.leadingZeroBitCount
        self.write(0, length - 1)
        for shift in stride(from: length - 1, through: 0, by: -1) { self.write(UInt32((code >> UInt64(shift)) & 1), 1) }
    }

    mutating func se(_ value: Int32) {
        self.ue(value > 0 ? UInt32(2 * value - 1) : UInt32(-2 * Int64(value)))
    }

    mutating func trailing() {
        self.write(1, 1)
        while self.used != 8 { self.write(0, 1) }
    }

    /// The bytes as a NAL carries them: 03 after two zeros where the next byte is 00 to 03.
    var escaped: [UInt8] {
        var out: [UInt8] = []
        var zeros = 0
        for byte in self.bytes {
            if zeros >= 2, byte <= 3 {
                out.append(3)
                zeros = 0
            }
            out.append(byte)
            zeros = byte == 0 ? zeros + 1 : 0
        }
        return out
    }
}

/// The SDP the VMS reads names exactly what the payload check read: one rtpmap and fmtp per payload type,
/// written by the gateway, payload types as plain numbers.
@Suite struct GatewaySDPAmbiguityTests {
    static func gatewaySDP(_ mediaLines: String) throws -> String {
        let camera = try SDPParser.parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\n" + mediaLines)
        var tracks: [RTSPClientStateMachine.Track] = []
        for media in camera.media {
            let types = media.formats.compactMap(UInt8.init)
            let format = PayloadFormat(
                encoding: media.rtpmap(payloadType: String(types[0]))?.encoding,
                payloadType: types[0],
                fmtp: media.fmtp(payloadType: String(types[0]))
            )
            var track = RTSPClientStateMachine.Track(
                index: tracks.count,
                media: media,
                controlURL: "rtsp://127.0.0.1/x",
                payloadTypes: PayloadTypeSet(types),
                clockRate: 90000,
                codec: nil
            )
            track.format = format
            tracks.append(track)
        }
        return SDPWriter.write(GatewaySDP.make(from: camera, tracks: tracks, sessionName: "x", sessionID: "1"))
    }

    @Test func aSecondRtpmapCannotShowTheVMSAnotherCodec() throws {
        // The check reads the first line (PCMU); the VMS must see that one and nothing else.
        let sdp = try Self.gatewaySDP(
            "m=video 0 RTP/AVP 96\r\na=rtpmap: 96 PCMU/8000\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=fmtp:96 packetization-mode=2\r\n"
        )
        #expect(!sdp.contains("H264"), "\(sdp)")
        #expect(sdp.components(separatedBy: "a=rtpmap").count == 2, "\(sdp)")
        #expect(sdp.contains("a=rtpmap:96 PCMU/8000"), "\(sdp)")
        // Neither fmtp line: G.711 has no parameters, so nothing of H.264's reaches the VMS.
        #expect(!sdp.contains("a=fmtp") && !sdp.contains("packetization-mode"), "\(sdp)")
    }

    @Test func payloadTypesAreWrittenAsNumbers() throws {
        let sdp = try Self.gatewaySDP("m=video 0 RTP/AVP 096\r\na=rtpmap:096 H264/90000\r\n")
        #expect(sdp.contains("m=video 0 RTP/AVP 96\r\n"), "\(sdp)")
        #expect(!sdp.contains("096"), "\(sdp)")
    }

    @Test func staticTypesAndDecodingOrderNumbersAreUnchecked() {
        #expect(!PayloadFormat(encoding: "PCMU", payloadType: 26, fmtp: [:]).isChecked)
        #expect(!PayloadFormat(encoding: "H264", payloadType: 96, fmtp: ["packetization-mode": "02"]).isChecked)
        #expect(!PayloadFormat(encoding: "H265", payloadType: 96, fmtp: ["sprop-depack-buf-nalus": "1"]).isChecked)
        #expect(PayloadFormat(encoding: "PCMA", payloadType: 8, fmtp: [:]) == .g711)
    }

    @Test func headerOnlyNALsAndUnspecifiedAspectRatioPass() {
        var h264 = PayloadGuard(format: .h264)
        #expect(h264.check(ByteBuffer(bytes: [0x0A]), sequence: 0, timestamp: 0).action == .forward)  // end of sequence
        var h265 = PayloadGuard(format: .h265)
        #expect(h265.check(ByteBuffer(bytes: [0x48, 0x01]), sequence: 0, timestamp: 0).action == .forward)  // EOS
    }
}
