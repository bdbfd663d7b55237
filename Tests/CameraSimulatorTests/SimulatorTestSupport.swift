import CameraSimulator
import RTSPRelay

/// Runs `body` with a simulator on a free loopback port, and stops it afterwards whatever happens.
func withSimulator<T>(
    credentials: CameraSimulator.Credentials? = nil,
    backchannel: MediaClip.Codec? = nil,
    _ body: (CameraSimulator) async throws -> T
) async throws -> T {
    var configuration = CameraSimulator.Configuration()
    configuration.credentials = credentials
    configuration.backchannel = backchannel
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
