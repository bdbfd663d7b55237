import CameraSimulator
import RTSPRelay
import TestSupport
import Testing

/// Camera firmware habits relays trip on, as the anchors' users report them: the gateway pulls each camera,
/// keeps its session through keep-alives, and its reader gets video.
@Suite struct CameraQuirkTests {
    static let credentials = CameraSimulator.Credentials(username: "admin", password: "Quirk-Pass-1")

    @Test(arguments: CameraSimulator.Quirk.allCases)
    func aQuirkyCameraIsRelayed(_ quirk: CameraSimulator.Quirk) async throws {
        var options = RelayFixture.Options()
        options.cameraQuirks = [quirk]
        options.cameraCredentials = Self.credentials
        // Keep-alives every half of it: a few of them within the test, each a request of its own.
        options.cameraSessionTimeout = 3
        try await RelayFixture.run(options) { fixture in
            let reader = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await reader.play(fixture.url, timeout: .seconds(10))
            #expect(try await reader.interleavedFrames(count: 20).count >= 20, "\(quirk)")
            try await Task.sleep(for: .seconds(5))
            _ = reader.takeInterleaved()
            #expect(try await reader.interleavedFrames(count: 10, timeout: .seconds(3)).count >= 10, "\(quirk)")
            #expect(fixture.simulator.sessionsOpened == 1, "\(quirk): the camera's session did not hold")
            #expect(fixture.simulator.requestCount(.getParameter) >= 2, "\(quirk): keep-alives")
            if quirk == .freshNoncePerRequest {
                // Every request after the first sign-in was challenged again, keep-alives included, and answered.
                #expect(fixture.simulator.challengesSent >= 3 + fixture.simulator.requestCount(.getParameter) / 2)
            }
            if quirk == .paddedSessionID {
                let direct = try await TestRTSPClient.connect(
                    port: fixture.simulator.port,
                    authenticator: ClientAuthenticator(username: "admin", password: "Quirk-Pass-1")
                )
                _ = try await direct.request(.describe, fixture.simulator.url)
                let setup = try await direct.request(
                    .setup,
                    fixture.simulator.url + "/trackID=0",
                    headers: [RTSPHeaders.transport: "RTP/AVP/TCP;unicast;interleaved=0-1"]
                )
                let value = setup.headers[RTSPHeaders.session] ?? ""
                #expect(value.hasPrefix("0000") && value.contains("  ;timeout"), "the quirk is on: \(value)")
                await direct.close()
            }
            if quirk == .contentBaseWithQuery {
                #expect(
                    fixture.simulator.requestURIs.contains { $0.hasSuffix("?transportmode=unicast/trackID=0") },
                    "the control URL is the base and the track joined: \(fixture.simulator.requestURIs)"
                )
            }
            await reader.close()
        }
    }
}
