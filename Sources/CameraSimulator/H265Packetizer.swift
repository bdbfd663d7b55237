import NIOCore

/// One H.265 access unit, as NAL units without start codes.
struct H265AccessUnit: Sendable {
    var nalUnits: [ByteBuffer]
    /// Holds an IRAP picture (nal_unit_type 16–21).
    var isKeyframe: Bool
}

/// Groups an H.265 Annex B stream into access units (ITU-T H.265 §7.4.2.4.4): a picture starts at a VCL NAL unit
/// with `first_slice_segment_in_pic_flag` set, and the parameter sets, AUD and prefix SEI before it belong to it.
enum H265AnnexB {
    static func type(_ nal: ByteBuffer) -> UInt8 {
        ((nal.getInteger(at: nal.readerIndex, as: UInt8.self) ?? 0) >> 1) & 0x3F
    }

    static func accessUnits(in stream: ByteBuffer) -> [H265AccessUnit] {
        var units: [H265AccessUnit] = []
        var pending: [ByteBuffer] = []
        var current: H265AccessUnit?
        for nal in H264AnnexB.nalUnits(in: stream) where nal.readableBytes > 2 {
            let type = Self.type(nal)
            guard type < 32 else {
                pending.append(nal)
                continue
            }
            let firstSliceInPicture = (nal.getInteger(at: nal.readerIndex + 2, as: UInt8.self) ?? 0) & 0x80 != 0
            if firstSliceInPicture || current == nil {
                if let finished = current { units.append(finished) }
                current = H265AccessUnit(nalUnits: pending, isKeyframe: false)
                pending = []
            }
            current!.nalUnits.append(nal)
            if (16...21).contains(type) { current!.isKeyframe = true }
        }
        if var last = current {
            last.nalUnits += pending
            units.append(last)
        }
        return units
    }
}

/// RTP payloads for H.265 per RFC 7798 without DONL (sprop-max-don-diff=0): NAL units that fit are single NAL
/// unit packets (§4.4.1), larger ones fragmentation units (§4.4.3). No aggregation: cameras send parameter sets
/// in packets of their own, and the relay must handle both.
struct H265Packetizer {
    var maxPayloadSize = 1400

    func packetize(_ nals: [ByteBuffer]) -> [RTPPayload] {
        var payloads: [ByteBuffer] = []
        for nal in nals {
            if nal.readableBytes <= self.maxPayloadSize {
                payloads.append(nal)
                continue
            }
            let (first, second) = nal.getMultipleIntegers(at: nal.readerIndex, as: (UInt8, UInt8).self)!
            let type = (first >> 1) & 0x3F
            // PayloadHdr: F and LayerId kept, type 49; then the FU header (S, E, FuType).
            let payloadHeader = ((first & 0x81) | (49 << 1), second)
            var rest = nal.getSlice(at: nal.readerIndex + 2, length: nal.readableBytes - 2)!
            var isFirst = true
            while rest.readableBytes > 0 {
                let chunk = rest.readSlice(length: min(rest.readableBytes, self.maxPayloadSize - 3))!
                var fu = ByteBuffer()
                let fuHeader = (isFirst ? 0x80 : 0) | (rest.readableBytes == 0 ? 0x40 : 0) | type
                fu.writeMultipleIntegers(payloadHeader.0, payloadHeader.1, UInt8(fuHeader))
                fu.writeImmutableBuffer(chunk)
                payloads.append(fu)
                isFirst = false
            }
        }
        return payloads.enumerated().map { RTPPayload(bytes: $0.element, marker: $0.offset == payloads.count - 1) }
    }
}
