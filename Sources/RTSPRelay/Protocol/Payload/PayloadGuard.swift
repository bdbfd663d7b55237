import NIOCore

/// The payload check of one track: RTP payloads in, what to do with each out (a value type; `RelayStream` holds
/// the packets it is told to hold and counts what is dropped).
///
/// Decisions, and why:
/// - A fragment run (FU-A / H.265 FU) is held until its end fragment and then released whole; a run that breaks
///   (a gap in sequence numbers, a new start, another packet type, another timestamp, past the bound) is dropped
///   whole. A reader therefore never gets a run that does not end. Holding costs no decode latency: a
///   depacketizer cannot hand a NAL to the decoder before its last fragment anyway.
/// - Fragmented parameter sets are refused: a parameter set fits one packet, and checking one across fragments
///   would need reassembly.
/// - A parameter set that fails its check drops its packet and everything after it on the track until a packet
///   carrying a valid SPS (H.265: VPS or SPS) arrives, so no slice is decoded against it.
/// - No NAL unit may hold a start code (``StartCodeEmulation``): a depacketizer would begin an unchecked NAL there.
/// - SEI is dropped unless the camera's `keep_sei` names every payload type in it (and it is at most 2 KiB); an
///   aggregation packet loses only its SEI units (the one case that copies).
public struct PayloadGuard: Sendable {
    public enum Action: Hashable, Sendable {
        case forward
        /// Forward the aggregation packet without the units whose bit is set (bit i: the i-th unit).
        case strip(UInt64)
        case hold
        case drop(RTPDropReason)
        /// The held packets of the track and this one are one metadata document: rewrite it (``MetadataDocumentFilter``).
        case document
    }

    public struct Verdict: Hashable, Sendable {
        public var action: Action
        /// Drop the held fragments (an unfinished run) before acting on this packet.
        public var discardHeld = false
    }

    struct Run {
        var type: UInt8
        var timestamp: UInt32
        var nextSequence: UInt16
        var packets: Int
        var bytes: Int
        /// The 00 bytes that ended the run so far (``StartCodeEmulation``).
        var zeros: Int
    }

    let format: PayloadFormat
    var keepSEI: Set<UInt32>
    public static let maxRunPackets = 4096
    static let maxRunBytes = 4 << 20
    static let maxKeptSEIBytes = 2048

    var run: Run?
    var latm = LATMPayloadCheck()
    var metadata = MetadataDocumentRun()
    var waitingForParameterSets = false
    /// Parameter sets validated so far, by id (bit n: id n): a PPS must name a known SPS, an SPS a known VPS.
    var h264SPS: UInt32 = 0
    var h264SPS444: UInt32 = 0
    var h265VPS: UInt16 = 0
    var h265SPS: UInt16 = 0

    public init(format: PayloadFormat, keepSEI: Set<UInt32> = [], parameterSets: [[UInt8]] = []) {
        self.format = format
        self.keepSEI = keepSEI
        for nal in parameterSets { _ = self.learn(ByteBuffer(bytes: nal)) }
    }

    /// A new camera session (or a reload) for readers who stay: no run open, the parameter sets known so far kept.
    /// Those are what the readers' decoders hold (from the SDP they read, then in-band), so a PPS after the
    /// restart is checked against the SPS a decoder will use; going back to the SDP's alone would not be.
    public mutating func restart(keepSEI: Set<UInt32>) {
        self.keepSEI = keepSEI
        self.run = nil
        self.latm = LATMPayloadCheck()
        self.metadata = MetadataDocumentRun()
        self.waitingForParameterSets = false
    }

    /// A parameter set from outside the stream (the SDP): checked as an in-band one, learnt when it passes.
    public mutating func learn(_ nal: ByteBuffer) -> Bool {
        let end = nal.readerIndex + nal.readableBytes
        guard case .parameterSet = self.unit(nal, start: nal.readerIndex, end: end, h265: self.format == .h265)
        else { return false }
        return true
    }

    /// `payload` is the RTP payload proper (after CSRCs and extension, before padding).
    public mutating func check(
        _ payload: ByteBuffer,
        sequence: UInt16,
        timestamp: UInt32,
        marker: Bool = false
    ) -> Verdict {
        switch self.format {
        case .h264: return self.video(payload, sequence: sequence, timestamp: timestamp, h265: false)
        case .h265: return self.video(payload, sequence: sequence, timestamp: timestamp, h265: true)
        case .aac(let layout): return Verdict(action: AACPayloadCheck.check(payload, layout: layout))
        case .latm:
            return Verdict(action: self.latm.check(payload, sequence: sequence, timestamp: timestamp, marker: marker))
        case .onvifMetadata:
            return self.metadata.check(payloadLength: payload.readableBytes, sequence: sequence, marker: marker)
        case .g711, .unchecked: return Verdict(action: .forward)
        }
    }

    // MARK: Video

    enum Unit {
        case keep
        case strip
        case parameterSet(isSequenceLevel: Bool)
        case bad(RTPDropReason)
    }

    private mutating func video(_ p: ByteBuffer, sequence: UInt16, timestamp: UInt32, h265: Bool) -> Verdict {
        let base = p.readerIndex
        let headerLength = h265 ? 2 : 1
        guard p.readableBytes >= headerLength, let first = p.getInteger(at: base, as: UInt8.self) else {
            return self.refuse(.badNALHeader)
        }
        let type = h265 ? (first >> 1) & 0x3F : first & 0x1F
        guard Self.headerIsValid(p, at: base, h265: h265) else { return self.refuse(.badNALHeader) }
        if type == (h265 ? 49 : 28) {
            return self.fragment(p, sequence: sequence, timestamp: timestamp, h265: h265)
        }
        // Anything but a fragment ends an open run, which then never ends: drop it.
        let discard = self.run != nil
        self.run = nil
        var verdict: Verdict
        if type == (h265 ? 48 : 24) {
            verdict = self.aggregation(p, h265: h265)
        } else {
            switch self.unit(p, start: base, end: base + p.readableBytes, h265: h265) {
            case .keep:
                verdict = Verdict(action: self.waitingForParameterSets ? .drop(.waitingForParameterSet) : .forward)
            case .strip: verdict = Verdict(action: .drop(.sei))
            case .parameterSet(let sequenceLevel):
                if sequenceLevel { self.waitingForParameterSets = false }
                verdict = Verdict(action: self.waitingForParameterSets ? .drop(.waitingForParameterSet) : .forward)
            case .bad(let reason):
                if reason == .badParameterSet { self.waitingForParameterSets = true }
                verdict = Verdict(action: .drop(reason))
            }
        }
        verdict.discardHeld = discard || verdict.discardHeld
        return verdict
    }

    private mutating func refuse(_ reason: RTPDropReason) -> Verdict {
        let discard = self.run != nil
        self.run = nil
        return Verdict(action: .drop(reason), discardHeld: discard)
    }

    /// Forbidden bit clear; for H.265 also layer 0 (cameras are single-layer) and a temporal id present.
    static func headerIsValid(_ p: ByteBuffer, at offset: Int, h265: Bool) -> Bool {
        guard let first = p.getInteger(at: offset, as: UInt8.self), first & 0x80 == 0 else { return false }
        guard h265 else { return true }
        guard let second = p.getInteger(at: offset + 1, as: UInt8.self) else { return false }
        return first & 1 == 0 && second & 0xF8 == 0 && second & 7 != 0
    }

    /// One NAL unit at `start..<end` (header included), not an aggregation or fragment.
    private mutating func unit(_ p: ByteBuffer, start: Int, end: Int, h265: Bool) -> Unit {
        guard Self.headerIsValid(p, at: start, h265: h265), let first = p.getInteger(at: start, as: UInt8.self)
        else { return .bad(.badNALHeader) }
        guard StartCodeEmulation.isClean(p, start: start, end: end) else { return .bad(.startCodeInNAL) }
        if h265 {
            let type = (first >> 1) & 0x3F
            let temporalIDZero = (p.getInteger(at: start + 1, as: UInt8.self) ?? 0) & 7 == 1
            switch type {
            case 0...9, 35...38: return .keep
            case 16...21: return temporalIDZero ? .keep : .bad(.badNALHeader)
            case 39, 40: return self.sei(p, start: start + 2, end: end) ? .keep : .strip
            case 32:
                guard temporalIDZero, let id = H265ParameterSets.vps(p, start: start, end: end) else {
                    return .bad(.badParameterSet)
                }
                self.h265VPS |= 1 << UInt16(id)
                return .parameterSet(isSequenceLevel: true)
            case 33:
                guard temporalIDZero, let info = H265ParameterSets.sps(p, start: start, end: end),
                    self.h265VPS & (1 << UInt16(info.vps)) != 0
                else { return .bad(.badParameterSet) }
                self.h265SPS |= 1 << UInt16(info.id)
                return .parameterSet(isSequenceLevel: true)
            case 34:
                let known = self.h265SPS
                let pps = H265ParameterSets.pps(p, start: start, end: end) { id in
                    known & (1 << UInt16(id)) != 0 ? .init(id: id, vps: 0, width: 8192, height: 8192) : nil
                }
                return pps == nil ? .bad(.badParameterSet) : .parameterSet(isSequenceLevel: false)
            default: return .bad(.badNALHeader)
            }
        }
        switch first & 0x1F {
        case 1, 5, 9, 10, 11, 12: return .keep
        case 6: return self.sei(p, start: start + 1, end: end) ? .keep : .strip
        case 7:
            guard let info = H264ParameterSets.sps(p, start: start, end: end) else { return .bad(.badParameterSet) }
            self.h264SPS |= 1 << UInt32(info.id)
            if info.chromaFormat == 3 {
                self.h264SPS444 |= 1 << UInt32(info.id)
            } else {
                self.h264SPS444 &= ~(1 << UInt32(info.id))
            }
            return .parameterSet(isSequenceLevel: true)
        case 8:
            let known = self.h264SPS
            let chroma444 = self.h264SPS444
            let pps = H264ParameterSets.pps(p, start: start, end: end) { id in
                known & (1 << UInt32(id)) == 0
                    ? nil
                    : .init(id: id, chromaFormat: chroma444 & (1 << UInt32(id)) != 0 ? 3 : 1, width: 8192, height: 8192)
            }
            return pps == nil ? .bad(.badParameterSet) : .parameterSet(isSequenceLevel: false)
        default: return .bad(.badNALHeader)
        }
    }

    /// Whether an SEI NAL may stay: every message's payload type in `keepSEI`, sizes inside the NAL.
    private func sei(_ p: ByteBuffer, start: Int, end: Int) -> Bool {
        guard !self.keepSEI.isEmpty, end - start <= Self.maxKeptSEIBytes else { return false }
        var r = RBSPReader(p, start: start, end: end)
        repeat {
            var type: UInt32 = 0
            var size = 0
            while let byte = r.bits(8) {
                type += byte
                if byte != 0xFF { break }
            }
            while let byte = r.bits(8) {
                size += Int(byte)
                if byte != 0xFF { break }
            }
            guard self.keepSEI.contains(type), r.skip(8 * size) else { return false }
        } while r.moreData()
        return r.endsWithTrailingBits()
    }

    /// STAP-A / AP: sizes that add up to the packet exactly, every unit checked.
    private mutating func aggregation(_ p: ByteBuffer, h265: Bool) -> Verdict {
        let end = p.readerIndex + p.readableBytes
        let minimum = h265 ? 2 : 1
        // First the structure alone, so that nothing is learnt from a packet that is then refused.
        var offset = p.readerIndex + minimum
        var units = 0
        while offset < end {
            guard let size = p.getInteger(at: offset, as: UInt16.self), Int(size) >= minimum,
                offset + 2 + Int(size) <= end, units < 64
            else { return Verdict(action: .drop(.badAggregation)) }
            offset += 2 + Int(size)
            units += 1
        }
        guard units > 0, offset == end else { return Verdict(action: .drop(.badAggregation)) }
        var strip: UInt64 = 0
        var sequenceLevel = false
        let learnt = (self.h264SPS, self.h264SPS444, self.h265VPS, self.h265SPS)
        offset = p.readerIndex + minimum
        for index in 0..<units {
            let size = Int(p.getInteger(at: offset, as: UInt16.self) ?? 0)
            let nal = offset + 2
            if let type = p.getInteger(at: nal, as: UInt8.self),
                h265 ? (type >> 1) & 0x3F >= 48 : (type & 0x1F) >= 24
            {
                (self.h264SPS, self.h264SPS444, self.h265VPS, self.h265SPS) = learnt
                return Verdict(action: .drop(.badAggregation))
            }
            switch self.unit(p, start: nal, end: nal + size, h265: h265) {
            case .keep: break
            case .strip: strip |= 1 << UInt64(index)
            case .parameterSet(let level): sequenceLevel = sequenceLevel || level
            case .bad(let reason):
                // Nothing is learnt from a packet that is refused.
                (self.h264SPS, self.h264SPS444, self.h265VPS, self.h265SPS) = learnt
                if reason == .badParameterSet { self.waitingForParameterSets = true }
                return Verdict(action: .drop(reason))
            }
            offset = nal + size
        }
        if sequenceLevel { self.waitingForParameterSets = false }
        if self.waitingForParameterSets { return Verdict(action: .drop(.waitingForParameterSet)) }
        if strip == 0 { return Verdict(action: .forward) }
        return Verdict(
            action: strip == (units == 64 ? UInt64.max : (1 << UInt64(units)) - 1) ? .drop(.sei) : .strip(strip)
        )
    }

    /// FU-A / FU: one run per NAL, of slices only, in sequence, on one timestamp, ending.
    private mutating func fragment(_ p: ByteBuffer, sequence: UInt16, timestamp: UInt32, h265: Bool) -> Verdict {
        let headerOffset = p.readerIndex + (h265 ? 2 : 1)
        guard p.readableBytes > (h265 ? 3 : 2), let header = p.getInteger(at: headerOffset, as: UInt8.self) else {
            return self.refuse(.badFragmentation)
        }
        let start = header & 0x80 != 0
        let end = header & 0x40 != 0
        let type = h265 ? header & 0x3F : header & 0x1F
        let isSlice = h265 ? (0...9).contains(type) || (16...21).contains(type) : type == 1 || type == 5
        let isSEI = h265 ? type == 39 || type == 40 : type == 6
        guard !(start && end), isSlice || isSEI else { return self.refuse(.badFragmentation) }
        // An IRAP picture has temporal id 0 (H.265 §7.4.2.2), fragmented or not.
        if h265, (16...21).contains(type), (p.getInteger(at: p.readerIndex + 1, as: UInt8.self) ?? 0) & 7 != 1 {
            return self.refuse(.badNALHeader)
        }
        if self.waitingForParameterSets { return self.refuse(.waitingForParameterSet) }
        if isSEI { return self.refuse(.sei) }
        let data = headerOffset + 1
        let dataEnd = p.readerIndex + p.readableBytes
        if start {
            let discard = self.run != nil
            var zeros = 0
            guard StartCodeEmulation.isClean(p, start: data, end: dataEnd, zeros: &zeros) else {
                self.run = nil
                return Verdict(action: .drop(.startCodeInNAL), discardHeld: discard)
            }
            self.run = Run(
                type: type,
                timestamp: timestamp,
                nextSequence: sequence &+ 1,
                packets: 1,
                bytes: p.readableBytes,
                zeros: zeros
            )
            return Verdict(action: .hold, discardHeld: discard)
        }
        guard var run = self.run, run.type == type, run.timestamp == timestamp, run.nextSequence == sequence,
            run.packets < Self.maxRunPackets, run.bytes + p.readableBytes <= Self.maxRunBytes
        else { return self.refuse(.badFragmentation) }
        let clean =
            end
            ? StartCodeEmulation.isClean(p, start: data, end: dataEnd, endingWith: run.zeros)
            : StartCodeEmulation.isClean(p, start: data, end: dataEnd, zeros: &run.zeros)
        guard clean else { return self.refuse(.startCodeInNAL) }
        if end {
            self.run = nil
            return Verdict(action: .forward)
        }
        run.nextSequence &+= 1
        run.packets += 1
        run.bytes += p.readableBytes
        self.run = run
        return Verdict(action: .hold)
    }
}

/// RFC 3640 §3.2: the AU-header section read whole, its length exactly what it says, and the AU sizes adding up
/// to the data after it (or one AU larger than the packet: a fragment).
enum AACPayloadCheck {
    static func check(_ p: ByteBuffer, layout: AUHeaderLayout) -> PayloadGuard.Action {
        let base = p.readerIndex
        guard let bits = p.getInteger(at: base, as: UInt16.self), bits > 0 else { return .drop(.badAUHeader) }
        let headerBytes = (Int(bits) + 7) / 8
        guard 2 + headerBytes <= p.readableBytes else { return .drop(.badAUHeader) }
        var r = RBSPReader(p, start: base + 2, end: base + 2 + headerBytes, escaped: false)
        var total = 0
        var count = 0
        var largest = 0
        while r.consumed < Int(bits) {
            guard let size = r.bits(layout.sizeLength),
                r.skip(count == 0 ? layout.indexLength : layout.indexDeltaLength)
            else { return .drop(.badAUHeader) }
            if layout.ctsDeltaLength > 0 {
                guard let present = r.flag(), !present || r.skip(layout.ctsDeltaLength) else {
                    return .drop(.badAUHeader)
                }
            }
            if layout.dtsDeltaLength > 0 {
                guard let present = r.flag(), !present || r.skip(layout.dtsDeltaLength) else {
                    return .drop(.badAUHeader)
                }
            }
            guard !layout.randomAccessIndication || r.skip(1), r.skip(layout.streamStateIndication) else {
                return .drop(.badAUHeader)
            }
            total += Int(size)
            largest = max(largest, Int(size))
            count += 1
        }
        guard r.consumed == Int(bits) else { return .drop(.badAUHeader) }
        let data = p.readableBytes - 2 - headerBytes
        if total == data || (count == 1 && largest > data) { return .forward }
        return .drop(.badAUHeader)
    }
}

/// RFC 6416 with `cpresent=0`: each audioMuxElement is PayloadLengthInfo (a run of 0xFF bytes and one below) and
/// that many bytes, element after element, and the packet with the marker ends on an element's last byte; an
/// element larger than the packet continues in the next packets of its timestamp (fragments carry no header).
/// FFmpeg's `rtpdec_latm` joins the packets of one timestamp up to the marker and reads the same chain, so the
/// check reads it the same way: a length run may continue in the next packet, and once a packet of a timestamp is
/// dropped (or lost: a gap), the rest of that timestamp is dropped too, so the reader never joins bytes into
/// elements the check did not see.
struct LATMPayloadCheck {
    /// Where the chain stands after the last packet: bytes of an element still to come, or a length run that
    /// continues (`length`, with `inLength`).
    var remaining = 0
    var length = 0
    var inLength = false
    var nextSequence: UInt16 = 0
    var timestamp: UInt32 = 0
    /// A timestamp whose remaining packets are dropped.
    var refused: UInt32?
    /// An AAC frame of 8 channels is at most 6144 bytes.
    static let maxElementBytes = 8192

    mutating func check(_ p: ByteBuffer, sequence: UInt16, timestamp: UInt32, marker: Bool) -> PayloadGuard.Action {
        // The reader never got this timestamp's end (the marker packet may be the one dropped): it would join
        // whatever else comes with it, so everything with it goes until another timestamp.
        if let refused = self.refused, refused == timestamp { return .drop(.badAUHeader) }
        self.refused = nil
        let continues = self.remaining > 0 || self.inLength
        if continues, self.timestamp == timestamp, self.nextSequence != sequence {
            return self.refuse(timestamp: timestamp, marker: marker)
        }
        if !continues || self.timestamp != timestamp {
            // A new timestamp starts a new chain, as FFmpeg starts a new buffer.
            (self.remaining, self.length, self.inLength) = (0, 0, false)
        }
        var offset = p.readerIndex
        let end = p.readerIndex + p.readableBytes
        guard offset < end else { return self.refuse(timestamp: timestamp, marker: marker) }
        while offset < end {
            if self.remaining == 0 {
                if !self.inLength { (self.length, self.inLength) = (0, true) }
                while offset < end, self.inLength, let byte = p.getInteger(at: offset, as: UInt8.self) {
                    offset += 1
                    self.length += Int(byte)
                    if byte != 0xFF { self.inLength = false }
                }
                guard self.length <= Self.maxElementBytes else {
                    return self.refuse(timestamp: timestamp, marker: marker)
                }
                if self.inLength { break }
                self.remaining = self.length
            }
            let take = min(self.remaining, end - offset)
            offset += take
            self.remaining -= take
        }
        if marker {
            guard self.remaining == 0, !self.inLength else { return self.refuse(timestamp: timestamp, marker: true) }
        }
        self.nextSequence = sequence &+ 1
        self.timestamp = timestamp
        return .forward
    }

    private mutating func refuse(timestamp: UInt32, marker: Bool) -> PayloadGuard.Action {
        (self.remaining, self.length, self.inLength) = (0, 0, false)
        self.refused = timestamp
        return .drop(.badAUHeader)
    }
}
