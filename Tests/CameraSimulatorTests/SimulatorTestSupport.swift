import CameraSimulator
import RTSPRelay

/// Runs `body` with a simulator on a free loopback port, and stops it afterwards whatever happens.
func withSimulator<T>(
    credentials: CameraSimulator.Credentials? = nil,
    _ body: (CameraSimulator) async throws -> T
) async throws -> T {
    var configuration = CameraSimulator.Configuration()
    configuration.credentials = credentials
    let simulator = try CameraSimulator(configuration: configuration)
    try await simulator.start()
    do {
        let result = try await body(simulator)
        try await simulator.stop()
        return result
    } catch {
        try? await simulator.stop()
        throw error
    }
}

/// The fields of an RTP packet's fixed header that the tests look at.
struct RTPHeader: Equatable {
    var marker: Bool
    var payloadType: UInt8
    var sequence: UInt16
    var timestamp: UInt32
    var ssrc: UInt32
    var firstPayloadByte: UInt8
    var secondPayloadByte: UInt8

    init?(_ frame: InterleavedFrame) {
        let p = frame.payload
        guard p.readableBytes >= 14,
            let (b0, b1, seq, ts, ssrc) = p.getMultipleIntegers(
                at: p.readerIndex,
                as: (UInt8, UInt8, UInt16, UInt32, UInt32).self
            ),
            b0 >> 6 == 2
        else { return nil }
        self.marker = b1 & 0x80 != 0
        self.payloadType = b1 & 0x7F
        self.sequence = seq
        self.timestamp = ts
        self.ssrc = ssrc
        self.firstPayloadByte = p.getInteger(at: p.readerIndex + 12)!
        self.secondPayloadByte = p.getInteger(at: p.readerIndex + 13)!
    }
}
