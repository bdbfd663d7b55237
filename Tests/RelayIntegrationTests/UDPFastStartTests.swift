import CameraSimulator
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RTSPRelay
import TestSupport
import Testing

/// A UDP reader joining a running stream gets the cached keyframe as datagrams on its own ports, at once, and
/// nothing interleaved on its RTSP connection (where a UDP client would not look for it).
@Suite struct UDPFastStartTests {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let datagrams = NIOLockedValueBox<[ByteBuffer]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = Self.unwrapInboundIn(data)
            self.datagrams.withLockedValue { $0.append(envelope.data) }
        }
    }

    @Test func aLateUDPReaderStartsAtTheCachedKeyframe() async throws {
        try await RelayFixture.run { fixture in
            let watcher = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await watcher.play(fixture.url)
            _ = try await watcher.interleavedFrames(count: 40)
            try await Task.sleep(for: .milliseconds(700))  // mid-GOP: the keyframe is only in the cache now

            let collector = Collector()
            let rtp = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in channel.pipeline.addHandler(collector) }
                .bind(host: "127.0.0.1", port: 0).get()
            let port = try #require(rtp.localAddress?.port)
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let describe = try await client.request(.describe, fixture.url)
            #expect(describe.status == .ok)
            let setup = try await client.request(
                .setup,
                fixture.url + "/trackID=0",
                headers: [RTSPHeaders.transport: "RTP/AVP;unicast;client_port=\(port)-\(port + 1)"]
            )
            let session = try RTSPSessionHeader.parse(try #require(setup.headers[RTSPHeaders.session])).id
            let joined = ContinuousClock.now
            let play = try await client.request(.play, fixture.url, headers: [RTSPHeaders.session: session])
            #expect(play.status == .ok)
            try await eventually("datagrams") { collector.datagrams.withLockedValue { $0.count } >= 10 }
            #expect(ContinuousClock.now - joined < .milliseconds(500), "from the cache, not the camera's next IDR")
            let first = try #require(collector.datagrams.withLockedValue { $0.first })
            #expect(
                KeyframeDetector.startsKeyframe(
                    first.getSlice(at: first.readerIndex + 12, length: first.readableBytes - 12)!,
                    codec: .h264
                )
            )
            try await Task.sleep(for: .milliseconds(200))
            #expect(client.takeInterleaved().isEmpty, "nothing interleaved for a UDP reader")
            await client.close()
            await watcher.close()
            try await rtp.close()
        }
    }
}
