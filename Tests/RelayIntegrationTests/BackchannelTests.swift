import CameraSimulator
import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// The ONVIF audio backchannel (ONVIF Streaming Specification §5.3): off unless the camera's configuration turns
/// it on; then one reader at a time talks to the camera's speaker, through the same checks as camera packets.
@Suite struct BackchannelTests {
    static let require: RTSPHeaders = [RTSPHeaders.require: RTSPHeaders.onvifBackchannel]

    /// `count` PCMU packets (or of `payloadType`) on interleaved channel `channel`, from the reader's own SSRC.
    static func audio(count: Int, channel: UInt8, payloadType: UInt8 = 0) -> ByteBuffer {
        var frames = ByteBuffer()
        for n in 0..<count {
            var packet = ByteBuffer()
            packet.writeMultipleIntegers(UInt8(0x80), payloadType, UInt16(n), UInt32(n * 160), UInt32(0x5EED))
            packet.writeRepeatingByte(0x7F, count: 160)
            RTSPMessageSerializer.writeInterleavedHeader(channel: channel, length: packet.readableBytes, into: &frames)
            frames.writeImmutableBuffer(packet)
        }
        return frames
    }

    @Test func offByDefaultEvenWhenTheCameraHasOne() async throws {
        try await RelayFixture.run(.init(cameraBackchannel: .pcmu)) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let refused = try await client.request(.describe, fixture.url, headers: Self.require, timeout: .seconds(10))
            #expect(refused.status == .optionNotSupported)
            #expect(refused.headers[RTSPHeaders.unsupported] == RTSPHeaders.onvifBackchannel)
            let (_, sdp) = try await client.play(fixture.url, allTracks: true)
            #expect(sdp.media.count == 1)
            // Audio sent anyway, on the channel a backchannel would use, goes nowhere.
            try await client.sendRaw(Self.audio(count: 10, channel: 2))
            _ = try await client.interleavedFrames(count: 20)
            #expect(fixture.simulator.backchannelReceived.packets == 0)
            await client.close()
        }
    }

    @Test func aReaderTalksToTheCameraThroughTheChecks() async throws {
        try await RelayFixture.run(.init(cameraBackchannel: .pcmu, relayBackchannel: true)) { fixture in
            // A reader that does not ask is not told of the backchannel.
            let watcher = try await TestRTSPClient.connect(port: fixture.port)
            let (_, plain) = try await watcher.play(fixture.url, allTracks: true)
            #expect(plain.media.count == 1)

            let talker = try await TestRTSPClient.connect(port: fixture.port)
            let (_, sdp) = try await talker.play(fixture.url, allTracks: true, headers: Self.require)
            #expect(sdp.media.count == 2)
            #expect(sdp.media[1].attributes.contains { $0.name == "sendonly" })
            #expect(sdp.media[1].rtpmap(payloadType: "0")?.encoding == "PCMU")
            try await talker.sendRaw(Self.audio(count: 20, channel: 2))
            try await eventually("20 packets at the camera") { fixture.simulator.backchannelReceived.packets == 20 }
            #expect(fixture.simulator.backchannelReceived.bytes == 20 * 160)
            // A payload type the camera did not announce is dropped, as it would be coming from a camera.
            try await talker.sendRaw(Self.audio(count: 5, channel: 2, payloadType: 8))
            try await eventually("the bad packets counted") {
                try await fixture.relay.stats().stream("cam", "main")?.dropped[.unexpectedPayloadType] == 5
            }
            #expect(fixture.simulator.backchannelReceived.packets == 20)
            #expect(try await fixture.relay.stats().stream("cam", "main")?.backchannelPackets == 20)

            // One talker at a time: a second gets 453 at PLAY, and the floor once the first has gone.
            let second = try await TestRTSPClient.connect(port: fixture.port)
            await #expect(throws: (any Error).self) {
                try await second.play(fixture.url, allTracks: true, headers: Self.require)
            }
            await talker.close()
            try await eventually("the talker gone") {
                try await fixture.relay.stats().stream("cam", "main")?.readers.count == 1
            }
            let third = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await third.play(fixture.url, allTracks: true, headers: Self.require)
            try await third.sendRaw(Self.audio(count: 3, channel: 2))
            try await eventually("the new talker heard") { fixture.simulator.backchannelReceived.packets == 23 }
            #expect(fixture.simulator.sessionsOpened == 1, "the backchannel rides the one camera session")
            await third.close()
            await second.close()
            await watcher.close()
        }
    }

    @Test func aCameraWithoutBackchannelStillStreams() async throws {
        try await RelayFixture.run(.init(relayBackchannel: true)) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let refused = try await client.request(.describe, fixture.url, headers: Self.require, timeout: .seconds(10))
            #expect(refused.status == .optionNotSupported)
            _ = try await client.play(fixture.url)
            _ = try await client.interleavedFrames(count: 20)
            // The gateway asked with Require, took the camera's 551, and asked again without.
            #expect(fixture.simulator.requestCount(.describe) == 2)
            await client.close()
        }
    }

    @Test func unknownRequireOptionsAreRefusedByName() async throws {
        try await RelayFixture.run { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let response = try await client.request(
                .describe,
                fixture.url,
                headers: [RTSPHeaders.require: "com.example.teleport, \(RTSPHeaders.onvifBackchannel)"]
            )
            #expect(response.status == .optionNotSupported)
            #expect(response.headers[RTSPHeaders.unsupported] == "com.example.teleport")
            await client.close()
        }
    }
}
