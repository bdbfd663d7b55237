import CameraSimulator
import Foundation
import NIOCore
import NIOPosix
import ONVIF
import RTSPRelay
import TestSupport
import Testing

/// A hostile camera beside a good one, behind one relay: for every behaviour the hostile camera is dropped or
/// reconnected, and the good camera's reader keeps its full frame rate.
@Suite struct HostileCameraTests {
    struct Fixture {
        let good: CameraSimulator
        let bad: CameraSimulator
        let relay: Relay
        let port: Int
        func url(_ camera: String) -> String { "rtsp://127.0.0.1:\(self.port)/\(camera)/main" }
        func stats() async throws -> (good: RelayStats.Stream, bad: RelayStats.Stream) {
            let stats = try await self.relay.stats()
            return (stats.stream("good", "main")!, stats.stream("bad", "main")!)
        }
    }

    static func run(_ body: (Fixture) async throws -> Void) async throws {
        let good = try CameraSimulator()
        let bad = try CameraSimulator()
        try await good.start()
        try await bad.start()
        var cameras: [RelayConfiguration.Camera] = []
        for (name, simulator) in [("good", good), ("bad", bad)] {
            var camera = RelayConfiguration.Camera(
                name: name,
                host: "127.0.0.1",
                port: simulator.port,
                streams: [.init(name: "main", path: simulator.configuration.path)]
            )
            camera.onDemand = false
            cameras.append(camera)
        }
        var configuration = RelayConfiguration(cameras: cameras)
        configuration.port = 0
        configuration.access = ReaderAccessPolicy(allowAnonymous: true)
        configuration.responseTimeout = .seconds(2)
        // None of the hostile cases relies on the stall timeout; a loaded CI machine can pause the good camera
        // for two seconds, which must not read as its failure.
        configuration.stallTimeout = .seconds(5)
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(200), maximum: .seconds(1), jitter: 0.1)
        let relay = Relay(
            configuration: configuration,
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            metadataFilter: MetadataStreamRewriter.rewrite
        )
        try await relay.start()
        let fixture = Fixture(good: good, bad: bad, relay: relay, port: await relay.port)
        do {
            try await body(fixture)
        } catch {
            try? await relay.stop()
            try? await good.stop()
            try? await bad.stop()
            throw error
        }
        try await relay.stop()
        try await good.stop()
        try await bad.stop()
    }

    static func bothPlaying(_ fixture: Fixture) async throws {
        try await eventually("both cameras playing") {
            let stats = try await fixture.stats()
            return stats.good.upstreamUp && stats.bad.upstreamUp
        }
    }

    /// The hostile camera's session closed, and a new one (a new DESCRIBE, in its hostile shape) playing.
    static func describedAgain(_ fixture: Fixture) async throws {
        fixture.bad.closeAllConnections()
        try await eventually("the hostile camera described again") {
            let bad = try await fixture.stats().bad
            return bad.reconnects >= 1 && bad.upstreamUp
        }
    }

    /// Reads the good camera for `seconds` and returns its frame count (marker packets).
    static func framesOnGoodCamera(_ fixture: Fixture, for seconds: Double) async throws -> Int {
        let client = try await TestRTSPClient.connect(port: fixture.port)
        _ = try await client.play(fixture.url("good"))
        _ = try await client.interleavedFrames(count: 5)
        _ = client.takeInterleaved()
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        let frames = client.takeInterleaved().compactMap(ReceivedRTP.init).filter(\.marker).count
        #expect(!client.isClosed)
        await client.close()
        return frames
    }

    /// The video behaviours (``HostileBehaviour/metadataWithDTD`` needs a metadata track: `CodecTrackTests`).
    static let videoBehaviours = HostileBehaviour.allCases.filter { $0 != .metadataWithDTD }

    @Test(arguments: videoBehaviours)
    func hostileCameraLosesOnlyItsOwnStream(_ behaviour: HostileBehaviour) async throws {
        try await Self.run { fixture in
            // Both cameras up first, then the bad one turns hostile and is reconnected into its behaviour.
            try await Self.bothPlaying(fixture)
            fixture.bad.setHostile(behaviour)
            // These act on a new session (DESCRIBE); the others on the packets of the running one.
            if behaviour == .av1Track {
                try await Self.describedAgain(fixture)
            } else if [.endlessResponse, .slowLoris, .silent].contains(behaviour) {
                fixture.bad.closeAllConnections()
            }
            let badReader = try await TestRTSPClient.connect(port: fixture.port)
            let played = try? await badReader.play(fixture.url("bad"), allTracks: true, timeout: .seconds(3))
            let playing = played != nil

            let frames = try await Self.framesOnGoodCamera(fixture, for: 4)
            #expect(Double(frames) >= 25 * 4 * 0.85, "the good camera's reader got \(frames) frames in 4 s")

            let (good, bad) = try await fixture.stats()
            #expect(good.upstreamUp)
            #expect(good.reconnects == 0)
            let received = playing ? badReader.takeInterleaved() : []
            switch behaviour {
            case .endlessResponse, .maximumLengthFrames:
                #expect(bad.reconnects >= 1)
                #expect(bad.lastError?.contains("malformed") == true, "\(bad.lastError ?? "")")
            case .slowLoris, .silent:
                #expect(bad.reconnects >= 1)
                #expect(bad.lastError?.contains("did not answer") == true, "\(bad.lastError ?? "")")
            case .zeroLengthFrames:
                #expect(bad.dropped[.tooShort, default: 0] > 0)
                #expect(bad.packetsOut > 0 || !playing)
            case .unknownChannels:
                #expect(bad.dropped[.unknownChannel, default: 0] > 0)
            case .badRTPVersion:
                #expect(bad.dropped[.badVersion, default: 0] > 0)
                try await eventually("an all-bad stream stalls into a reconnect") {
                    try await fixture.stats().bad.reconnects >= 1
                }
            case .badRTPPadding:
                #expect(bad.dropped[.badPadding, default: 0] > 0)
            case .badRTPExtension:
                #expect(bad.dropped[.badExtension, default: 0] > 0)
            case .rtcpFlood:
                #expect(bad.dropped[.rtcpRateLimited, default: 0] > 100)
                let reports = received.filter { $0.channel == 1 }.count
                #expect(reports <= 12, "\(reports) sender reports reached the reader in about 4 s")
            case .timestampJumps:
                let rtp = received.compactMap(ReceivedRTP.init)
                #expect(rtp.count > 50)
                let maxStep =
                    zip(rtp, rtp.dropFirst()).map { abs(Int64(Int32(bitPattern: $1.timestamp &- $0.timestamp))) }.max()
                    ?? 0
                #expect(maxStep < 90_000 * 10, "the reader saw RTP time jump by \(maxStep) ticks")
            case .ssrcPerPacket:
                #expect(bad.dropped[.ssrcMismatch, default: 0] > 0)
                #expect(Set(received.compactMap(ReceivedRTP.init).map(\.ssrc)).count <= 1)
            case .forbiddenNALBit:
                #expect(bad.dropped[.badNALHeader, default: 0] > 0)
                #expect(received.compactMap(ReceivedRTP.init).allSatisfy { $0.firstPayloadByte & 0x80 == 0 })
            case .truncatedSTAPA:
                #expect(bad.dropped[.badAggregation, default: 0] > 0)
                #expect(received.allSatisfy(Self.aggregationAddsUp), "a STAP-A that does not add up reached the reader")
            case .fragmentWithoutEnd:
                #expect(bad.dropped[.badFragmentation, default: 0] > 0)
                #expect(
                    !received.compactMap(ReceivedRTP.init).contains { $0.firstPayloadByte & 0x1F == 28 },
                    "a fragment of a run that never ends reached the reader"
                )
            case .unterminatedSPS:
                #expect(bad.dropped[.badParameterSet, default: 0] > 0)
                #expect(bad.packetsOut == 0 || !playing, "slices after a bad SPS reached a reader")
            case .seiInAggregation:
                // The relay cuts the SEI unit out (a new packet) and keeps the SPS and PPS: the reader decodes.
                let aggregates = received.filter { frame in
                    frame.channel % 2 == 0 && frame.payload.readableBytes > 13
                        && (frame.payload.getInteger(at: frame.payload.readerIndex + 12, as: UInt8.self) ?? 0) & 0x1F
                            == 24
                }
                #expect(!aggregates.isEmpty, "no STAP-A reached the reader")
                #expect(aggregates.allSatisfy(Self.aggregationAddsUp))
                #expect(!aggregates.contains { Self.unitTypes(in: $0).contains(6) }, "an SEI unit reached the reader")
                #expect(
                    aggregates.allSatisfy { Self.unitTypes(in: $0).contains(7) && Self.unitTypes(in: $0).contains(8) }
                )
                #expect(bad.dropped[.badAggregation, default: 0] == 0)
            case .reservedNALType:
                #expect(bad.dropped[.badNALHeader, default: 0] > 0)
                #expect(!received.compactMap(ReceivedRTP.init).contains { $0.firstPayloadByte & 0x1F == 30 })
                #expect(bad.packetsOut > 0, "the camera's good frames stopped")
            case .outOfRangeSPS:
                #expect(bad.dropped[.badParameterSet, default: 0] > 0)
                let sps = received.filter { $0.channel == 0 }.map { Array($0.payload.readableBytesView.dropFirst(12)) }
                #expect(!sps.contains(HostileBehaviour.outOfRangeSPSNAL), "the SPS with id 32 reached the reader")
                // Each keyframe's own SPS ends the wait: the keyframes go on.
                let keyframes = received.compactMap(ReceivedRTP.init).filter { $0.firstPayloadByte & 0x1F == 24 }
                #expect(!keyframes.isEmpty, "no keyframe reached the reader: \(bad.dropped.filter { $0.value > 0 })")
            case .smuggledStartCode:
                #expect(bad.dropped[.startCodeInNAL, default: 0] > 0)
                #expect(bad.packetsOut > 0, "the camera's clean frames stopped")
                #expect(
                    !received.contains { $0.channel % 2 == 0 && Self.containsStartCode($0.payload, from: 12) },
                    "a packet with a start code inside a NAL reached the reader"
                )
            case .av1Track:
                #expect(
                    bad.dropped[.uncheckedCodec, default: 0] > 0,
                    "\(bad.dropped.filter { $0.value > 0 }) \(fixture.bad.requestURIs)"
                )
                #expect(
                    !received.compactMap(ReceivedRTP.init).contains {
                        $0.payloadType == HostileBehaviour.av1PayloadType
                    }
                )
                let sdp = try #require(played?.sdp)
                #expect(sdp.media.count == 1)
                #expect(sdp.media.allSatisfy { $0.formats == ["96"] }, "\(sdp.media.map(\.formats))")
                #expect(!SDPWriter.write(sdp).uppercased().contains("AV1"))
            case .metadataWithDTD:
                Issue.record("a metadata behaviour in the video cases")
            case .oversizedSEI:
                #expect(bad.dropped[.sei, default: 0] > 10)
                #expect(!received.compactMap(ReceivedRTP.init).contains { $0.firstPayloadByte & 0x1F == 6 })
                #expect(bad.packetsOut > 0, "the camera's good packets stopped")
            }
            await badReader.close()
        }
    }

    /// FFmpeg as the VMS: it reads the hostile camera through the gateway and writes the H.264 it got as an Annex B
    /// stream, the very bytes its decoder would parse. None of the hostile NALs is in it, and the good ones are.
    @Test(arguments: [
        HostileBehaviour.smuggledStartCode, .forbiddenNALBit, .reservedNALType, .oversizedSEI, .av1Track,
    ])
    func ffmpegGetsNoneOfIt(_ behaviour: HostileBehaviour) async throws {
        try await Self.run { fixture in
            try await Self.bothPlaying(fixture)
            fixture.bad.setHostile(behaviour)
            try await Self.describedAgain(fixture)
            let probe = try await ExternalTool.run(
                "ffprobe",
                [
                    "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                    fixture.url("bad"),
                ],
                timeout: 30
            )
            #expect(probe.stdout.split(separator: "\n") == ["h264"], "\(behaviour): \(probe.stdout) \(probe.stderr)")
            let output = FileManager.default.temporaryDirectory.appendingPathComponent(
                "camgw-\(UUID().uuidString).h264"
            )
            defer { try? FileManager.default.removeItem(at: output) }
            let result = try await ExternalTool.run(
                "ffmpeg",
                [
                    "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", fixture.url("bad"), "-map",
                    "0",
                    "-c", "copy", "-t", "3", "-f", "h264", "-y", output.path,
                ],
                timeout: 30
            )
            #expect(result.status == 0, "\(behaviour): \(result.stderr)")
            let stream = try Data(contentsOf: output)
            let units = Self.annexBUnits(Array(stream))
            let types = Set(units.compactMap { $0.first.map { $0 & 0x1F } })
            #expect(types.contains(5), "\(behaviour): no IDR slice reached ffmpeg (\(units.count) NALs)")
            #expect(types.isSubset(of: [1, 5, 7, 8, 9]), "\(behaviour): ffmpeg got NAL types \(types.sorted())")
            #expect(!units.contains { ($0.first ?? 0) & 0x80 != 0 }, "\(behaviour): a forbidden bit reached ffmpeg")
            let smuggled = Array(HostileBehaviour.smuggledNAL.dropFirst(3))
            #expect(!units.contains { $0.starts(with: smuggled) }, "\(behaviour): the smuggled SPS reached ffmpeg")
            #expect(
                !units.contains(HostileBehaviour.outOfRangeSPSNAL),
                "\(behaviour): the SPS with id 32 reached ffmpeg"
            )
            let (_, bad) = try await fixture.stats()
            let reasons: [HostileBehaviour: RTPDropReason] = [
                .smuggledStartCode: .startCodeInNAL, .forbiddenNALBit: .badNALHeader, .reservedNALType: .badNALHeader,
                .oversizedSEI: .sei,
                .av1Track: .uncheckedCodec,
            ]
            #expect(bad.dropped[reasons[behaviour]!, default: 0] > 0, "\(behaviour): \(bad.dropped)")
        }
    }

    /// The NAL units of an Annex B stream (split at 00 00 01, zeros before a start code dropped).
    static func annexBUnits(_ bytes: [UInt8]) -> [[UInt8]] {
        var units: [[UInt8]] = []
        var start: Int?
        var index = 0
        while index + 2 < bytes.count {
            if bytes[index] == 0, bytes[index + 1] == 0, bytes[index + 2] == 1 {
                if let start { units.append(Array(bytes[start..<index])) }
                index += 3
                start = index
            } else {
                index += 1
            }
        }
        if let start, start < bytes.count { units.append(Array(bytes[start...])) }
        return units.map { unit in Array(unit.reversed().drop { $0 == 0 }.reversed()) }.filter { !$0.isEmpty }
    }

    /// 00 00 00/01/02 at any byte of `p` from `offset` on.
    static func containsStartCode(_ p: ByteBuffer, from offset: Int) -> Bool {
        let bytes = Array(p.readableBytesView.dropFirst(offset))
        return bytes.indices.dropLast(2).contains { bytes[$0] == 0 && bytes[$0 + 1] == 0 && bytes[$0 + 2] <= 2 }
    }

    /// A STAP-A (RTP payload type 24) whose unit sizes add up to the packet exactly; anything else passes.
    static func aggregationAddsUp(_ frame: InterleavedFrame) -> Bool {
        let p = frame.payload
        guard frame.channel % 2 == 0, p.readableBytes > 13,
            (p.getInteger(at: p.readerIndex + 12, as: UInt8.self) ?? 0) & 0x1F == 24
        else { return true }
        var offset = p.readerIndex + 13
        while offset < p.writerIndex {
            guard let size = p.getInteger(at: offset, as: UInt16.self) else { return false }
            offset += 2 + Int(size)
        }
        return offset == p.writerIndex
    }

    /// The NAL unit types inside a STAP-A.
    static func unitTypes(in frame: InterleavedFrame) -> [UInt8] {
        let p = frame.payload
        var types: [UInt8] = []
        var offset = p.readerIndex + 13
        while let size = p.getInteger(at: offset, as: UInt16.self),
            let type = p.getInteger(at: offset + 2, as: UInt8.self)
        {
            types.append(type & 0x1F)
            offset += 2 + Int(size)
        }
        return types
    }

    static let cannedCases: [(String, String)] = [
        ("redirect", "RTSP/1.0 302 Moved Temporarily\r\nCSeq: 1\r\nLocation: rtsp://203.0.113.9:554/elsewhere\r\n\r\n"),
        (
            "huge SDP",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: \(hugeSDP.utf8.count)\r\n\r\n\(hugeSDP)"
        ),
        (
            "absurd SDP line",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: \(absurdSDP.utf8.count)\r\n\r\n\(absurdSDP)"
        ),
        (
            "Content-Base elsewhere",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Base: rtsp://203.0.113.9:554/evil/\r\nContent-Length: \(plainSDP.utf8.count)\r\n\r\n\(plainSDP)"
        ),
    ]
    static let plainSDP =
        "v=0\r\no=- 1 1 IN IP4 203.0.113.9\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"
    static let hugeSDP =
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\n" + String(repeating: "m=video 0 RTP/AVP 96\r\n", count: 2000)
    static let absurdSDP =
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=x:"
        + String(repeating: "z", count: 10_000) + "\r\n"

    @Test(arguments: cannedCases)
    func hostileDescribeAnswers(_ name: String, _ reply: String) async throws {
        try await Self.run { fixture in
            try await Self.bothPlaying(fixture)
            fixture.bad.respond(to: .describe, with: ByteBuffer(string: reply))
            fixture.bad.closeAllConnections()
            try await eventually("the hostile camera's session ended") { try await fixture.stats().bad.reconnects >= 1 }
            try await Task.sleep(for: .seconds(1))
            let frames = try await Self.framesOnGoodCamera(fixture, for: 2)
            #expect(Double(frames) >= 25 * 2 * 0.85, "\(name): the good camera's reader got \(frames) frames")
            let (_, bad) = try await fixture.stats()
            #expect(!bad.upstreamUp, "\(name): the hostile camera's stream was accepted")
            // Whatever the camera named, every request went to the configured camera address.
            let port = fixture.bad.port
            #expect(
                fixture.bad.requestURIs.allSatisfy { $0.hasPrefix("rtsp://127.0.0.1:\(port)/") },
                "\(fixture.bad.requestURIs)"
            )
            switch name {
            case "redirect": #expect(bad.lastError?.contains("redirect") == true, "\(bad.lastError ?? "")")
            case "huge SDP", "absurd SDP line":
                #expect(bad.lastError?.contains("SDP") == true, "\(bad.lastError ?? "")")
            default:
                #expect(
                    fixture.bad.requestCount(.setup) >= 1,
                    "the SETUP after a foreign Content-Base went to the camera"
                )
            }
        }
    }
}
