import NIOCore

/// The video codecs whose keyframes the relay recognises from RTP payloads.
public enum VideoCodec: Hashable, Sendable {
    case h264
    case h265

    /// From an `a=rtpmap` encoding name.
    public init?(encoding: String) {
        switch encoding.uppercased() {
        case "H264": self = .h264
        case "H265", "HEVC": self = .h265
        default: return nil
        }
    }
}

public enum KeyframeDetector {
    /// Whether an RTP payload carries the start of a keyframe: for H.264 (RFC 6184) an IDR slice or an SPS, alone,
    /// inside a STAP-A, or as the first FU-A fragment; for H.265 (RFC 7798) an IRAP picture (types 16–21) or a
    /// VPS/SPS, alone, inside an AP, or as the first FU fragment. Parameter sets count because cameras send them
    /// right before each IDR, in their own packets, and a reader joining there can decode.
    public static func startsKeyframe(_ payload: ByteBuffer, codec: VideoCodec) -> Bool {
        let base = payload.readerIndex
        guard let first = payload.getInteger(at: base, as: UInt8.self) else { return false }
        switch codec {
        case .h264:
            let type = first & 0x1F
            switch type {
            case 5, 7: return true
            case 24:  // STAP-A: [size:16][NAL]...
                var offset = base + 1
                while let size = payload.getInteger(at: offset, as: UInt16.self), size > 0,
                    let nal = payload.getInteger(at: offset + 2, as: UInt8.self)
                {
                    let inner = nal & 0x1F
                    if inner == 5 || inner == 7 { return true }
                    offset += 2 + Int(size)
                }
                return false
            case 28:  // FU-A: start bit and original type
                guard let header = payload.getInteger(at: base + 1, as: UInt8.self) else { return false }
                return header & 0x80 != 0 && header & 0x1F == 5
            default:
                return false
            }
        case .h265:
            let type = (first >> 1) & 0x3F
            switch type {
            case 16...21, 32, 33: return true
            case 48:  // AP: 2-byte payload header, then [size:16][NAL]...
                var offset = base + 2
                while let size = payload.getInteger(at: offset, as: UInt16.self), size > 1,
                    let nal = payload.getInteger(at: offset + 2, as: UInt8.self)
                {
                    let inner = (nal >> 1) & 0x3F
                    if (16...21).contains(inner) || inner == 32 || inner == 33 { return true }
                    offset += 2 + Int(size)
                }
                return false
            case 49:  // FU: 2-byte payload header, FU header with S bit and type
                guard let header = payload.getInteger(at: base + 2, as: UInt8.self) else { return false }
                return header & 0x80 != 0 && (16...21).contains(header & 0x3F)
            default:
                return false
            }
        }
    }
}
