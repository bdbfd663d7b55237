import NIOCore
import TestSupport
import Testing

@testable import RTSPRelay

/// The fmtp the gateway describes, from a hostile camera's SDP: only the keys a depacketizer of the format
/// reads, numbers as numbers, and parameter sets and AAC configurations only when they pass the checks that
/// in-band ones pass. The real cameras' fmtp lines from the fixtures must come through whole.
@Suite struct FormatParametersTests {
    static let hikvisionSPS = "Z2QAHqwsaoLA9puCgIKgAAADACAAAAMD0IAA"
    static let hikvisionPPS = "aO4xshsA"

    static func parameters(_ format: PayloadFormat, _ fmtp: [String: String]) -> FormatParameters {
        FormatParameters(format: format, fmtp: fmtp)
    }

    @Test func realCamerasFmtpComesThroughWhole() throws {
        for (name, text) in try SDPTests.fixtureSDPs() {
            let camera = try SDPParser.parse(text)
            for media in camera.media {
                guard let type = media.formats.first, let value = UInt8(type) else { continue }
                let fmtp = media.fmtp(payloadType: type)
                let format = PayloadFormat(
                    encoding: media.rtpmap(payloadType: type)?.encoding,
                    payloadType: value,
                    fmtp: fmtp
                )
                guard format.isChecked, !fmtp.isEmpty else { continue }
                let written = Self.parameters(format, fmtp)
                #expect(written.refused == 0, "\(name): \(fmtp)")
                var parsed: [String: String] = [:]
                for parameter in written.parameters {
                    let parts = parameter.split(separator: "=", maxSplits: 1).map(String.init)
                    parsed[parts[0]] = parts.count > 1 ? parts[1] : ""
                }
                #expect(parsed == fmtp.mapValues { String($0.trimmingASCIIWhitespace()) }, "\(name)")
            }
        }
    }

    @Test func keysNoDepacketizerReadsAreLeftOutAndNumbersWrittenAsNumbers() {
        let written = Self.parameters(
            .h264,
            [
                "packetization-mode": "01", "profile-level-id": "42e01f", "x-vendor": "<script>",
                "sprop-parameter-sets": "\(Self.hikvisionSPS),\(Self.hikvisionPPS)", "max-fs": "99999999999",
            ]
        )
        #expect(
            written.parameters == [
                "packetization-mode=1", "profile-level-id=42e01f",
                "sprop-parameter-sets=\(Self.hikvisionSPS),\(Self.hikvisionPPS)",
            ]
        )
        #expect(written.parameterSets.count == 2)
        // A profile-level-id that is not six hex digits, a mode out of range: left out and counted.
        let bad = Self.parameters(.h264, ["profile-level-id": "42e01f;x=1", "level-asymmetry-allowed": "7"])
        #expect(bad.parameters.isEmpty)
        #expect(bad.refused == 2)
    }

    /// The SDP's parameter sets get the in-band checks: a bad SPS goes, and so does the PPS that names it; an
    /// IDR slice, an SEI, a start code or undecodable base64 in the list goes too.
    @Test func sdpParameterSetsPassTheInBandChecks() {
        func sprop(_ items: [String]) -> FormatParameters {
            Self.parameters(.h264, ["sprop-parameter-sets": items.joined(separator: ",")])
        }
        let cutShort = sprop(["Z00AKZpkA8A=", "aO48gA=="])
        #expect(cutShort.parameters.isEmpty)
        #expect(cutShort.parameterSets.isEmpty)
        #expect(cutShort.refused == 2)

        let idr = base64Encode([0x65, 0x88, 0x84, 0x21])
        let sei = base64Encode([0x06, 0x05, 0x04, 0xDE, 0xAD, 0xBE, 0xEF, 0x80])
        var smuggling = base64Decode(Self.hikvisionSPS)!
        smuggling.insert(contentsOf: [0, 0, 1, 0x06], at: 8)
        let mixed = sprop([idr, sei, base64Encode(smuggling), "!!!", Self.hikvisionSPS, Self.hikvisionPPS])
        #expect(mixed.parameters == ["sprop-parameter-sets=\(Self.hikvisionSPS),\(Self.hikvisionPPS)"])
        #expect(mixed.refused == 4)

        // Base64 without its padding, as FFmpeg and GLib accept it: decoded, and written padded.
        let unpadded = sprop(["Z2QAM6wVFKAyAOP5f/AAEAAWyAAAH0AAB1MAIA", "aO48sA"])
        #expect(unpadded.parameterSets.count == 2)
        #expect(unpadded.parameters == ["sprop-parameter-sets=Z2QAM6wVFKAyAOP5f/AAEAAWyAAAH0AAB1MAIA==,aO48sA=="])

        // PPS before SPS in the list: checked in the order a decoder needs them, written as checked.
        let reversed = sprop([Self.hikvisionPPS, Self.hikvisionSPS])
        #expect(reversed.parameterSets.count == 2)
        #expect(reversed.refused == 0)
    }

    /// A camera that sends its SPS only in the SDP and its PPS in-band: the in-band PPS names an SPS the check
    /// learnt from the SDP, so the track plays; after a camera restart the SDP's SPS is still known.
    @Test func theCheckStartsFromTheSDPParameterSets() {
        let sps = base64Decode(Self.hikvisionSPS)!
        let pps = ByteBuffer(bytes: base64Decode(Self.hikvisionPPS)!)
        var unseeded = PayloadGuard(format: .h264)
        #expect(unseeded.check(pps, sequence: 0, timestamp: 0).action == .drop(.badParameterSet))
        var seeded = PayloadGuard(format: .h264, parameterSets: [sps])
        #expect(seeded.check(pps, sequence: 0, timestamp: 0).action == .forward)
        seeded.restart(keepSEI: [])
        #expect(seeded.check(pps, sequence: 1, timestamp: 0).action == .forward)
    }

    @Test func h265ParameterSetsByKind() {
        // The VPS, SPS and PPS of the simulator's H.265 clip (Sources/CameraSimulator/Resources/demo.h265, made by
        // ffmpeg's libx265), as a camera would list them.
        let vps = "QAEMAf//AWAAAAMAkAAAAwAAAwA/ugJA"
        let sps = "QgEBAWAAAAMAkAAAAwAAAwA/oAUCAWllupJMrwFoCAAAAwAIAAADAMhA"
        let pps = "RAHBcrRiQA=="
        let good = Self.parameters(.h265, ["sprop-vps": vps, "sprop-sps": sps, "sprop-pps": pps, "profile-id": "1"])
        #expect(good.parameterSets.count == 3, "\(good)")
        #expect(good.parameters.contains("sprop-vps=\(vps)"))
        // An SPS in the VPS list, and a PPS whose SPS was refused.
        let swapped = Self.parameters(.h265, ["sprop-vps": sps, "sprop-pps": pps])
        #expect(swapped.parameterSets.isEmpty)
        #expect(swapped.refused == 2)
    }

    @Test func aacConfigurationsMustReadAsOne() {
        let layout = ["mode": "AAC-hbr", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3"]
        func aac(_ config: String) -> FormatParameters {
            let fmtp = layout.merging(["config": config]) { $1 }
            return Self.parameters(.aac(AUHeaderLayout(fmtp: fmtp)!), fmtp)
        }
        #expect(aac("1188").parameters.contains("config=1188"))  // Dahua: AAC LC, 48 kHz, mono
        #expect(aac("1190").refused == 0)
        // Channel configuration 0 (a program config element follows), object type 0, frequency index 13,
        // odd digits, not hex, 40 bytes.
        for config in ["1180", "0190", "16", "11", "11zz", String(repeating: "11", count: 40)] {
            #expect(!aac(config).parameters.contains { $0.hasPrefix("config=") }, "\(config)")
        }
        // LATM's StreamMuxConfig (RFC 6416's example: AAC LC, 44.1 kHz, stereo); another mux version, two
        // programs, and an in-band configuration are refused.
        #expect(Self.parameters(.latm, ["config": "40002420", "cpresent": "0"]).refused == 0)
        // cpresent=0 is written even when the camera left it out (RFC 6416's default is 1: in-band configuration).
        #expect(Self.parameters(.latm, ["config": "40002420"]).parameters.contains("cpresent=0"))
        // SBR (object type 5) with an underlying AAC LC, then with an underlying object type 17.
        #expect(aac("2B118800").refused == 0)
        #expect(aac("2B11C400").refused == 1)
        // Every bit read: the backward-compatible SBR signalling passes; a core coder, the extension flag and
        // anything but zeros after the config do not (FFmpeg's decoder would read them).
        #expect(aac("131056E598").refused == 0)
        for config in ["1192", "1191", "119080", "1190FF"] {
            #expect(aac(config).refused == 1, "\(config)")
        }
        // RFC 6416's StreamMuxConfig with its whole tail (frame length type, buffer fullness, no other data or CRC).
        #expect(Self.parameters(.latm, ["config": "400026203fc0"]).refused == 0)
        #expect(Self.parameters(.latm, ["config": "400026203fd0"]).refused == 1)
        #expect(Self.parameters(.latm, ["config": "C0002420"]).refused == 1)
        #expect(Self.parameters(.latm, ["config": "40102420"]).refused == 1)
        #expect(PayloadFormat(encoding: "MP4A-LATM", payloadType: 96, fmtp: ["cpresent": "1"]).isChecked == false)
        #expect(PayloadFormat(encoding: "MP4A-LATM", payloadType: 96, fmtp: [:]) == .latm)
    }
}
