import Logging
import NIOConcurrencyHelpers
import NIOCore
import RTSPRelay
import Testing

@Suite struct AuthenticationTests {
    /// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
    @Test(arguments: [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ])
    func rfc7616Example(algorithm: String, expected: String) throws {
        var client = ClientAuthenticator(username: "Mufasa", password: "Circle of Life") {
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
        }
        try client.receivedChallenges([
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=\(algorithm), "
                + "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ])
        let valueHeader = client.authorization(method: RTSPMethod("GET"), uri: "/dir/index.html")
        let value = try #require(valueHeader)
        let credentials = try #require(try AuthenticationParameters.parseList(value).first)
        #expect(credentials["response"] == expected)
        #expect(credentials["nc"] == "00000001")
        #expect(credentials["qop"] == "auth")
        #expect(credentials["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        #expect(value.contains("nc=00000001"))  // unquoted, as RFC 7616 §3.4 requires
        // The next request counts on.
        let secondHeader = client.authorization(method: RTSPMethod("GET"), uri: "/dir/index.html")
        let second = try #require(secondHeader)
        #expect(second.contains("nc=00000002"))
    }

    /// RFC 2617 §3.5, the example every Digest implementation is checked against.
    @Test func rfc2617Example() throws {
        var client = ClientAuthenticator(username: "Mufasa", password: "Circle Of Life") { "0a4f113b" }
        try client.receivedChallenges([
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
        ])
        let valueHeader = client.authorization(method: RTSPMethod("GET"), uri: "/dir/index.html")
        let value = try #require(valueHeader)
        #expect(try AuthenticationParameters.parseList(value).first?["response"] == "6629fae49393a05397450978507c4ef1")
    }

    /// Cameras mostly send RFC 2069 style challenges without qop (the Longse fixture does).
    @Test func digestWithoutQop() throws {
        var client = ClientAuthenticator(username: "admin", password: "12345")
        try client.receivedChallenges(["Digest realm=\"Surveillance Server\", nonce=\"98481030\""])
        let valueHeader = client.authorization(method: .describe, uri: "rtsp://192.0.2.1/ch1")
        let value = try #require(valueHeader)
        let credentials = try #require(try AuthenticationParameters.parseList(value).first)
        let ha1 = DigestAlgorithm.md5.hash("admin:Surveillance Server:12345")
        let ha2 = DigestAlgorithm.md5.hash("DESCRIBE:rtsp://192.0.2.1/ch1")
        #expect(credentials["response"] == DigestAlgorithm.md5.hash("\(ha1):98481030:\(ha2)"))
        #expect(credentials["qop"] == nil)
        #expect(credentials["algorithm"] == nil)
    }

    @Test func picksTheStrongestOffered() throws {
        var client = ClientAuthenticator(username: "u", password: "p")
        try client.receivedChallenges([
            "Basic realm=\"cam\"",
            "Digest realm=\"cam\", nonce=\"n1\", algorithm=MD5",
            "Digest realm=\"cam\", nonce=\"n2\", algorithm=SHA-256",
        ])
        #expect(client.scheme == .digest(.sha256))
        var md5 = ClientAuthenticator(username: "u", password: "p")
        try md5.receivedChallenges(["Basic realm=\"cam\", Digest realm=\"cam\", nonce=\"n1\""])
        #expect(md5.scheme == .digest(.md5))
    }

    /// A camera that offers only Basic over plaintext would have the gateway send its password in clear on every
    /// request: refused unless the connection is TLS or the admin allowed it, and then with a warning.
    @Test func basicOnlyWhenAloneAllowedAndWithAWarning() throws {
        var plaintext = ClientAuthenticator(username: "Aladdin", password: "open sesame")
        #expect(throws: AuthenticationError.self) { try plaintext.receivedChallenges(["Basic realm=\"WallyWorld\""]) }
        #expect(plaintext.authorization(method: .describe, uri: "rtsp://c/") == nil)
        let recorded = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in RecordingLogHandler(messages: recorded) }
        var client = ClientAuthenticator(username: "Aladdin", password: "open sesame", allowsBasic: true)
        try client.receivedChallenges(["Basic realm=\"WallyWorld\""], logger: logger)
        #expect(client.scheme == .basic)
        #expect(client.authorization(method: .describe, uri: "rtsp://c/") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        #expect(recorded.withLockedValue { $0.contains { $0.contains("only Basic") } })
    }

    @Test func unsupportedSchemesAreAnError() {
        var client = ClientAuthenticator(username: "u", password: "p")
        #expect(throws: AuthenticationError.self) {
            try client.receivedChallenges(["Negotiate abc", "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""])
        }
        #expect(throws: AuthenticationError.self) {
            try client.receivedChallenges(["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"])
        }
    }

    @Test(arguments: DigestAlgorithm.allCases)
    func verifierAcceptsOurClientAndRejectsWrongPassword(_ algorithm: DigestAlgorithm) throws {
        let verifier = DigestVerifier(realm: "gw", algorithm: algorithm)
        let stored = algorithm.hash("vms:gw:secret")
        for (password, accepted) in [("secret", true), ("wrong", false)] {
            var client = ClientAuthenticator(username: "vms", password: password)
            try client.receivedChallenges([verifier.challenge(nonce: "abc123") + ", qop=\"auth\""])
            let valueHeader = client.authorization(method: .play, uri: "rtsp://gw/cam")
            let value = try #require(valueHeader)
            let credentials = try #require(try AuthenticationParameters.parseList(value).first)
            let user = verifier.verify(
                credentials,
                method: .play,
                acceptNonce: { given, _ in given == "abc123" },
                storedHA1: { $0 == "vms" ? stored : nil }
            )
            #expect((user == "vms") == accepted)
            // The same credentials for another method, or with an unknown nonce, fail.
            #expect(
                verifier.verify(
                    credentials,
                    method: .teardown,
                    acceptNonce: { _, _ in true },
                    storedHA1: { _ in stored }
                )
                    == nil
            )
            #expect(
                verifier.verify(credentials, method: .play, acceptNonce: { _, _ in false }, storedHA1: { _ in stored })
                    == nil
            )
        }
    }

    @Test func challengeListParsing() throws {
        let list = try AuthenticationParameters.parseList(
            "Digest realm=\"a, b\", nonce = \"x\\\"y\", stale=FALSE, Basic realm=\"z\""
        )
        #expect(list.count == 2)
        #expect(list[0]["realm"] == "a, b")
        #expect(list[0]["nonce"] == "x\"y")
        #expect(list[0]["stale"] == "FALSE")
        #expect(list[1].isScheme("basic"))
        #expect(throws: AuthenticationError.self) { try AuthenticationParameters.parseList("realm=\"x\"") }
        #expect(throws: AuthenticationError.self) {
            try AuthenticationParameters.parseList(String(repeating: "a", count: 5000))
        }
    }
}

struct RecordingLogHandler: LogHandler {
    let messages: NIOLockedValueBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        self.messages.withLockedValue { $0.append("\(event.level): \(event.message)") }
    }
}

/// The Digest nonce store and the failed-login key, as value types.
@Suite struct DigestNonceTests {
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func countsRiseOrFallWithinTheirWindowOnce() {
        var nonces = DigestNonces()
        let nonce = nonces.issue(now: Self.t0)
        #expect(nonces.use(nonce, count: "00000001", now: Self.t0) == .accepted)
        #expect(nonces.use(nonce, count: "00000003", now: Self.t0) == .accepted)
        // Parallel connections: nc=2 after nc=3 is not a replay; nc=2 again is.
        #expect(nonces.use(nonce, count: "00000002", now: Self.t0) == .accepted)
        #expect(nonces.use(nonce, count: "00000002", now: Self.t0) == .replayed)
        #expect(nonces.use(nonce, count: "00000003", now: Self.t0) == .replayed)
        #expect(nonces.use(nonce, count: "0000000", now: Self.t0) == .replayed)
        #expect(nonces.use(nonce, count: "00000000", now: Self.t0) == .replayed)
        #expect(nonces.use(nonce, count: "00000100", now: Self.t0) == .accepted)
        #expect(nonces.use(nonce, count: "00000004", now: Self.t0) == .replayed, "far below the highest")
        // Without qop, once; past the lifetime or never issued: stale.
        let single = nonces.issue(now: Self.t0)
        #expect(nonces.use(single, count: nil, now: Self.t0) == .accepted)
        #expect(nonces.use(single, count: nil, now: Self.t0) == .replayed)
        #expect(nonces.use(nonces.issue(now: Self.t0), count: nil, now: Self.t0 + .minutes(6)) == .stale)
        #expect(nonces.use("0123456789abcdef0123456789abcdef", count: nil, now: Self.t0) == .stale)
    }

    /// A flood of challenges evicts unused nonces, never one a client is using.
    @Test func aFloodOfChallengesKeepsTheNoncesInUse() {
        var nonces = DigestNonces(capacity: 8)
        let used = nonces.issue(now: Self.t0)
        #expect(nonces.use(used, count: "00000001", now: Self.t0) == .accepted)
        for _ in 0..<100 { _ = nonces.issue(now: Self.t0) }
        #expect(nonces.count <= 8)
        #expect(nonces.use(used, count: "00000002", now: Self.t0) == .accepted)
    }

    @Test func sourcesAreCountedByAddressAndIPv6Prefix() {
        #expect(LoginFailureGate.sourceKey("198.51.100.7") == "198.51.100.7")
        #expect(LoginFailureGate.sourceKey("::ffff:198.51.100.7") == "198.51.100.7")
        #expect(LoginFailureGate.sourceKey("2001:db8:1:2::5") == LoginFailureGate.sourceKey("2001:db8:1:2:ffff::9"))
        #expect(LoginFailureGate.sourceKey("2001:db8:1:2::5") != LoginFailureGate.sourceKey("2001:db8:1:3::5"))
    }
}
