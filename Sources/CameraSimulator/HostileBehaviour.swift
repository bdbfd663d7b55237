import NIOCore
import RTSPRelay

/// What a hostile camera does: the camera is the attacker in CamGateway's threat model. Each behaviour is a switch
/// on the simulator (``CameraSimulator/setHostile(_:)``); the relay must drop or reconnect that camera and keep
/// serving every other one.
public enum HostileBehaviour: String, Sendable, Hashable, CaseIterable {
    /// DESCRIBE is answered with a header block that never ends, as fast as the socket takes it.
    case endlessResponse
    /// DESCRIBE is answered one byte every 200 ms (slow loris).
    case slowLoris
    /// Accepts TCP and never answers anything.
    case silent
    /// A `$` frame of 65 535 bytes of junk before every frame.
    case maximumLengthFrames
    /// A `$` frame of length 0 before every packet.
    case zeroLengthFrames
    /// Copies of the packets on an interleaved channel nobody set up.
    case unknownChannels
    /// RTP packets with version 1.
    case badRTPVersion
    /// RTP packets claiming 255 bytes of padding.
    case badRTPPadding
    /// RTP packets with a header extension longer than the packet.
    case badRTPExtension
    /// 100 sender reports with every frame.
    case rtcpFlood
    /// RTP time jumps by three hours every second, and back.
    case timestampJumps
    /// A new SSRC on every packet.
    case ssrcPerPacket
    // Payloads aimed at the VMS's depacketizer and decoder (H.264 video only).
    /// The forbidden bit set on every other frame's NAL headers.
    case forbiddenNALBit
    /// STAP-A whose last unit claims more bytes than the packet has.
    case truncatedSTAPA
    /// FU-A runs whose end fragment never comes (the E bit cleared).
    case fragmentWithoutEnd
    /// A NAL type H.264 reserves (30) on every other frame's single-NAL slices.
    case reservedNALType
    /// An SPS with seq_parameter_set_id 32 (the range ends at 31) before every frame.
    case outOfRangeSPS
    /// SPS with an exp-Golomb code that never ends (zeros after level_idc, escaped: 00 00 03 00 00 03 …).
    case unterminatedSPS
    /// A 4 KiB user-data-unregistered SEI before every frame.
    case oversizedSEI
    /// An SEI unit appended to every STAP-A (beside the SPS and PPS the readers need).
    case seiInAggregation
    /// `00 00 01` and an SPS written inside the slices and fragments of every other frame (the keyframes of an
    /// even GOP stay clean, so the stream still plays): an Annex B reader would find a NAL there.
    case smuggledStartCode
    /// AV1 offered beside H.264 (a second payload type on the video media, and a media of its own), and every
    /// other frame sent as payload type 98: FFmpeg's AV1 depacketizer is CVE-2026-39210's way in.
    case av1Track
    /// Every ONVIF metadata document with a DTD where its XML declaration was (an entity expansion attempt).
    case metadataWithDTD

    /// What ``smuggledStartCode`` writes: a start code and the first bytes of an SPS.
    public static let smuggledNAL: [UInt8] = [0x00, 0x00, 0x01, 0x67, 0x42, 0x00, 0x1E, 0xAB]

    /// What ``outOfRangeSPS`` sends: Baseline, level 3, then seq_parameter_set_id ue(32) and trailing bits.
    public static let outOfRangeSPSNAL: [UInt8] = [0x67, 0x42, 0x00, 0x1E, 0x04, 0x30]

    /// The payload type the AV1 track uses.
    public static let av1PayloadType: UInt8 = 98

    /// Mutates one RTP packet (header and payload as sent) for the packet-level behaviours.
    func mangle(_ packet: inout ByteBuffer, frame: Int64, frameRate: Int) {
        let base = packet.readerIndex
        switch self {
        case .badRTPVersion:
            packet.setInteger(UInt8(0x40) | (packet.getInteger(at: base, as: UInt8.self)! & 0x3F), at: base)
        case .badRTPPadding:
            packet.setInteger(packet.getInteger(at: base, as: UInt8.self)! | 0x20, at: base)
            packet.setInteger(UInt8(255), at: packet.writerIndex - 1)
        case .badRTPExtension:
            // X bit, and an extension header claiming 0xFFFF words where the payload begins.
            packet.setInteger(packet.getInteger(at: base, as: UInt8.self)! | 0x10, at: base)
            packet.setMultipleIntegers(UInt16(0xBEDE), UInt16(0xFFFF), at: base + 12)
        case .timestampJumps:
            if (frame / Int64(frameRate)) % 2 == 1 {
                let timestamp = packet.getInteger(at: base + 4, as: UInt32.self)!
                packet.setInteger(timestamp &+ 3 * 3600 * 90_000, at: base + 4)
            }
        case .ssrcPerPacket:
            packet.setInteger(UInt32.random(in: 0...UInt32.max), at: base + 8)
        case .forbiddenNALBit where frame % 2 == 1 && Self.isH264(packet):
            packet.setInteger(packet.getInteger(at: base + 12, as: UInt8.self)! | 0x80, at: base + 12)
        case .truncatedSTAPA where Self.isH264(packet) && Self.nalType(packet) == 24:
            // The last unit's size, grown by 5.
            var offset = base + 13
            var last = offset
            while let size = packet.getInteger(at: offset, as: UInt16.self),
                offset + 2 + Int(size) <= packet.writerIndex
            {
                last = offset
                offset += 2 + Int(size)
            }
            packet.setInteger(packet.getInteger(at: last, as: UInt16.self)! + 5, at: last)
        case .reservedNALType where frame % 2 == 1 && Self.isH264(packet) && [1, 28].contains(Self.nalType(packet)):
            packet.setInteger((packet.getInteger(at: base + 12, as: UInt8.self)! & 0xE0) | 30, at: base + 12)
        case .smuggledStartCode
        where frame % 2 == 1 && Self.isH264(packet) && [1, 5, 28].contains(Self.nalType(packet)):
            let smuggled = Self.smuggledNAL
            if packet.readableBytes > 12 + 20 + smuggled.count { packet.setBytes(smuggled, at: base + 12 + 20) }
        case .av1Track where frame % 2 == 1 && Self.isH264(packet):
            let marker = packet.getInteger(at: base + 1, as: UInt8.self)! & 0x80
            packet.setInteger(marker | Self.av1PayloadType, at: base + 1)
        case .metadataWithDTD
        where packet.readableBytes > 12 + 38 && packet.getInteger(at: base + 1, as: UInt8.self)! & 0x7F == 107:
            let declaration = Array(#"<?xml version="1.0" encoding="UTF-8"?>"#.utf8)
            if packet.getBytes(at: base + 12, length: declaration.count) == declaration {
                let dtd = Array(#"<!DOCTYPE a [<!ENTITY b "bbbbbbbbb">]>"#.utf8)
                packet.setBytes(dtd + [UInt8](repeating: 0x20, count: declaration.count - dtd.count), at: base + 12)
            }
        case .seiInAggregation where Self.isH264(packet) && Self.nalType(packet) == 24:
            let sei: [UInt8] = [0x06, 0x05, 0x04, 0xDE, 0xAD, 0xBE, 0xEF, 0x80]
            packet.writeInteger(UInt16(sei.count))
            packet.writeBytes(sei)
        case .fragmentWithoutEnd where Self.isH264(packet) && Self.nalType(packet) == 28:
            packet.setInteger(packet.getInteger(at: base + 13, as: UInt8.self)! & ~0x40, at: base + 13)
        case .unterminatedSPS where Self.isH264(packet):
            // An SPS alone or inside a STAP-A: everything after profile, constraints and level becomes zeros.
            var offset = base + 12
            var end = packet.writerIndex
            if Self.nalType(packet) == 24, let size = packet.getInteger(at: base + 13, as: UInt16.self) {
                offset = base + 15
                end = offset + Int(size)
            }
            // The zeros escaped as an encoder would (00 00 03), so that the start-code check passes them and the
            // exp-Golomb read is what fails.
            if (packet.getInteger(at: offset, as: UInt8.self) ?? 0) & 0x1F == 7, end - offset > 4 {
                for index in (offset + 4)..<end {
                    packet.setInteger(UInt8((index - offset - 4) % 3 == 2 ? 3 : 0), at: index)
                }
            }
        default:
            break
        }
    }

    static func isH264(_ packet: ByteBuffer) -> Bool {
        packet.readableBytes > 14 && (packet.getInteger(at: packet.readerIndex + 1, as: UInt8.self) ?? 0) & 0x7F == 96
    }

    static func nalType(_ packet: ByteBuffer) -> UInt8 {
        (packet.getInteger(at: packet.readerIndex + 12, as: UInt8.self) ?? 0) & 0x1F
    }

    /// Extra interleaved bytes written before a packet.
    func extraFrames(before packet: ByteBuffer, into buffer: inout ByteBuffer, ssrc: UInt32, firstOfFrame: Bool) {
        switch self {
        case .maximumLengthFrames where firstOfFrame:
            buffer.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(0), UInt16(0xFFFF))
            buffer.writeRepeatingByte(0xAA, count: 0xFFFF)
        case .zeroLengthFrames:
            buffer.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(0), UInt16(0))
        case .unknownChannels:
            RTSPMessageSerializer.writeInterleavedHeader(channel: 9, length: packet.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(packet)
        case .oversizedSEI where firstOfFrame && Self.isH264(packet):
            var sei = ByteBuffer()
            sei.writeImmutableBuffer(packet.getSlice(at: packet.readerIndex, length: 12)!)
            sei.writeBytes([0x06, 0x05] + [UInt8](repeating: 0xFF, count: 16) + [0x10])
            sei.writeRepeatingByte(0x41, count: 16 * 255 + 16)
            sei.writeInteger(UInt8(0x80))
            RTSPMessageSerializer.writeInterleavedHeader(channel: 0, length: sei.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(sei)
        case .outOfRangeSPS where firstOfFrame && Self.isH264(packet):
            var sps = ByteBuffer()
            sps.writeImmutableBuffer(packet.getSlice(at: packet.readerIndex, length: 12)!)
            sps.writeBytes(Self.outOfRangeSPSNAL)
            RTSPMessageSerializer.writeInterleavedHeader(channel: 0, length: sps.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(sps)
        case .rtcpFlood where firstOfFrame:
            for n in 0..<100 {
                var report = ByteBuffer()
                RTPWriter.writeSenderReport(
                    into: &report,
                    ssrc: ssrc,
                    ntpTime: UInt64(n) << 32,
                    rtpTime: UInt32(n),
                    packetCount: 0,
                    octetCount: 0,
                    cname: "flood"
                )
                RTSPMessageSerializer.writeInterleavedHeader(channel: 1, length: report.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(report)
            }
        default:
            break
        }
    }
}
