import NIOCore

/// RTP and RTCP packet writing for the simulator (RFC 3550).
enum RTPWriter {
    /// The fixed 12-byte RTP header (§5.1): V=2, no padding, no extension, no CSRC.
    static func writeHeader(
        into buffer: inout ByteBuffer,
        marker: Bool,
        payloadType: UInt8,
        sequence: UInt16,
        timestamp: UInt32,
        ssrc: UInt32
    ) {
        buffer.writeMultipleIntegers(
            UInt8(0x80),
            (marker ? 0x80 : 0) | payloadType,
            sequence,
            timestamp,
            ssrc
        )
    }

    /// A compound RTCP packet: a sender report (§6.4.1) with no report blocks, then SDES with a CNAME (§6.5), as
    /// §6.1 requires of every compound packet.
    static func writeSenderReport(
        into buffer: inout ByteBuffer,
        ssrc: UInt32,
        ntpTime: UInt64,
        rtpTime: UInt32,
        packetCount: UInt32,
        octetCount: UInt32,
        cname: String
    ) {
        buffer.writeMultipleIntegers(
            UInt8(0x80),
            UInt8(200),
            UInt16(6),
            ssrc,
            ntpTime,
            rtpTime,
            packetCount,
            octetCount
        )
        let cnameBytes = Array(cname.utf8.prefix(255))
        let itemLength = 2 + cnameBytes.count + 1  // type, length, text, end-of-list
        let chunkLength = 4 + itemLength
        let padded = (chunkLength + 3) / 4 * 4
        buffer.writeMultipleIntegers(UInt8(0x81), UInt8(202), UInt16(padded / 4), ssrc)
        buffer.writeMultipleIntegers(UInt8(1), UInt8(cnameBytes.count))
        buffer.writeBytes(cnameBytes)
        buffer.writeRepeatingByte(0, count: padded - chunkLength + 1)
    }

    /// NTP timestamp (§4): seconds since 1900 in the high 32 bits, fraction in the low 32.
    static func ntpTimestamp(unixNanoseconds: Int64) -> UInt64 {
        let seconds = UInt64(unixNanoseconds / 1_000_000_000) + 2_208_988_800
        let fraction = (UInt64(unixNanoseconds % 1_000_000_000) << 32) / 1_000_000_000
        return seconds << 32 | fraction
    }
}
