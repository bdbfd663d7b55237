import CameraSimulator
import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// The simulator's protocol behaviour, packetization and fault switches, driven by our own test client.
@Suite struct SimulatorBehaviourTests {
    @Test func packetizesPerRFC6184AtTheClipFrameRate() async throws {
        try await withSimulator { simulator in try await Self.checkPacketization(simulator) }
    }

    // Kept out of the closure above: Swift 6.3.1's SendNonSendable pass crashes on this body inside it.
    private static func checkPacketization(_ simulator: CameraSimulator) async throws {
        do {
            let client = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await client.play(simulator.url)
            // Two seconds of 25 fps video: the stream starts at a keyframe.
            let frames = try await client.interleavedFrames(count: 250, timeout: .seconds(10))
            let rtp = frames.filter { $0.channel == 0 }.compactMap(ReceivedRTP.init)
            let rtcp = frames.filter { $0.channel == 1 }
            #expect(rtp.count > 100)
            #expect(rtp.allSatisfy { $0.payloadType == 96 && $0.ssrc == rtp[0].ssrc })
            for (a, b) in zip(rtp, rtp.dropFirst()) {
                #expect(b.sequence == a.sequence &+ 1)
                #expect(b.timestamp == a.timestamp || (a.marker && b.timestamp == a.timestamp &+ 3600))
            }
            // The first packet is a STAP-A with SPS and PPS (RFC 6184 §5.7.1): type 24, first NAL type 7.
            #expect(rtp[0].firstPayloadByte & 0x1F == 24)
            let nalTypes = Set(rtp.map { $0.firstPayloadByte & 0x1F })
            #expect(nalTypes.contains(28), "FU-A fragments for the large IDR")
            #expect(nalTypes.contains(1), "single NAL unit packets for P slices")
            // FU-A start and end bits come in pairs.
            let fuHeaders = rtp.filter { $0.firstPayloadByte & 0x1F == 28 }.map(\.secondPayloadByte)
            #expect(fuHeaders.filter { $0 & 0x80 != 0 }.count >= fuHeaders.filter { $0 & 0x40 != 0 }.count)
            #expect(fuHeaders.first.map { $0 & 0x80 != 0 && $0 & 0x1F == 5 } == true)
            // RTCP sender reports (PT 200) on the odd channel.
            #expect(!rtcp.isEmpty)
            #expect(rtcp.allSatisfy { $0.payload.getInteger(at: $0.payload.readerIndex + 1, as: UInt8.self) == 200 })
            await client.close()
        }
    }

    @Test func countsSessions() async throws {
        try await withSimulator { simulator in
            let a = try await TestRTSPClient.connect(port: simulator.port)
            let b = try await TestRTSPClient.connect(port: simulator.port)
            let sessionA = try await a.play(simulator.url)
            _ = try await b.play(simulator.url)
            #expect(simulator.sessionsOpened == 2)
            #expect(simulator.activeSessions == 2)
            let teardown = try await a.request(.teardown, simulator.url, headers: [RTSPHeaders.session: sessionA])
            #expect(teardown.status == .ok)
            #expect(simulator.activeSessions == 1)
            await b.close()
            try await waitUntil { simulator.activeSessions == 0 }
            #expect(simulator.sessionsOpened == 2)
            await a.close()
        }
    }

    @Test func statusCodes() async throws {
        try await withSimulator { simulator in
            let client = try await TestRTSPClient.connect(port: simulator.port)
            let base = "rtsp://127.0.0.1:\(simulator.port)"
            #expect(try await client.request(.describe, base + "/nope").status == .notFound)
            #expect(
                try await client.request(.play, simulator.url, headers: [RTSPHeaders.session: "123"]).status
                    == .sessionNotFound
            )
            let multicast = try await client.request(
                .setup,
                simulator.url + "/trackID=0",
                headers: [RTSPHeaders.transport: "RTP/AVP;multicast"]
            )
            #expect(multicast.status == .unsupportedTransport)
            let record = try await client.request(.record, simulator.url)
            #expect(record.status == .notImplemented)
            #expect(record.headers[RTSPHeaders.public]?.contains("DESCRIBE") == true)
            let options = try await client.request(.options, "*")
            #expect(RTSPMethodList.parse(options.headers[RTSPHeaders.public] ?? "").contains(.getParameter))
            await client.close()
        }
    }

    @Test(arguments: [
        [ClientAuthenticator.Scheme.digest(.md5)],
        [.digest(.sha256), .digest(.md5)],
        [.basic],
    ])
    func authenticationSchemes(_ schemes: [ClientAuthenticator.Scheme]) async throws {
        try await withSimulator(credentials: .init(username: "admin", password: "pw", schemes: schemes)) {
            simulator in
            let anonymous = try await TestRTSPClient.connect(port: simulator.port)
            let refused = try await anonymous.request(.describe, simulator.url)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers.values(RTSPHeaders.wwwAuthenticate).count == schemes.count)
            #expect(try await anonymous.request(.options, simulator.url).status == .ok)

            let client = try await TestRTSPClient.connect(
                port: simulator.port,
                authenticator: ClientAuthenticator(username: "admin", password: "pw", allowsBasic: true)
            )
            _ = try await client.play(simulator.url)
            #expect(client.authenticator.withLockedValue { $0?.scheme } == schemes.first)
            _ = try await client.interleavedFrames(count: 5)

            let wrong = try await TestRTSPClient.connect(
                port: simulator.port,
                authenticator: ClientAuthenticator(username: "admin", password: "nope", allowsBasic: true)
            )
            #expect(try await wrong.request(.describe, simulator.url).status == .unauthorized)
            for c in [anonymous, client, wrong] { await c.close() }
        }
    }

    // MARK: Faults

    @Test func closeAllConnections() async throws {
        try await withSimulator { simulator in
            let client = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await client.play(simulator.url)
            simulator.closeAllConnections()
            #expect(await client.waitUntilClosed())
        }
    }

    @Test func stallStopsAndResumesTheStream() async throws {
        try await withSimulator { simulator in
            let client = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await client.play(simulator.url)
            _ = try await client.interleavedFrames(count: 10)
            simulator.setStalled(true)
            // Let what was already on the way arrive (a busy machine can hold it a while), then expect silence.
            let drainDeadline = ContinuousClock.now + .seconds(3)
            repeat {
                _ = client.takeInterleaved()
                try await Task.sleep(for: .milliseconds(200))
            } while !client.takeInterleaved().isEmpty && ContinuousClock.now < drainDeadline
            try await Task.sleep(for: .milliseconds(500))
            #expect(client.takeInterleaved().isEmpty)
            // Requests are still answered while stalled.
            #expect(try await client.request(.getParameter, simulator.url).status == .ok)
            simulator.setStalled(false)
            _ = try await client.interleavedFrames(count: 10, timeout: .seconds(3))
            await client.close()
        }
    }

    @Test func restartComesBackWithNewSSRCAndSequence() async throws {
        try await withSimulator { simulator in
            let first = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await first.play(simulator.url)
            let before = try #require(try await first.interleavedFrames(count: 3).compactMap(ReceivedRTP.init).first)
            simulator.restart()
            #expect(await first.waitUntilClosed())
            let second = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await second.play(simulator.url)
            let after = try #require(try await second.interleavedFrames(count: 3).compactMap(ReceivedRTP.init).first)
            #expect(after.ssrc != before.ssrc)
            #expect(after.timestamp != before.timestamp)
            #expect(simulator.sessionsOpened == 2)
            await second.close()
        }
    }

    @Test func answersWithAChosenFixture() async throws {
        let fixture = try Fixtures.bytes("rtsp/retina_hikvision_describe.txt")
        try await withSimulator { simulator in
            simulator.respond(to: .describe, with: fixture)
            let client = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await client.request(.options, "*")  // CSeq 1, so that the fixture's CSeq 1 must be rewritten to 2
            let response = try await client.request(.describe, simulator.url)
            #expect(response.cseq == 2)
            #expect(response.headers[RTSPHeaders.contentBase] == "rtsp://192.168.5.106:554/Streaming/Channels/101/")
            #expect(response.body.readableBytes == 902)
            simulator.respond(to: .describe, with: nil)
            let normal = try await client.request(.describe, simulator.url)
            #expect(normal.headers[RTSPHeaders.contentBase]?.hasPrefix("rtsp://127.0.0.1:\(simulator.port)/") == true)
            await client.close()
        }
    }

    @Test func garbageResponsesBreakTheClientParser() async throws {
        try await withSimulator { simulator in
            simulator.sendGarbage(.responses)
            let client = try await TestRTSPClient.connect(port: simulator.port)
            await #expect(throws: (any Error).self) { try await client.request(.options, "*", timeout: .seconds(2)) }
            #expect(client.error is RTSPError || client.isClosed)
            await client.close()
        }
    }

    @Test func garbageInTheStreamBreaksTheClientParser() async throws {
        try await withSimulator { simulator in
            let client = try await TestRTSPClient.connect(port: simulator.port)
            _ = try await client.play(simulator.url)
            _ = try await client.interleavedFrames(count: 5)
            simulator.sendGarbage(.stream)
            #expect(await client.waitUntilClosed(timeout: .seconds(10)))
            #expect(client.error is RTSPError)
        }
    }

    @Test func servedSDPIsOurWritersAndParsesBack() async throws {
        try await withSimulator { simulator in
            let client = try await TestRTSPClient.connect(port: simulator.port)
            let response = try await client.request(.describe, simulator.url)
            let text = String(buffer: response.body)
            let sdp = try SDPParser.parse(text)
            #expect(SDPWriter.write(sdp) == text)
            #expect(sdp.media.first?.rtpmap(payloadType: "96")?.encoding == "H264")
            #expect(sdp.media.first?.fmtp(payloadType: "96")["sprop-parameter-sets"]?.contains(",") == true)
            await client.close()
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
