import CameraSimulator
import Foundation
import RTSPRelay
import TestSupport
import Testing

/// Who reaches it: anyone on the VMS network, from many addresses, right after the daemon restarts. The address
/// the VMS signed in from stays trusted across the restart, so guesses at the VMS's user from elsewhere lock
/// out the guessers, not the VMS.
@Suite struct LoginTrustTests {
    @Test func theVMSIsTrustedAcrossARestart() async throws {
        let camera = try CameraSimulator(configuration: .init())
        try await camera.start()
        let site = try AdminCLITests.Site()
        do {
            let add = try await site.camgw([
                "camera", "add", "lobby", "--address", "127.0.0.1", "--port", String(camera.port), "--stream",
                "main=/Streaming/Channels/101",
            ])
            #expect(add.status == 0, "\(add.stderr)")
            let user = try await site.camgw(
                ["user", "add", "vms", "--stream", "*", "--password-stdin"],
                input: "Vms-Pass-1234\n"
            )
            #expect(user.status == 0, "\(user.stderr)")

            func start() async throws -> (GatewayProcess, Int) {
                let daemon = try GatewayProcess(arguments: ["run", "--config", site.config])
                let url = try await daemon.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/lobby/main")
                return (daemon, try #require(Int(url.split(separator: ":")[2].split(separator: "/")[0])))
            }
            func describe(_ port: Int, _ password: String, from source: String) async throws -> RTSPStatus {
                let client = try await TestRTSPClient.connect(
                    port: port,
                    authenticator: ClientAuthenticator(username: "vms", password: password),
                    localAddress: source
                )
                defer { Task { await client.close() } }
                return try await client.request(.describe, "rtsp://127.0.0.1:\(port)/lobby/main").status
            }

            var (daemon, port) = try await start()
            let signedIn = try await describe(port, "Vms-Pass-1234", from: "127.0.0.1")
            #expect(signedIn == .ok)
            let file = site.directory.appendingPathComponent("login-trust.json").path
            let saved = ContinuousClock.now + .seconds(5)
            while !FileManager.default.fileExists(atPath: file), ContinuousClock.now < saved {
                try await Task.sleep(for: .milliseconds(50))
            }
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "the trust file is the daemon's own: \(String(mode ?? 0, radix: 8))")
            #expect((try? String(contentsOfFile: file, encoding: .utf8))?.contains("\"127.0.0.1\"") == true)
            _ = await daemon.terminate()

            (daemon, port) = try await start()
            #expect(daemon.stderr.contains("trusted VMS addresses restored"), "\(daemon.stderr.prefix(2000))")
            // 8 addresses × 4 guesses: past the per-user limit of 30, no address at its own limit of 10.
            for host in 2...9 {
                for guess in 0..<4 {
                    let status = try await describe(port, "guess-\(guess)", from: "127.0.0.\(host)")
                    #expect(status == .unauthorized)
                }
            }
            let stranger = try await describe(port, "Vms-Pass-1234", from: "127.0.0.20")
            let vms = try await describe(port, "Vms-Pass-1234", from: "127.0.0.1")
            #expect(stranger == .unauthorized, "the user is limited for addresses it never signed in from")
            #expect(vms == .ok, "the VMS's address is still trusted after the restart")
            #expect(daemon.isRunning)
            _ = await daemon.terminate()
        } catch {
            Issue.record(error)
        }
        try? await camera.stop()
        site.remove()
    }
}
