import NIOCore

/// An AAC stream in ADTS frames (ISO/IEC 14496-3 §1.A.2), as ffmpeg writes it: the raw access units and the
/// AudioSpecificConfig an SDP `config=` carries.
struct ADTSStream {
    var frames: [ByteBuffer] = []
    var sampleRate = 0
    var channels = 0
    var audioSpecificConfigHex = ""

    private static let sampleRates = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ]

    init(_ stream: ByteBuffer) throws {
        var rest = stream
        var config: (objectType: UInt8, rateIndex: UInt8, channels: UInt8)?
        while rest.readableBytes >= 7 {
            let header = Array(rest.getBytes(at: rest.readerIndex, length: 7)!)
            guard header[0] == 0xFF, header[1] & 0xF0 == 0xF0 else {
                throw H264Clip.ClipError(message: "ADTS sync word missing at byte \(rest.readerIndex)")
            }
            let protectionAbsent = header[1] & 0x01 == 1
            let objectType = (header[2] >> 6) + 1
            let rateIndex = (header[2] >> 2) & 0x0F
            let channels = ((header[2] & 0x01) << 2) | (header[3] >> 6)
            let frameLength = (Int(header[3] & 0x03) << 11) | (Int(header[4]) << 3) | Int(header[5] >> 5)
            let headerLength = protectionAbsent ? 7 : 9
            guard frameLength > headerLength, frameLength <= rest.readableBytes, Int(rateIndex) < Self.sampleRates.count
            else { throw H264Clip.ClipError(message: "bad ADTS frame at byte \(rest.readerIndex)") }
            config = config ?? (objectType, rateIndex, channels)
            let frame = rest.readSlice(length: frameLength)!
            self.frames.append(
                frame.getSlice(at: frame.readerIndex + headerLength, length: frameLength - headerLength)!
            )
        }
        guard let config, !self.frames.isEmpty else { throw H264Clip.ClipError(message: "no ADTS frames") }
        self.sampleRate = Self.sampleRates[Int(config.rateIndex)]
        self.channels = Int(config.channels)
        // AudioSpecificConfig (§1.6.2.1): objectType 5 bits, samplingFrequencyIndex 4, channelConfiguration 4, 3 zero.
        let value = UInt16(config.objectType) << 11 | UInt16(config.rateIndex) << 7 | UInt16(config.channels) << 3
        self.audioSpecificConfigHex = String(format: "%04X", value)
    }
}

/// RFC 3640 AAC-hbr (§3.3.6): a 16-bit AU-headers-length, one AU-header (13-bit size, 3-bit index 0), the AU.
enum AACPacketizer {
    static func payload(for accessUnit: ByteBuffer) -> RTPPayload {
        var bytes = ByteBuffer()
        bytes.writeMultipleIntegers(UInt16(16), UInt16(accessUnit.readableBytes << 3))
        bytes.writeImmutableBuffer(accessUnit)
        return RTPPayload(bytes: bytes, marker: true)
    }
}
