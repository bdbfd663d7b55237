import Foundation
import NIOCore
import RTSPRelay

/// One RTP payload, packed once when a clip loads and sent as often as the clip loops.
struct RTPPayload: Sendable {
    var bytes: ByteBuffer
    /// The RTP marker bit: the last packet of a video access unit or of a metadata document.
    var marker: Bool
}

/// One track a simulated camera streams: its payloads, unit by unit (a picture, an audio frame, a metadata
/// document), and what its SDP media section says. Every codec a Hikvision or Dahua camera offers has one, made
/// from a clip that `scripts/make-demo-clip.sh` produced with ffmpeg (metadata is written here: ffmpeg makes none).
public struct MediaClip: Sendable {
    public enum Codec: String, Sendable, Hashable, CaseIterable {
        case h264
        case h265
        case aac
        case pcma
        case pcmu
        /// ONVIF metadata (`vnd.onvif.metadata`): motion events as `tt:MetadataStream` documents.
        case metadata
    }

    struct Unit: Sendable {
        var payloads: [RTPPayload]
        var isKeyframe: Bool
    }

    public let codec: Codec
    let units: [Unit]
    /// The RTP clock rate (Hz).
    public let clockRate: Int
    /// RTP clock ticks from one unit to the next: a frame of video at 25 fps, 1024 AAC samples, 20 ms of G.711.
    let ticksPerUnit: Int
    /// The payload type cameras use: the static 0 and 8 for G.711, a dynamic one otherwise.
    public let payloadType: UInt8
    let mediaType: String
    /// `rtpmap`, `fmtp` and the like for the SDP.
    let attributes: [SessionDescription.Attribute]

    public var isVideo: Bool { self.mediaType == "video" }
    public var unitCount: Int { self.units.count }

    /// When unit `n` (counted from the stream's epoch) is due, in nanoseconds after the epoch.
    func nanoseconds(ofUnit n: Int64) -> Int64 {
        n * Int64(self.ticksPerUnit) * 1_000_000_000 / Int64(self.clockRate)
    }

    /// The first unit due at or after `nanoseconds`.
    func firstUnit(atOrAfter nanoseconds: Int64) -> Int64 {
        let unitNanoseconds = Double(self.ticksPerUnit) * 1e9 / Double(self.clockRate)
        var n = Int64((Double(nanoseconds) / unitNanoseconds).rounded(.down))
        while self.nanoseconds(ofUnit: n) < nanoseconds { n += 1 }
        return n
    }

    func unit(_ n: Int64) -> Unit { self.units[Int(n % Int64(self.units.count))] }

    /// Whether unit `n` starts a new second of the stream's clock: when a camera sends its sender report.
    func startsSecond(_ n: Int64) -> Bool {
        n == 0 || self.nanoseconds(ofUnit: n) / 1_000_000_000 != self.nanoseconds(ofUnit: n - 1) / 1_000_000_000
    }

    func mediaDescription(control: String, direction: String = "recvonly") -> SessionDescription.Media {
        SessionDescription.Media(
            type: self.mediaType,
            formats: [String(self.payloadType)],
            connection: .init(address: "0.0.0.0"),
            attributes: self.attributes + [.init("control", control), .init(direction)]
        )
    }

    // MARK: Codecs

    public static func h264(_ clip: H264Clip, payloadType: UInt8 = 96) -> MediaClip {
        let pt = String(payloadType)
        return MediaClip(
            codec: .h264,
            units: clip.frames.map { Unit(payloads: $0.payloads, isKeyframe: $0.isKeyframe) },
            clockRate: 90_000,
            ticksPerUnit: 90_000 / clip.frameRate,
            payloadType: payloadType,
            mediaType: "video",
            attributes: [
                .init("rtpmap", "\(pt) H264/90000"),
                .init(
                    "fmtp",
                    "\(pt) packetization-mode=1;profile-level-id=\(clip.profileLevelID);sprop-parameter-sets=\(clip.parameterSets)"
                ),
                .init("framerate", String(clip.frameRate)),
            ]
        )
    }

    /// An H.265 Annex B stream at `frameRate`, packetized per RFC 7798.
    public static func h265(annexB: ByteBuffer, frameRate: Int, payloadType: UInt8 = 96) throws -> MediaClip {
        let units = H265AnnexB.accessUnits(in: annexB)
        let nals = units.flatMap(\.nalUnits)
        func first(_ type: UInt8) -> ByteBuffer? { nals.first { H265AnnexB.type($0) == type } }
        guard let vps = first(32), let sps = first(33), let pps = first(34),
            let firstKey = units.firstIndex(where: \.isKeyframe)
        else { throw H264Clip.ClipError(message: "the clip holds no VPS, SPS, PPS and IRAP picture") }
        let packetizer = H265Packetizer()
        func b64(_ nal: ByteBuffer) -> String { base64Encode(Array(nal.readableBytesView)) }
        let pt = String(payloadType)
        return MediaClip(
            codec: .h265,
            units: units[firstKey...].map {
                Unit(payloads: packetizer.packetize($0.nalUnits), isKeyframe: $0.isKeyframe)
            },
            clockRate: 90_000,
            ticksPerUnit: 90_000 / frameRate,
            payloadType: payloadType,
            mediaType: "video",
            attributes: [
                .init("rtpmap", "\(pt) H265/90000"),
                .init("fmtp", "\(pt) sprop-vps=\(b64(vps));sprop-sps=\(b64(sps));sprop-pps=\(b64(pps))"),
                .init("framerate", String(frameRate)),
            ]
        )
    }

    /// An ADTS stream sent as RFC 3640 AAC-hbr, one access unit per packet, as cameras do.
    public static func aac(adts: ByteBuffer, payloadType: UInt8 = 97) throws -> MediaClip {
        let stream = try ADTSStream(adts)
        let pt = String(payloadType)
        return MediaClip(
            codec: .aac,
            units: stream.frames.map { Unit(payloads: [AACPacketizer.payload(for: $0)], isKeyframe: true) },
            clockRate: stream.sampleRate,
            ticksPerUnit: 1024,
            payloadType: payloadType,
            mediaType: "audio",
            attributes: [
                .init("rtpmap", "\(pt) MPEG4-GENERIC/\(stream.sampleRate)/\(stream.channels)"),
                .init(
                    "fmtp",
                    "\(pt) streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
                        + "indexdeltalength=3;config=\(stream.audioSpecificConfigHex)"
                ),
            ]
        )
    }

    /// Raw G.711 at 8 kHz in 20 ms packets: PCMA (static payload type 8) or PCMU (0).
    public static func g711(_ samples: ByteBuffer, aLaw: Bool) -> MediaClip {
        var rest = samples
        var units: [Unit] = []
        while rest.readableBytes >= 160 {
            units.append(
                Unit(payloads: [RTPPayload(bytes: rest.readSlice(length: 160)!, marker: false)], isKeyframe: true)
            )
        }
        let payloadType: UInt8 = aLaw ? 8 : 0
        return MediaClip(
            codec: aLaw ? .pcma : .pcmu,
            units: units,
            clockRate: 8000,
            ticksPerUnit: 160,
            payloadType: payloadType,
            mediaType: "audio",
            attributes: [.init("rtpmap", "\(payloadType) \(aLaw ? "PCMA" : "PCMU")/8000")]
        )
    }

    /// ONVIF metadata: one `tt:MetadataStream` document a second, motion going on and off.
    public static func onvifMetadata(payloadType: UInt8 = 107) -> MediaClip {
        MediaClip(
            codec: .metadata,
            units: (0..<4).map { n in
                Unit(payloads: ONVIFMetadataDocument.payloads(motion: n % 2 == 0, sequence: n), isKeyframe: true)
            },
            clockRate: 90_000,
            ticksPerUnit: 90_000,
            payloadType: payloadType,
            mediaType: "application",
            attributes: [.init("rtpmap", "\(payloadType) vnd.onvif.metadata/90000")]
        )
    }

    /// The clip of `codec` shipped with the simulator.
    public static func demo(_ codec: Codec, videoPayloadType: UInt8 = 96) throws -> MediaClip {
        switch codec {
        case .h264: return .h264(try H264Clip.demo(), payloadType: videoPayloadType)
        case .h265:
            return try .h265(annexB: try self.resource("demo", "h265"), frameRate: 25, payloadType: videoPayloadType)
        case .aac: return try .aac(adts: try self.resource("demo", "aac"))
        case .pcma: return .g711(try self.resource("demo", "alaw"), aLaw: true)
        case .pcmu: return .g711(try self.resource("demo", "ulaw"), aLaw: false)
        case .metadata: return .onvifMetadata()
        }
    }

    static func resource(_ name: String, _ ext: String) throws -> ByteBuffer {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext) else {
            throw H264Clip.ClipError(message: "\(name).\(ext) is missing from the CameraSimulator bundle")
        }
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }
}
