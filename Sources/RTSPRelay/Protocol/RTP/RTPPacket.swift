import NIOCore

/// The fixed header of an RTP packet (RFC 3550 §5.1), read after the checks a relay must make before forwarding
/// a packet from an untrusted camera.
public struct RTPHeader: Hashable, Sendable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    /// 12 bytes plus CSRCs plus the header extension.
    public var headerLength: Int
    /// Payload bytes, without padding.
    public var payloadLength: Int
}

/// Why a packet was dropped; each reason is counted separately.
public enum RTPDropReason: String, Error, Hashable, Sendable, CaseIterable {
    case tooShort = "too_short"
    case badVersion = "bad_version"
    case badExtension = "bad_extension"
    case badPadding = "bad_padding"
    case unexpectedPayloadType = "unexpected_payload_type"
    case tooLarge = "too_large"
    case unknownChannel = "unknown_channel"
    case badRTCP = "bad_rtcp"
    /// A sender report sooner than the rate limit allows (an RTCP flood is not passed on to readers).
    case rtcpRateLimited = "rtcp_rate_limited"
    /// A packet from an SSRC other than the locked one (see ``SourceLock``).
    case ssrcMismatch = "ssrc_mismatch"
    /// Backchannel audio over the rate limit, or the camera connection not taking more.
    case rateLimited = "rate_limited"
    // Payload checks (PayloadGuard, issue 17).
    /// A payload type whose format the gateway does not check, and the camera's config does not allow.
    case uncheckedCodec = "unchecked_codec"
    /// Forbidden bit, a NAL type no camera needs, an H.265 layer or temporal id out of range.
    case badNALHeader = "bad_nal_header"
    /// STAP-A / AP sizes that do not add up to the packet, or an aggregate inside an aggregate.
    case badAggregation = "bad_aggregation"
    /// A fragment run that broke, a fragmented parameter set, start and end in one fragment.
    case badFragmentation = "bad_fragmentation"
    case badParameterSet = "bad_parameter_set"
    /// After a bad parameter set, until a valid one arrives.
    case waitingForParameterSet = "waiting_for_parameter_set"
    /// SEI dropped by policy (`keep_sei`).
    case sei = "sei"
    /// An AAC AU-header section that does not match the packet (RFC 3640).
    case badAUHeader = "bad_au_header"
    /// 00 00 00/01/02 inside a NAL unit, or a NAL ending in 00: a depacketizer would start another NAL there.
    case startCodeInNAL = "start_code_in_nal"
    /// An ONVIF metadata document that broke off, was too large, or did not parse as a `tt:MetadataStream`.
    case badMetadata = "bad_metadata"
}

public enum RTPCheck {
    /// Checks an RTP packet: version 2, length ≥ 12 + CSRCs + extension + padding, a payload type the SDP
    /// announced, and at most `maxSize` bytes.
    public static func validate(
        _ packet: ByteBuffer,
        allowedPayloadTypes: PayloadTypeSet,
        maxSize: Int
    ) -> Result<RTPHeader, RTPDropReason> {
        let length = packet.readableBytes
        guard length <= maxSize else { return .failure(.tooLarge) }
        guard length >= 12,
            let (b0, b1, sequence, timestamp, ssrc) = packet.getMultipleIntegers(
                at: packet.readerIndex,
                as: (UInt8, UInt8, UInt16, UInt32, UInt32).self
            )
        else { return .failure(.tooShort) }
        guard b0 >> 6 == 2 else { return .failure(.badVersion) }
        var headerLength = 12 + Int(b0 & 0x0F) * 4
        guard headerLength <= length else { return .failure(.tooShort) }
        if b0 & 0x10 != 0 {
            guard headerLength + 4 <= length,
                let words = packet.getInteger(at: packet.readerIndex + headerLength + 2, as: UInt16.self)
            else { return .failure(.badExtension) }
            headerLength += 4 + Int(words) * 4
            guard headerLength <= length else { return .failure(.badExtension) }
        }
        var padding = 0
        if b0 & 0x20 != 0 {
            padding = Int(packet.getInteger(at: packet.readerIndex + length - 1, as: UInt8.self) ?? 0)
            guard padding > 0, headerLength + padding <= length else { return .failure(.badPadding) }
        }
        let payloadType = b1 & 0x7F
        guard allowedPayloadTypes.contains(payloadType) else { return .failure(.unexpectedPayloadType) }
        return .success(
            RTPHeader(
                marker: b1 & 0x80 != 0,
                payloadType: payloadType,
                sequence: sequence,
                timestamp: timestamp,
                ssrc: ssrc,
                headerLength: headerLength,
                payloadLength: length - headerLength - padding
            )
        )
    }

    /// Checks a compound RTCP packet (RFC 3550 §6.1): every part version 2 with a length that fits, packet
    /// types 192–223 (the RTCP range, which keeps RTP/RTCP demultiplexing unambiguous, RFC 5761 §4), and at
    /// most `maxSize` bytes. Returns the sender report, if the compound holds one.
    public static func validateRTCP(_ packet: ByteBuffer, maxSize: Int) -> Result<RTCPSenderReport?, RTPDropReason> {
        guard packet.readableBytes <= maxSize else { return .failure(.tooLarge) }
        guard packet.readableBytes >= 4 else { return .failure(.badRTCP) }
        var offset = packet.readerIndex
        let end = packet.writerIndex
        var report: RTCPSenderReport?
        var parts = 0
        while offset < end {
            guard end - offset >= 4,
                let (b0, type, words) = packet.getMultipleIntegers(at: offset, as: (UInt8, UInt8, UInt16).self),
                b0 >> 6 == 2, (192...223).contains(type)
            else { return .failure(.badRTCP) }
            let partLength = (Int(words) + 1) * 4
            guard offset + partLength <= end else { return .failure(.badRTCP) }
            if type == 200, report == nil, partLength >= 28,
                let (ssrc, ntp, rtpTime, packets, octets) = packet.getMultipleIntegers(
                    at: offset + 4,
                    as: (UInt32, UInt64, UInt32, UInt32, UInt32).self
                )
            {
                report = RTCPSenderReport(
                    ssrc: ssrc,
                    ntpTime: ntp,
                    rtpTime: rtpTime,
                    packetCount: packets,
                    octetCount: octets
                )
            }
            offset += partLength
            parts += 1
            guard parts <= 16 else { return .failure(.badRTCP) }
        }
        return .success(report)
    }
}

/// A set of RTP payload types (0–127) as a 128-bit mask: `contains` is two shifts, no allocation.
public struct PayloadTypeSet: Hashable, Sendable {
    var low: UInt64 = 0
    var high: UInt64 = 0

    public init() {}

    public init(_ types: some Sequence<UInt8>) {
        for type in types { self.insert(type) }
    }

    public mutating func insert(_ type: UInt8) {
        guard type < 128 else { return }
        if type < 64 { self.low |= 1 << UInt64(type) } else { self.high |= 1 << UInt64(type - 64) }
    }

    public func contains(_ type: UInt8) -> Bool {
        type < 64 ? (self.low >> UInt64(type)) & 1 == 1 : type < 128 && (self.high >> UInt64(type - 64)) & 1 == 1
    }
}

/// The fields of an RTCP sender report (RFC 3550 §6.4.1) a relay needs to map RTP time to wall-clock time.
public struct RTCPSenderReport: Hashable, Sendable {
    public var ssrc: UInt32
    public var ntpTime: UInt64
    public var rtpTime: UInt32
    public var packetCount: UInt32
    public var octetCount: UInt32

    public init(ssrc: UInt32, ntpTime: UInt64, rtpTime: UInt32, packetCount: UInt32, octetCount: UInt32) {
        self.ssrc = ssrc
        self.ntpTime = ntpTime
        self.rtpTime = rtpTime
        self.packetCount = packetCount
        self.octetCount = octetCount
    }
}

public enum RTCPWriter {
    /// A sender report written anew for readers (protocol break: camera RTCP is never forwarded as bytes),
    /// followed by an SDES CNAME, as RFC 3550 §6.1 requires of a compound packet. 44 bytes for a 6-byte CNAME.
    public static func writeSenderReport(_ report: RTCPSenderReport, cname: StaticString, into buffer: inout ByteBuffer)
    {
        buffer.writeMultipleIntegers(
            UInt8(0x80),
            UInt8(200),
            UInt16(6),
            report.ssrc,
            report.ntpTime,
            report.rtpTime,
            report.packetCount,
            report.octetCount
        )
        let textLength = cname.utf8CodeUnitCount
        let chunk = 4 + 2 + textLength + 1
        let padded = (chunk + 3) / 4 * 4
        buffer.writeMultipleIntegers(
            UInt8(0x81),
            UInt8(202),
            UInt16(padded / 4),
            report.ssrc,
            UInt8(1),
            UInt8(textLength)
        )
        buffer.writeStaticString(cname)
        buffer.writeRepeatingByte(0, count: padded - chunk + 1)
    }

    /// A receiver report (RFC 3550 §6.4.2) with one report block about `source`.
    public static func writeReceiverReport(
        ssrc: UInt32,
        source: UInt32,
        fractionLost: UInt8,
        cumulativeLost: UInt32,
        highestSequence: UInt32,
        jitter: UInt32,
        lastSR: UInt32,
        delaySinceLastSR: UInt32,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeMultipleIntegers(UInt8(0x81), UInt8(201), UInt16(7), ssrc, source)
        buffer.writeMultipleIntegers(
            UInt32(fractionLost) << 24 | (cumulativeLost & 0x00FF_FFFF),
            highestSequence,
            jitter,
            lastSR,
            delaySinceLastSR
        )
    }
}
