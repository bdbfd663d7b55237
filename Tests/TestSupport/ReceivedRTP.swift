import RTSPRelay

/// The fixed-header fields of an RTP packet as a reader received it on an even interleaved channel, and its first
/// two payload bytes (NAL unit header and FU header).
public struct ReceivedRTP: Equatable, Sendable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    public var firstPayloadByte: UInt8
    public var secondPayloadByte: UInt8

    public init?(_ frame: InterleavedFrame) {
        let p = frame.payload
        guard frame.channel % 2 == 0, p.readableBytes >= 14,
            let (b0, b1, sequence, timestamp, ssrc) = p.getMultipleIntegers(
                at: p.readerIndex,
                as: (UInt8, UInt8, UInt16, UInt32, UInt32).self
            ),
            b0 >> 6 == 2
        else { return nil }
        self.marker = b1 & 0x80 != 0
        self.payloadType = b1 & 0x7F
        self.sequence = sequence
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.firstPayloadByte = p.getInteger(at: p.readerIndex + 12)!
        self.secondPayloadByte = p.getInteger(at: p.readerIndex + 13)!
    }
}
