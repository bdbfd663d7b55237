import NIOCore

/// One H.264 access unit (a picture and the parameter sets and SEI before it), as NAL units without start codes.
struct H264AccessUnit: Sendable {
    var nalUnits: [ByteBuffer]
    /// Holds an IDR slice (nal_unit_type 5).
    var isKeyframe: Bool
}

/// Splits an H.264 Annex B byte stream (ITU-T H.264 Annex B) into NAL units and groups them into access units
/// (§7.4.1.2.3): a new picture starts at the first VCL NAL whose `first_mb_in_slice` is 0, and the non-VCL NAL
/// units before it (SPS, PPS, SEI, AUD) belong to it.
enum H264AnnexB {
    static func nalUnits(in stream: ByteBuffer) -> [ByteBuffer] {
        let bytes = stream.readableBytesView
        var starts: [(codeStart: Int, payloadStart: Int)] = []
        var index = bytes.startIndex
        while index + 3 <= bytes.endIndex {
            if bytes[index] == 0, bytes[index + 1] == 0 {
                if bytes[index + 2] == 1 {
                    starts.append((index, index + 3))
                    index += 3
                    continue
                }
                if index + 4 <= bytes.endIndex, bytes[index + 2] == 0, bytes[index + 3] == 1 {
                    starts.append((index, index + 4))
                    index += 4
                    continue
                }
            }
            index += 1
        }
        var units: [ByteBuffer] = []
        for (n, start) in starts.enumerated() {
            var end = n + 1 < starts.count ? starts[n + 1].codeStart : bytes.endIndex
            while end > start.payloadStart, bytes[end - 1] == 0 { end -= 1 }  // trailing_zero_8bits
            guard end > start.payloadStart else { continue }
            units.append(stream.getSlice(at: start.payloadStart, length: end - start.payloadStart)!)
        }
        return units
    }

    static func accessUnits(in stream: ByteBuffer) -> [H264AccessUnit] {
        var units: [H264AccessUnit] = []
        var pending: [ByteBuffer] = []
        var current: H264AccessUnit?
        for nal in self.nalUnits(in: stream) {
            let header = nal.getInteger(at: nal.readerIndex, as: UInt8.self)!
            let type = header & 0x1F
            let isVCL = type >= 1 && type <= 5
            if isVCL {
                // first_mb_in_slice is ue(v); its value is 0 exactly when the first bit is 1.
                let firstSliceByte = nal.getInteger(at: nal.readerIndex + 1, as: UInt8.self) ?? 0
                if firstSliceByte & 0x80 != 0 || current == nil {
                    if let finished = current { units.append(finished) }
                    current = H264AccessUnit(nalUnits: pending, isKeyframe: false)
                    pending = []
                }
                current!.nalUnits.append(nal)
                if type == 5 { current!.isKeyframe = true }
            } else {
                pending.append(nal)
            }
        }
        if var last = current {
            last.nalUnits += pending
            units.append(last)
        }
        return units
    }
}
