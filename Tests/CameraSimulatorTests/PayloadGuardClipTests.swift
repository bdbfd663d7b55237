import NIOCore
import Testing

@testable import CameraSimulator
@testable import RTSPRelay

/// Nothing valid is dropped: every packet of every demo clip passes the payload check made from the clip's own SDP
/// (fragment runs held to their end and released whole), SEI aside.
@Suite struct PayloadGuardClipTests {
    static func guardFor(_ clip: MediaClip) -> PayloadGuard {
        let media = SessionDescription.Media(
            type: clip.mediaType,
            port: 0,
            proto: "RTP/AVP",
            formats: [String(clip.payloadType)],
            attributes: clip.attributes
        )
        let pt = String(clip.payloadType)
        let format = PayloadFormat(
            encoding: media.rtpmap(payloadType: pt)?.encoding,
            payloadType: clip.payloadType,
            fmtp: media.fmtp(payloadType: pt)
        )
        // The clip's own fmtp (sprop-parameter-sets, AAC config) passes whole, and the check starts from it.
        let parameters = FormatParameters(format: format, fmtp: media.fmtp(payloadType: pt))
        #expect(parameters.refused == 0, "\(clip.codec): \(media.fmtp(payloadType: pt))")
        return PayloadGuard(format: format, parameterSets: parameters.parameterSets)
    }

    @Test(arguments: MediaClip.Codec.allCases)
    func everyPacketOfTheDemoClipPasses(_ codec: MediaClip.Codec) throws {
        let clip = try MediaClip.demo(codec)
        var guardian = Self.guardFor(clip)
        #expect(guardian.format.isChecked, "\(codec): \(guardian.format)")
        var sequence: UInt16 = 0
        var held = 0
        var forwarded = 0
        var dropped: [RTPDropReason: Int] = [:]
        for (index, unit) in clip.units.enumerated() {
            for payload in unit.payloads {
                let verdict = guardian.check(
                    payload.bytes,
                    sequence: sequence,
                    timestamp: UInt32(index * 3600),
                    marker: payload.marker
                )
                sequence &+= 1
                #expect(!verdict.discardHeld, "\(codec): a run was discarded at unit \(index)")
                switch verdict.action {
                case .hold: held += 1
                case .forward, .strip, .document:
                    forwarded += 1 + held
                    held = 0
                case .drop(let reason): dropped[reason, default: 0] += 1
                }
            }
        }
        #expect(held == 0, "\(codec): a run never ended")
        #expect(dropped.keys.allSatisfy { $0 == .sei }, "\(codec): \(dropped)")
        #expect(forwarded > clip.units.count / 2, "\(codec): \(forwarded) forwarded")
    }
}
