import CameraSimulator
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RTSPRelay
import TestSupport
import Testing

/// What VMSes need from a relay, as the anchors' users report it (MediaMTX, go2rtc): RTP-Info that is exact, a
/// sender report clock that stays consistent, UDP readers kept alive by GET_PARAMETER alone (Synology), a second
/// DESCRIBE on one connection that does not grow the tracks, and UDP readers of a TCP-pulled camera.
@Suite struct VMSQuirkTests {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let datagrams = NIOLockedValueBox<[ByteBuffer]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.datagrams.withLockedValue { $0.append(Self.unwrapInboundIn(data).data) }
        }
    }

    /// The PLAY answer's `seq` and `rtptime` are those of the first packet the reader gets: a VMS that maps RTP
    /// time to the PLAY range (or checks for loss from `seq`) is not off by an estimate.
    @Test func rtpInfoIsThatOfTheFirstPacket() async throws {
        try await RelayFixture.run { fixture in
            let watcher = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await watcher.play(fixture.url)
            _ = try await watcher.interleavedFrames(count: 30)
            for _ in 0..<3 {
                let client = try await TestRTSPClient.connect(port: fixture.port)
                let describe = try await client.request(.describe, fixture.url)
                #expect(describe.status == .ok)
                let setup = try await client.request(
                    .setup,
                    fixture.url + "/trackID=0",
                    headers: [RTSPHeaders.transport: "RTP/AVP/TCP;unicast;interleaved=0-1"]
                )
                let session = try RTSPSessionHeader.parse(try #require(setup.headers[RTSPHeaders.session])).id
                let play = try await client.request(.play, fixture.url, headers: [RTSPHeaders.session: session])
                let info = try RTPInfo.parse(try #require(play.headers[RTSPHeaders.rtpInfo]))
                let entry = try #require(info.entries.first)
                let first = try #require(
                    try await client.interleavedFrames(count: 1).compactMap(ReceivedRTP.init).first
                )
                #expect(entry.seq == first.sequence, "RTP-Info seq \(entry.seq ?? 0), first packet \(first.sequence)")
                #expect(
                    entry.rtptime == first.timestamp,
                    "RTP-Info rtptime \(entry.rtptime ?? 0), first packet \(first.timestamp)"
                )
                await client.close()
                try await Task.sleep(for: .milliseconds(300))
            }
            await watcher.close()
        }
    }

    /// Two sender reports a second apart: the wall clock (NTP) and the RTP clock they pair advance together,
    /// so a VMS that places frames on the camera's wall clock is not told two different times.
    @Test func senderReportClocksAdvanceTogether() async throws {
        try await RelayFixture.run { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.play(fixture.url)
            var reports: [RTCPSenderReport] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while reports.count < 3, ContinuousClock.now < deadline {
                for frame in try await client.interleavedFrames(count: 1) where frame.channel == 1 {
                    if case .success(let report?) = RTPCheck.validateRTCP(frame.payload, maxSize: 1500) {
                        reports.append(report)
                    }
                }
            }
            #expect(reports.count >= 3)
            for (a, b) in zip(reports, reports.dropFirst()) {
                let ntpSeconds = Double(b.ntpTime &- a.ntpTime) / Double(UInt64(1) << 32)
                let rtpSeconds = Double(Int32(bitPattern: b.rtpTime &- a.rtpTime)) / 90_000
                #expect(ntpSeconds > 0.5, "the NTP time advanced \(ntpSeconds) s")
                #expect(abs(ntpSeconds - rtpSeconds) < 0.005, "NTP \(ntpSeconds) s, RTP \(rtpSeconds) s")
            }
            await client.close()
        }
    }

    /// A UDP reader whose RTSP connection carries nothing but GET_PARAMETER (Synology Surveillance Station's
    /// keep-alive) keeps its session past the timeout; one that sends nothing loses it.
    @Test(arguments: [true, false])
    func getParameterAloneKeepsAUDPReader(_ keepsAlive: Bool) async throws {
        var options = RelayFixture.Options()
        options.relaySessionTimeout = 5
        try await RelayFixture.run(options) { fixture in
            let collector = Collector()
            let rtp = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in channel.pipeline.addHandler(collector) }
                .bind(host: "127.0.0.1", port: 0).get()
            let port = try #require(rtp.localAddress?.port)
            let client = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await client.request(.describe, fixture.url)
            let setup = try await client.request(
                .setup,
                fixture.url + "/trackID=0",
                headers: [RTSPHeaders.transport: "RTP/AVP;unicast;client_port=\(port)-\(port + 1)"]
            )
            #expect(setup.status == .ok, "a UDP reader of a camera pulled over TCP: converted, never 461")
            let session = try RTSPSessionHeader.parse(try #require(setup.headers[RTSPHeaders.session])).id
            #expect(try await client.request(.play, fixture.url, headers: [RTSPHeaders.session: session]).status == .ok)
            for _ in 0..<5 {
                try await Task.sleep(for: .seconds(2))
                if keepsAlive {
                    let ping = try await client.request(
                        .getParameter,
                        fixture.url,
                        headers: [RTSPHeaders.session: session]
                    )
                    #expect(ping.status == .ok)
                }
            }
            // 10 s in, twice the timeout: datagrams still arrive only for the reader that kept alive.
            collector.datagrams.withLockedValue { $0.removeAll() }
            try await Task.sleep(for: .milliseconds(500))
            let arriving = collector.datagrams.withLockedValue { $0.count }
            if keepsAlive {
                #expect(arriving > 0, "the session was dropped despite GET_PARAMETER keep-alives")
            } else {
                #expect(arriving == 0, "a silent UDP reader outlived its session timeout")
            }
            await client.close()
            try await rtp.close()
        }
    }

    /// A client that DESCRIBEs twice on one connection (some VMSes do before SETUP) gets the same tracks, and its
    /// SETUP and PLAY work on them.
    @Test func aSecondDescribeDoesNotDuplicateTracks() async throws {
        var options = RelayFixture.Options()
        options.media = [.h264, .aac]
        try await RelayFixture.run(options) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let first = try await client.request(.describe, fixture.url)
            let second = try await client.request(.describe, fixture.url)
            let firstSDP = try SDPParser.parse(String(buffer: first.body))
            let secondSDP = try SDPParser.parse(String(buffer: second.body))
            #expect(firstSDP.media.count == 2)
            #expect(secondSDP.media.count == firstSDP.media.count)
            #expect(secondSDP.media.map(\.control) == firstSDP.media.map(\.control))
            _ = try await client.play(fixture.url, allTracks: true)
            let frames = try await client.interleavedFrames(count: 40)
            #expect(Set(frames.map(\.channel)).isSubset(of: [0, 1, 2, 3]))
            await client.close()
        }
    }
}
