import NIOCore

/// RTP payloads for H.264 per RFC 6184 in non-interleaved mode (packetization-mode=1): SPS and PPS aggregated
/// into one STAP-A (§5.7.1), NAL units that fit sent as single NAL unit packets (§5.6), larger ones split into
/// FU-A fragments (§5.8).
struct H264Packetizer {
    var maxPayloadSize = 1400

    func packetize(_ unit: H264AccessUnit) -> [RTPPayload] {
        var payloads: [ByteBuffer] = []
        var nals = unit.nalUnits[...]
        let parameterSets = nals.prefix { [7, 8].contains(Self.type($0)) }
        if parameterSets.count >= 2 {
            var stap = ByteBuffer()
            let nri = parameterSets.map { $0.getInteger(at: $0.readerIndex, as: UInt8.self)! & 0x60 }.max()!
            stap.writeInteger(nri | 24)
            for ps in parameterSets {
                stap.writeInteger(UInt16(ps.readableBytes))
                stap.writeImmutableBuffer(ps)
            }
            if stap.readableBytes <= self.maxPayloadSize {
                payloads.append(stap)
                nals = nals.dropFirst(parameterSets.count)
            }
        }
        for nal in nals {
            if nal.readableBytes <= self.maxPayloadSize {
                payloads.append(nal)
                continue
            }
            let header = nal.getInteger(at: nal.readerIndex, as: UInt8.self)!
            let indicator = (header & 0xE0) | 28
            var rest = nal.getSlice(at: nal.readerIndex + 1, length: nal.readableBytes - 1)!
            var first = true
            while rest.readableBytes > 0 {
                let size = min(rest.readableBytes, self.maxPayloadSize - 2)
                let chunk = rest.readSlice(length: size)!
                var fu = ByteBuffer()
                let fuHeader = (first ? 0x80 : 0) | (rest.readableBytes == 0 ? 0x40 : 0) | (header & 0x1F)
                fu.writeMultipleIntegers(indicator, UInt8(fuHeader))
                fu.writeImmutableBuffer(chunk)
                payloads.append(fu)
                first = false
            }
        }
        return payloads.enumerated().map { RTPPayload(bytes: $0.element, marker: $0.offset == payloads.count - 1) }
    }

    static func type(_ nal: ByteBuffer) -> UInt8 {
        (nal.getInteger(at: nal.readerIndex, as: UInt8.self) ?? 0) & 0x1F
    }
}
