import Foundation
import RTSPRelay
import TestSupport
import Testing

/// VMS-side access control through the real socket, with ffmpeg as the client where it can be (ffmpeg 5.1 answers
/// only Digest MD5: offered SHA-256 first and MD5 second, it takes MD5), and our own client for SHA-256.
@Suite struct AccessControlTests {
    static let realm = "CamGateway"
    static let policy = ReaderAccessPolicy(
        realm: realm,
        users: [
            .withPassword("vms", "right-pass", realm: realm, streams: ["cam/*"]),
            .withPassword("lobbyonly", "lobby-pass", realm: realm, streams: ["lobby/main"]),
            .withPassword("remote", "remote-pass", realm: realm, streams: ["*"], sources: [CIDR("198.51.100.0/24")!]),
        ]
    )

    static func ffprobe(_ url: String) async throws -> ExternalTool.Result {
        try await ExternalTool.run(
            "ffprobe",
            ["-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0", url],
            timeout: 30
        )
    }

    static func withCredentials(_ url: String, _ user: String, _ password: String) -> String {
        url.replacingOccurrences(of: "rtsp://", with: "rtsp://\(user):\(password)@")
    }

    @Test func ffmpegWithRightAndWrongDigestMD5() async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            let good = try await Self.ffprobe(Self.withCredentials(fixture.url, "vms", "right-pass"))
            #expect(good.stdout.contains("h264"), "\(good.stderr)")
            let wrong = try await Self.ffprobe(Self.withCredentials(fixture.url, "vms", "wrong-pass"))
            #expect(wrong.status != 0)
            #expect(wrong.stderr.contains("401"))
            let anonymous = try await Self.ffprobe(fixture.url)
            #expect(anonymous.stderr.contains("401"))
            // A user that exists but may not read this camera: 403; the stream is not revealed either way.
            let notAllowed = try await Self.ffprobe(Self.withCredentials(fixture.url, "lobbyonly", "lobby-pass"))
            #expect(notAllowed.stderr.contains("403"), "\(notAllowed.stderr)")
        }
    }

    @Test(arguments: [DigestAlgorithm.sha256, .md5])
    func ourClientWithEachDigest(_ algorithm: DigestAlgorithm) async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            var authenticator = ClientAuthenticator(username: "vms", password: "right-pass")
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let challenge = try await client.request(.describe, fixture.url)
            #expect(challenge.status == .unauthorized)
            let offered = challenge.headers.values(RTSPHeaders.wwwAuthenticate)
            #expect(offered.count == 2, "Digest SHA-256 and MD5, no Basic without TLS: \(offered)")
            #expect(offered.first?.contains("SHA-256") == true)
            try authenticator.receivedChallenges(
                offered.filter { algorithm == .md5 ? !$0.contains("SHA-256") : $0.contains("SHA-256") }
            )
            #expect(authenticator.scheme == .digest(algorithm))
            let header = authenticator.authorization(method: .describe, uri: fixture.url)
            let value = try #require(header)
            let described = try await client.request(
                .describe,
                fixture.url,
                headers: [RTSPHeaders.authorization: value]
            )
            #expect(described.status == .ok)
            await client.close()
        }
    }

    @Test func basicIsRefusedWithoutTLS() async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let token = base64Encode(Array("vms:right-pass".utf8))
            let response = try await client.request(
                .describe,
                fixture.url,
                headers: [RTSPHeaders.authorization: "Basic \(token)"]
            )
            #expect(response.status == .unauthorized)
            await client.close()
        }
    }

    @Test func sourceOutsideTheUsersNetworksIsAFailedLogin() async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            // "remote" may read everything, but only from 198.51.100.0/24; this test connects from 127.0.0.1.
            let result = try await Self.ffprobe(Self.withCredentials(fixture.url, "remote", "remote-pass"))
            #expect(result.status != 0)
            #expect(result.stderr.contains("401"))
        }
    }

    /// Unknown users, wrong passwords and unknown streams all answer alike when unauthenticated.
    @Test func refusalsDoNotRevealUsersOrPaths() async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            let client = try await TestRTSPClient.connect(port: fixture.port)
            let unknownPath = try await client.request(.describe, "rtsp://127.0.0.1:\(fixture.port)/nope/main")
            let knownPath = try await client.request(.describe, fixture.url)
            #expect(unknownPath.status == .unauthorized && knownPath.status == .unauthorized)
            var authenticator = ClientAuthenticator(username: "vms", password: "right-pass")
            try authenticator.receivedChallenges(knownPath.headers.values(RTSPHeaders.wwwAuthenticate))
            let uri = "rtsp://127.0.0.1:\(fixture.port)/nope/main"
            let header = authenticator.authorization(method: .describe, uri: uri)
            let value = try #require(header)
            let forbidden = try await client.request(.describe, uri, headers: [RTSPHeaders.authorization: value])
            #expect(forbidden.status == .forbidden, "an unknown stream looks like one the user may not read")
            await client.close()
        }
    }

    @Test func failedLoginsAreRateLimitedPerSource() async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            for _ in 0..<10 {
                let wrong = try await Self.ffprobe(Self.withCredentials(fixture.url, "vms", "guess"))
                #expect(wrong.stderr.contains("401"))
            }
            // Past the limit even the right password is refused from this source for a while.
            let right = try await Self.ffprobe(Self.withCredentials(fixture.url, "vms", "right-pass"))
            #expect(right.status != 0)
            #expect(right.stderr.contains("401"))
        }
    }

    /// The same guesses for one user spread over many addresses, each under the per-source limit: past the
    /// per-user limit a new address is refused even with the right password, while the VMS that signed in before
    /// keeps its access (an attacker cannot lock it out) and other users are untouched.
    @Test func failedLoginsFromManyAddressesAreLimitedPerUser() async throws {
        try await RelayFixture.run(.init(access: Self.policy)) { fixture in
            func describe(_ user: String, _ password: String, from source: String) async throws -> RTSPStatus {
                let client = try await TestRTSPClient.connect(
                    port: fixture.port,
                    authenticator: ClientAuthenticator(username: user, password: password),
                    localAddress: source
                )
                defer { Task { await client.close() } }
                return try await client.request(.describe, fixture.url).status
            }
            func expectStatus(
                _ user: String,
                _ password: String,
                from source: String,
                _ expected: RTSPStatus,
                sourceLocation: SourceLocation = #_sourceLocation
            ) async throws {
                let status = try await describe(user, password, from: source)
                #expect(status == expected, "\(user) from \(source)", sourceLocation: sourceLocation)
            }
            try await expectStatus("vms", "right-pass", from: "127.0.0.1", .ok)
            // 8 addresses × 4 wrong guesses: 32 failures for "vms", none of the sources near its own limit of 10.
            for host in 2...9 {
                for guess in 0..<4 {
                    try await expectStatus("vms", "guess-\(guess)", from: "127.0.0.\(host)", .unauthorized)
                }
            }
            try await expectStatus("vms", "right-pass", from: "127.0.0.20", .unauthorized)
            try await expectStatus("vms", "right-pass", from: "127.0.0.1", .ok)
            try await expectStatus("lobbyonly", "lobby-pass", from: "127.0.0.21", .forbidden)
            // A source that only ever tried other names is not refused for "vms" on its own account: the user is.
            try await expectStatus("vms", "right-pass", from: "127.0.0.2", .unauthorized)
        }
    }

    /// Who: anyone on the VMS network, from addresses a user may not come from. Their guesses at a user bound to
    /// the VMS's address do not count for it: after 32 of them (past the per-user limit of 30), the VMS signs in
    /// for the first time — after a restart, with no trust yet — as if nothing had happened.
    @Test func guessesFromOutsideAUsersNetworksDoNotLockItOut() async throws {
        let policy = ReaderAccessPolicy(
            realm: Self.realm,
            users: [
                .withPassword(
                    "pinned",
                    "pinned-pass",
                    realm: Self.realm,
                    streams: ["*"],
                    sources: [CIDR("127.0.0.1/32")!]
                )
            ]
        )
        try await RelayFixture.run(.init(access: policy)) { fixture in
            func describe(_ password: String, from source: String) async throws -> RTSPStatus {
                let client = try await TestRTSPClient.connect(
                    port: fixture.port,
                    authenticator: ClientAuthenticator(username: "pinned", password: password),
                    localAddress: source
                )
                defer { Task { await client.close() } }
                return try await client.request(.describe, fixture.url).status
            }
            for host in 2...9 {
                for guess in 0..<4 {
                    let status = try await describe("guess-\(guess)", from: "127.0.0.\(host)")
                    #expect(status == .unauthorized)
                }
            }
            // Even the right password from outside its networks is refused.
            let outside = try await describe("pinned-pass", from: "127.0.0.10")
            let inside = try await describe("pinned-pass", from: "127.0.0.1")
            #expect(outside == .unauthorized)
            #expect(inside == .ok)
        }
    }

    @Test func connectionsPerSourceAreLimited() async throws {
        var options = RelayFixture.Options()
        options.maxConnectionsPerSource = 2
        try await RelayFixture.run(options) { fixture in
            let a = try await TestRTSPClient.connect(port: fixture.port)
            let b = try await TestRTSPClient.connect(port: fixture.port)
            let c = try await TestRTSPClient.connect(port: fixture.port)
            #expect(try await a.request(.options, "*").status == .ok)
            #expect(try await c.request(.options, "*", timeout: .seconds(3)).status == .serviceUnavailable)
            #expect(await c.waitUntilClosed())
            // Over the limit and silent (or sending only `$` frames): closed within two seconds, not held.
            let silent = try await TestRTSPClient.connect(port: fixture.port)
            let opened = ContinuousClock.now
            #expect(await silent.waitUntilClosed())
            #expect(ContinuousClock.now - opened < .seconds(4))
            await b.close()
            await a.close()
        }
    }

    /// Who: anyone on the VMS network, without credentials. An OPTIONS a second does not hold a connection: with
    /// no session it is closed 10 s after it opened; a reader playing beside it is not.
    @Test func aConnectionWithoutASessionIsClosedWhateverItSends() async throws {
        try await RelayFixture.run(.init()) { fixture in
            let reader = try await TestRTSPClient.connect(port: fixture.port)
            _ = try await reader.play(fixture.url, timeout: .seconds(10))
            let idle = try await TestRTSPClient.connect(port: fixture.port)
            let opened = ContinuousClock.now
            var answered = 0
            while ContinuousClock.now - opened < .seconds(16), !idle.isClosed {
                if (try? await idle.request(.options, "*", timeout: .seconds(2)).status) == .ok { answered += 1 }
                try await Task.sleep(for: .seconds(1))
            }
            let lived = ContinuousClock.now - opened
            #expect(idle.isClosed, "still open after \(lived)")
            #expect(lived >= .seconds(9) && lived < .seconds(14), "closed after \(lived)")
            #expect(answered >= 8, "its requests were answered until then: \(answered)")
            _ = reader.takeInterleaved()
            #expect(try await reader.interleavedFrames(count: 5).count >= 5, "the reader plays on")
            await reader.close()
            await idle.close()
        }
    }

    /// Who: anyone on the VMS network, opening connections as fast as it can from one address past its limit.
    /// At most 64 refused connections wait out their 503 at once; the rest are closed at accept, so a flood
    /// cannot hold descriptors beyond the budget that refuses it.
    @Test func aFloodOfRefusedConnectionsIsClosedAtAccept() async throws {
        var options = RelayFixture.Options()
        options.maxConnectionsPerSource = 2
        try await RelayFixture.run(options) { fixture in
            let held = [
                try await TestRTSPClient.connect(port: fixture.port),
                try await TestRTSPClient.connect(port: fixture.port),
            ]
            var flood: [TestRTSPClient] = []
            for _ in 0..<150 { flood.append(try await TestRTSPClient.connect(port: fixture.port)) }
            try await Task.sleep(for: .milliseconds(700))
            let open = flood.filter { !$0.isClosed }.count
            #expect(open <= 64, "\(open) refused connections still open")
            #expect(open >= 32, "the first refused ones wait for their 503: \(open)")
            for client in flood { #expect(await client.waitUntilClosed(timeout: .seconds(5))) }
            // The held ones are untouched, and once the flood is gone a refused one gets its 503 again.
            for client in held { #expect(try await client.request(.options, "*").status == .ok) }
            let late = try await TestRTSPClient.connect(port: fixture.port)
            #expect(try await late.request(.options, "*", timeout: .seconds(3)).status == .serviceUnavailable)
            for client in held { await client.close() }
            await late.close()
        }
    }
}
