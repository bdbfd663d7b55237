import Foundation
import NIOCore
import RTSPRelay

/// An H.264 clip prepared for streaming: every access unit packetized once, plus what its SDP needs.
public struct H264Clip: Sendable {
    struct Frame: Sendable {
        var payloads: [RTPPayload]
        var isKeyframe: Bool
    }

    let frames: [Frame]
    public let frameRate: Int
    /// `sprop-parameter-sets` (RFC 6184 §8.1): Base64 of the first SPS and PPS.
    public let parameterSets: String
    /// `profile-level-id`: bytes 1–3 of the SPS, hex.
    public let profileLevelID: String

    public var frameCount: Int { self.frames.count }
    public var keyframeInterval: Int {
        let keys = self.frames.indices.filter { self.frames[$0].isKeyframe }
        return keys.count > 1 ? keys[1] - keys[0] : self.frames.count
    }

    /// Parses an Annex B stream. Fails when it holds no SPS, PPS or IDR picture.
    public init(annexB: ByteBuffer, frameRate: Int) throws {
        let units = H264AnnexB.accessUnits(in: annexB)
        let nals = units.flatMap(\.nalUnits)
        guard let sps = nals.first(where: { H264Packetizer.type($0) == 7 }),
            let pps = nals.first(where: { H264Packetizer.type($0) == 8 }),
            let firstKey = units.firstIndex(where: \.isKeyframe), sps.readableBytes >= 4
        else { throw ClipError(message: "the clip holds no SPS, PPS and IDR picture") }
        let packetizer = H264Packetizer()
        // Start at the first keyframe so that looping never begins with undecodable pictures.
        self.frames = units[firstKey...].map { Frame(payloads: packetizer.packetize($0), isKeyframe: $0.isKeyframe) }
        self.frameRate = frameRate
        self.parameterSets =
            base64Encode(Array(sps.readableBytesView)) + "," + base64Encode(Array(pps.readableBytesView))
        self.profileLevelID = sps.readableBytesView.dropFirst().prefix(3).map {
            ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true)
        }.joined()
    }

    /// The clip as a camera's TCP byte stream: `frames` frames (looping), each packet an RTP packet on
    /// interleaved channel 0, with a sender report on channel 1 every second. For benchmarks and load tests.
    public func interleavedStream(frames: Int, ssrc: UInt32 = 0x1234_5678, payloadType: UInt8 = 96) -> ByteBuffer {
        var buffer = ByteBuffer()
        var sequence: UInt16 = 0
        for n in 0..<frames {
            let frame = self.frames[n % self.frames.count]
            let timestamp = UInt32(truncatingIfNeeded: n * 90_000 / self.frameRate)
            if n % self.frameRate == 0 {
                var report = ByteBuffer()
                RTPWriter.writeSenderReport(
                    into: &report,
                    ssrc: ssrc,
                    ntpTime: UInt64(n / self.frameRate) << 32,
                    rtpTime: timestamp,
                    packetCount: UInt32(sequence),
                    octetCount: 0,
                    cname: "bench"
                )
                RTSPMessageSerializer.writeInterleavedHeader(channel: 1, length: report.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(report)
            }
            for payload in frame.payloads {
                RTSPMessageSerializer.writeInterleavedHeader(
                    channel: 0,
                    length: 12 + payload.bytes.readableBytes,
                    into: &buffer
                )
                RTPWriter.writeHeader(
                    into: &buffer,
                    marker: payload.marker,
                    payloadType: payloadType,
                    sequence: sequence,
                    timestamp: timestamp,
                    ssrc: ssrc
                )
                buffer.writeImmutableBuffer(payload.bytes)
                sequence &+= 1
            }
        }
        return buffer
    }

    /// The demo clip shipped with the simulator (made by `scripts/make-demo-clip.sh`).
    public static func demo() throws -> H264Clip {
        guard let url = Bundle.module.url(forResource: "demo", withExtension: "h264") else {
            throw ClipError(message: "demo.h264 is missing from the CameraSimulator bundle")
        }
        let data = try Data(contentsOf: url)
        return try H264Clip(annexB: ByteBuffer(bytes: data), frameRate: 25)
    }

    public struct ClipError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { self.message }
    }
}
