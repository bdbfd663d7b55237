import CameraSimulator
import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// The simulator's ONVIF backchannel (ONVIF Streaming Specification §5.3), which the gateway's relay tests rely on:
/// offered only to a client that requires it, refused with 551 by a camera that has none.
@Suite struct SimulatorBackchannelTests {
    static let require: RTSPHeaders = [RTSPHeaders.require: "www.onvif.org/ver20/backchannel"]

    @Test func aCameraWithoutBackchannelRefusesTheOption() async throws {
        try await withSimulator { simulator in
            let client = try await TestRTSPClient.connect(port: simulator.port)
            let response = try await client.request(.describe, simulator.url, headers: Self.require)
            #expect(response.status == .optionNotSupported)
            #expect(response.headers[RTSPHeaders.unsupported] == "www.onvif.org/ver20/backchannel")
            await client.close()
        }
    }

    @Test func theBackchannelIsOfferedOnlyWhenRequiredAndCountsWhatArrives() async throws {
        try await withSimulator(backchannel: .pcmu) { simulator in
            let plain = try await TestRTSPClient.connect(port: simulator.port)
            let description = try await plain.request(.describe, simulator.url)
            #expect(try SDPParser.parse(String(buffer: description.body)).media.count == 1)
            await plain.close()

            let client = try await TestRTSPClient.connect(port: simulator.port)
            let (_, sdp) = try await client.play(simulator.url, allTracks: true, headers: Self.require)
            #expect(sdp.media.count == 2)
            #expect(sdp.media[1].type == "audio")
            #expect(sdp.media[1].attributes.contains { $0.name == "sendonly" })
            #expect(sdp.media[1].rtpmap(payloadType: "0")?.encoding == "PCMU")
            var frames = ByteBuffer()
            for n in 0..<10 {
                var packet = ByteBuffer()
                packet.writeMultipleIntegers(UInt8(0x80), UInt8(0), UInt16(n), UInt32(n * 160), UInt32(0xABCD))
                packet.writeRepeatingByte(0xFF, count: 160)
                RTSPMessageSerializer.writeInterleavedHeader(channel: 2, length: packet.readableBytes, into: &frames)
                frames.writeImmutableBuffer(packet)
            }
            try await client.sendRaw(frames)
            try await waitUntil { simulator.backchannelReceived.packets == 10 }
            #expect(simulator.backchannelReceived.bytes == 1600)
            await client.close()
        }
    }
}
