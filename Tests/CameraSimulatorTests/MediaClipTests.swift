import NIOCore
import RTSPRelay
import Testing

@testable import CameraSimulator

/// The simulator's clips are packed as the RTP payload formats say, so that what a test proves through the gateway
/// is about real payloads: a depacketizer written here from the RFCs gets back exactly what ffmpeg wrote.
@Suite struct MediaClipTests {
    /// RFC 7798: single NAL unit packets as they are; fragmentation units (type 49) put back together from the
    /// payload header and the FU header's type.
    static func depacketizeH265(_ payloads: [RTPPayload]) -> [[UInt8]] {
        var nals: [[UInt8]] = []
        var fragment: [UInt8] = []
        for payload in payloads {
            let bytes = Array(payload.bytes.readableBytesView)
            guard (bytes[0] >> 1) & 0x3F == 49 else {
                nals.append(bytes)
                continue
            }
            let fuHeader = bytes[2]
            if fuHeader & 0x80 != 0 {
                fragment = [(bytes[0] & 0x81) | ((fuHeader & 0x3F) << 1), bytes[1]]
            }
            fragment += bytes[3...]
            if fuHeader & 0x40 != 0 { nals.append(fragment) }
        }
        return nals
    }

    @Test func h265PayloadsReassembleToTheClipsNALUnits() throws {
        let annexB = try MediaClip.resource("demo", "h265")
        let clip = try MediaClip.demo(.h265)
        let units = H265AnnexB.accessUnits(in: annexB)
        #expect(units.count == 100, "4 s at 25 fps")
        #expect(clip.unit(0).isKeyframe)
        #expect(clip.units.filter(\.isKeyframe).count == 2, "an IRAP picture every 2 s")
        for (unit, original) in zip(clip.units, units) {
            #expect(Self.depacketizeH265(unit.payloads) == original.nalUnits.map { Array($0.readableBytesView) })
            #expect(unit.payloads.last?.marker == true)
            #expect(unit.payloads.dropLast().allSatisfy { !$0.marker })
            #expect(unit.payloads.allSatisfy { $0.bytes.readableBytes <= 1400 })
        }
        let keyframe = clip.unit(0).payloads.map { KeyframeDetector.startsKeyframe($0.bytes, codec: .h265) }
        #expect(keyframe.first == true)
    }

    @Test func h265SDPCarriesTheParameterSets() throws {
        let clip = try MediaClip.demo(.h265)
        let media = clip.mediaDescription(control: "trackID=0")
        #expect(media.rtpmap(payloadType: "96")?.encoding == "H265")
        let fmtp = media.fmtp(payloadType: "96")
        for (name, type) in [("sprop-vps", 32), ("sprop-sps", 33), ("sprop-pps", 34)] {
            let nal = try #require(fmtp[name].flatMap(base64Decode))
            #expect((nal[0] >> 1) & 0x3F == type, "\(name)")
        }
    }

    @Test func aacIsRFC3640WithTheStreamsConfig() throws {
        let clip = try MediaClip.demo(.aac)
        #expect(clip.clockRate == 16000)
        let media = clip.mediaDescription(control: "trackID=1")
        #expect(media.rtpmap(payloadType: "97")?.encoding == "MPEG4-GENERIC")
        let fmtp = media.fmtp(payloadType: "97")
        // AAC-LC (2), 16 kHz (index 8), mono: 00010 1000 0001 000.
        #expect(fmtp["config"] == "1408")
        #expect(fmtp["mode"] == "AAC-hbr")
        #expect((62...64).contains(clip.unitCount), "4 s of 1024-sample frames at 16 kHz")
        for unit in clip.units {
            let payload = try #require(unit.payloads.first)
            let (headersLength, auHeader) = try #require(
                payload.bytes.getMultipleIntegers(at: payload.bytes.readerIndex, as: (UInt16, UInt16).self)
            )
            #expect(headersLength == 16)
            #expect(Int(auHeader >> 3) == payload.bytes.readableBytes - 4)
            #expect(auHeader & 0x7 == 0)
        }
    }

    @Test(arguments: [(MediaClip.Codec.pcma, UInt8(8), "PCMA"), (.pcmu, UInt8(0), "PCMU")])
    func g711Is20MillisecondPacketsOfStaticPayloadType(codec: MediaClip.Codec, payloadType: UInt8, name: String) throws
    {
        let clip = try MediaClip.demo(codec)
        #expect(clip.payloadType == payloadType)
        #expect(clip.unitCount == 200)
        #expect(clip.units.allSatisfy { $0.payloads.count == 1 && $0.payloads[0].bytes.readableBytes == 160 })
        #expect(clip.nanoseconds(ofUnit: 1) == 20_000_000)
        #expect(clip.mediaDescription(control: "x").rtpmap(payloadType: String(payloadType))?.encoding == name)
    }

    @Test func metadataDocumentsEndWithTheMarker() throws {
        let payloads = ONVIFMetadataDocument.payloads(motion: true, sequence: 1, maxPayloadSize: 200)
        #expect(payloads.count > 1)
        #expect(payloads.last?.marker == true)
        #expect(payloads.dropLast().allSatisfy { !$0.marker })
        let document = String(decoding: payloads.flatMap { Array($0.bytes.readableBytesView) }, as: UTF8.self)
        #expect(document == ONVIFMetadataDocument.xml(motion: true, sequence: 1))
    }

    @Test func unitsAreScheduledOnTheClockOfTheirTrack() throws {
        let video = try MediaClip.demo(.h264)
        let audio = try MediaClip.demo(.aac)
        #expect(video.nanoseconds(ofUnit: 25) == 1_000_000_000)
        #expect(audio.nanoseconds(ofUnit: 125) == 8_000_000_000)  // 125 × 1024 / 16000 s
        #expect(audio.firstUnit(atOrAfter: 1_000_000_000) == 16)  // 15 frames are 0.96 s
        #expect(audio.startsSecond(16) && !audio.startsSecond(17))
    }
}
