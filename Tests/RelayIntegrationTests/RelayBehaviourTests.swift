import CameraSimulator
import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// The relay's behaviour as a reader sees it through its real socket: continuity, slow readers, on-demand pulls,
/// keep-alives, errors.
@Suite struct RelayBehaviourTests {
    @Test func readersSurviveACameraRestartWithContinuousNumbering() async throws {
        try await RelayFixture.run { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url)
            var packets = try await client.interleavedFrames(count: 60).compactMap(ReceivedRTP.init)
            let restartedAt = ContinuousClock.now
            fixture.simulator.restart()
            // Backoff starts at 200 ms here: packets must flow again within backoff + 2 s.
            var resumed = false
            while ContinuousClock.now - restartedAt < .milliseconds(2400) {
                try await Task.sleep(for: .milliseconds(20))
                let more = client.takeInterleaved().compactMap(ReceivedRTP.init)
                packets += more
                if fixture.simulator.sessionsOpened == 2, !more.isEmpty { resumed = true }
                if resumed, ContinuousClock.now - restartedAt > .milliseconds(1500) { break }
            }
            #expect(resumed, "no packets within backoff + 2 s of the restart")
            packets += try await client.interleavedFrames(count: 30).compactMap(ReceivedRTP.init)
            #expect(fixture.simulator.sessionsOpened == 2)
            #expect(Set(packets.map(\.ssrc)).count == 1, "the reader's SSRC changed")
            var gaps = 0
            var timeWentBack = false
            for (a, b) in zip(packets, packets.dropFirst()) {
                if b.sequence != a.sequence &+ 1 { gaps += 1 }
                if Int32(bitPattern: b.timestamp &- a.timestamp) < 0 { timeWentBack = true }
            }
            #expect(gaps == 0, "sequence gaps seen by the reader")
            #expect(!timeWentBack, "RTP time ran backwards for the reader")
            #expect(!client.isClosed)
            await client.close()
        }
    }

    /// A camera that restarts now and then, streaming for a few seconds in between, is pulled again after the
    /// minimum backoff each time: the delay no longer grows across outages (1 s, 2 s, 4 s with a backoff reset only
    /// after a healthy minute).
    @Test func backoffReturnsToItsMinimumAfterAShortHealthyPeriod() async throws {
        var options = RelayFixture.Options()
        options.backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0)
        try await RelayFixture.run(options) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url)
            var outages: [Duration] = []
            for round in 0..<3 {
                // Six seconds of video: more than the five that make a session healthy.
                let streaming = ContinuousClock.now
                while ContinuousClock.now - streaming < .seconds(6) {
                    try await Task.sleep(for: .milliseconds(50))
                    _ = client.takeInterleaved()
                }
                let restartedAt = ContinuousClock.now
                fixture.simulator.restart()
                var resumed = false
                while !resumed, ContinuousClock.now - restartedAt < .seconds(8) {
                    try await Task.sleep(for: .milliseconds(20))
                    let more = client.takeInterleaved()
                    resumed = fixture.simulator.sessionsOpened == round + 2 && !more.isEmpty
                }
                #expect(resumed, "round \(round): no packets within 8 s of the restart")
                outages.append(ContinuousClock.now - restartedAt)
            }
            print("outages after camera restarts 6 s apart (backoff 1 s minimum):", outages)
            // Each outage is the 1 s backoff plus the reconnect and the wait for a keyframe (about one more second
            // here); a grown backoff would add 1 s, then 3 s.
            #expect(outages.allSatisfy { $0 < .milliseconds(2800) }, "the backoff grew: \(outages)")
            #expect(outages.max()! - outages.min()! < .milliseconds(600), "the backoff grew: \(outages)")
            await client.close()
        }
    }

    /// The camera's sender reports reach readers written anew: the readers' SSRC, the readers' RTP time.
    @Test func senderReportsAreRewrittenForReaders() async throws {
        try await RelayFixture.run { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url)
            var frames: [InterleavedFrame] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while !frames.contains(where: { $0.channel == 1 }), ContinuousClock.now < deadline {
                frames += try await client.interleavedFrames(count: 1)
            }
            let rtp = try #require(frames.compactMap(ReceivedRTP.init).last)
            let rtcp = try #require(frames.last { $0.channel == 1 })
            let report = try #require(try RTPCheck.validateRTCP(rtcp.payload, maxSize: 1500).get())
            #expect(report.ssrc == rtp.ssrc)
            // RTP time of the report is within a few seconds of the packets' (same clock, same offset).
            #expect(abs(Int64(Int32(bitPattern: report.rtpTime &- rtp.timestamp))) < 90_000 * 5)
            // The stream parses on after it: the `$` length matched the report.
            _ = try await client.interleavedFrames(count: 30)
            #expect(!client.isClosed)
            await client.close()
        }
    }

    @Test func slowReaderIsCutOffWithoutSlowingOthers() async throws {
        let options = RelayFixture.Options(
            readerMaxQueuedBytes: 64 * 1024,
            readerMaxBehind: .seconds(2),
            readerSocketSendBuffer: 16 * 1024
        )
        try await RelayFixture.run(options) { fixture in
            let good = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await good.play(fixture.url)
            _ = try await good.interleavedFrames(count: 5)  // the camera's stream is flowing (it starts at a keyframe)
            let slow = try await TestRTSPClient.connect(port: fixture.port, receiveBuffer: 4096)
            _ = try await slow.play(fixture.url)
            try await slow.stopReading()
            _ = good.takeInterleaved()
            let start = ContinuousClock.now
            var maxQueued = 0
            var slowDropped = 0
            var frames = 0
            while ContinuousClock.now - start < .seconds(30) {
                try await Task.sleep(for: .milliseconds(50))
                frames += good.takeInterleaved().compactMap(ReceivedRTP.init).filter(\.marker).count
                let readers = try await fixture.relay.stats().stream("cam", "main")?.readers ?? []
                if let slowStats = readers.max(by: { $0.queuedBytes < $1.queuedBytes }) {
                    maxQueued = max(maxQueued, slowStats.queuedBytes)
                    slowDropped = max(slowDropped, readers.map(\.packetsDropped).max() ?? 0)
                }
                if readers.count == 1 { break }
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let readers = try await fixture.relay.stats().stream("cam", "main")?.readers ?? []
            #expect(readers.count == 1, "the slow reader was not cut off")
            #expect(slowDropped > 0, "the slow reader was never skipped to a keyframe")
            // Bounded: the high-water mark plus the access unit being finished, never the whole backlog.
            #expect(maxQueued <= 64 * 1024 + 256 * 1024, "queued \(maxQueued) bytes for the slow reader")
            // The good reader kept the clip's 25 fps while the slow one backed up (90 % allows for start-up).
            #expect(Double(frames) >= 25 * seconds * 0.9, "good reader got \(frames) frames in \(seconds) s")
            #expect(!good.isClosed)
            await good.close()
            await slow.close()
        }
    }

    @Test func onDemandPullStartsWithTheFirstReaderAndLingers() async throws {
        try await RelayFixture.run { fixture in
            try await Task.sleep(for: .milliseconds(300))
            #expect(fixture.simulator.sessionsOpened == 0, "an on-demand camera was pulled with no reader")
            let first = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await first.play(fixture.url)
            _ = try await first.interleavedFrames(count: 10)
            // A second reader joins the running stream at once: no new camera session, a keyframe first.
            let joinedAt = ContinuousClock.now
            let second = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await second.play(fixture.url)
            let firstPackets = try await second.interleavedFrames(count: 1, timeout: .seconds(1))
            #expect(ContinuousClock.now - joinedAt < .milliseconds(500))
            let firstPayload = try #require(firstPackets.first?.payload)
            #expect(
                firstPayload.getInteger(at: firstPayload.readerIndex + 12, as: UInt8.self).map { $0 & 0x1F } == 24,
                "fast start begins with SPS/PPS"
            )
            #expect(fixture.simulator.sessionsOpened == 1)
            await first.close()
            await second.close()
            // The camera session closes `linger` (2 s here) after the last reader.
            try await eventually("camera session closed after linger") { fixture.simulator.activeSessions == 0 }
            #expect(fixture.simulator.requestCount(.teardown) == 1)
        }
    }

    @Test func keepAlivesHoldTheCameraSession() async throws {
        try await RelayFixture.run(.init(cameraSessionTimeout: 3)) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url)
            try await Task.sleep(for: .seconds(5))
            _ = client.takeInterleaved()
            _ = try await client.interleavedFrames(count: 10, timeout: .seconds(2))
            #expect(fixture.simulator.sessionsOpened == 1, "the camera dropped the session: keep-alives missing")
            #expect(fixture.simulator.requestCount(.getParameter) >= 2)
            // The gateway's own receiver reports reach the camera (every 5 s).
            try await eventually("receiver report at the camera") { fixture.simulator.rtcpReceived >= 1 }
            await client.close()
        }
    }

    @Test func stalledCameraIsReconnected() async throws {
        try await RelayFixture.run(.init(stallTimeout: .seconds(1))) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url)
            _ = try await client.interleavedFrames(count: 5)
            fixture.simulator.setStalled(true)
            try await eventually("reconnect after stall") { fixture.simulator.sessionsOpened >= 2 }
            fixture.simulator.setStalled(false)
            _ = client.takeInterleaved()
            _ = try await client.interleavedFrames(count: 10, timeout: .seconds(5))
            let stats = try #require(try await fixture.relay.stats().stream("cam", "main"))
            #expect(stats.reconnects >= 1)
            await client.close()
        }
    }

    @Test func unreachableCameraGets503AndBacksOff() async throws {
        try await RelayFixture.run { fixture in
            try await fixture.simulator.stop()
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let describe = try await client.request(.describe, fixture.url, timeout: .seconds(10))
            #expect(describe.status == .serviceUnavailable)
            let stats = try #require(try await fixture.relay.stats().stream("cam", "main"))
            #expect(stats.lastError?.contains("connect") == true)
            await client.close()
        }
    }

    @Test func wrongCameraCredentialsAreNotRetriedInALoop() async throws {
        let options = RelayFixture.Options(
            cameraCredentials: .init(username: "admin", password: "right"),
            relayPassword: "wrong"
        )
        try await RelayFixture.run(options) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            #expect(
                try await client.request(.describe, fixture.url, timeout: .seconds(10)).status == .serviceUnavailable
            )
            let stats = try #require(try await fixture.relay.stats().stream("cam", "main"))
            #expect(stats.lastError?.contains("refused the credentials") == true)
            // One attempt with credentials per connection, not a burst that locks the camera's account.
            #expect(fixture.simulator.requestCount(.options) <= 4)
            await client.close()
        }
    }

    /// PAUSE stops the packets for that reader only; PLAY resumes it at a keyframe, never mid-frame.
    @Test func pauseAndResume() async throws {
        try await RelayFixture.run { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let session = try await client.play(fixture.url)
            _ = try await client.interleavedFrames(count: 10)
            #expect(
                try await client.request(.pause, fixture.url, headers: [RTSPHeaders.session: session]).status == .ok
            )
            try await Task.sleep(for: .milliseconds(200))
            _ = client.takeInterleaved()
            try await Task.sleep(for: .milliseconds(500))
            #expect(client.takeInterleaved().isEmpty, "packets after PAUSE")
            #expect(try await client.request(.play, fixture.url, headers: [RTSPHeaders.session: session]).status == .ok)
            let resumed = try await client.interleavedFrames(count: 1, timeout: .seconds(5))
            let first = try #require(resumed.compactMap(ReceivedRTP.init).first)
            // A keyframe start: the STAP-A with SPS and PPS this camera sends before each IDR.
            #expect(first.firstPayloadByte & 0x1F == 24)
            await client.close()
        }
    }

    @Test func errorsAndSessionBinding() async throws {
        try await RelayFixture.run { fixture in
            let a = try await TestRTSPClient.connect(port: fixture.port)
            #expect(try await a.request(.describe, "rtsp://127.0.0.1:\(fixture.port)/nope/main").status == .notFound)
            #expect(try await a.request(.describe, "rtsp://127.0.0.1:\(fixture.port)/onlyone").status == .notFound)
            let session = try await a.play(fixture.url)
            let b = try await TestRTSPClient.connect(port: fixture.port)
            #expect(
                try await b.request(.play, fixture.url, headers: [RTSPHeaders.session: session]).status
                    == .sessionNotFound
            )
            #expect(
                try await b.request(.teardown, fixture.url, headers: [RTSPHeaders.session: session]).status
                    == .sessionNotFound
            )
            #expect(try await b.request(.record, fixture.url).status == .methodNotAllowed)
            #expect(try await b.request(RTSPMethod("FROB"), fixture.url).status == .notImplemented)
            #expect(
                try await a.request(.getParameter, fixture.url, headers: [RTSPHeaders.session: session]).status == .ok
            )
            // A malformed request gets its status and a closed connection.
            try await b.sendRaw(
                ByteBuffer(string: "DESCRIBE \(fixture.url) RTSP/1.0\r\nCSeq: 9\r\nContent-Length: -1\r\n\r\n")
            )
            #expect(await b.waitUntilClosed())
            // The reader on `a` is untouched.
            _ = a.takeInterleaved()
            _ = try await a.interleavedFrames(count: 5)
            await a.close()
        }
    }
}
