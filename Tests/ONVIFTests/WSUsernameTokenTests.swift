import Foundation
import ONVIF
import Testing

@Suite struct WSUsernameTokenTests {
    /// The example of the ONVIF Application Programmer's Guide (§6.1.1.3).
    @Test func programmersGuideExample() {
        let nonce = Array(Data(base64Encoded: "LKqI6G/AikKCQrN0zqZFlg==")!)
        #expect(
            WSUsernameToken.digest(nonce: nonce, created: "2010-09-16T07:50:45Z", password: "userpassword")
                == "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        )
    }

    static let created = "2010-09-16T07:50:45Z"
    static var createdDate: Date { try! Date.ISO8601FormatStyle().parse(Self.created) }

    static var guideToken: WSUsernameToken {
        WSUsernameToken(
            username: "user",
            password: "tuOSpGlFlIXsozq4HFNeeGeFLEI=",
            isDigest: true,
            nonce: "LKqI6G/AikKCQrN0zqZFlg==",
            created: Self.created
        )
    }

    @Test func windowReplayAndPasswordText() {
        var verifier = WSUsernameTokenVerifier()
        let password: (String) -> String? = { $0 == "user" ? "userpassword" : nil }
        // Within ±5 minutes of Created, once.
        #expect(
            verifier.verify(Self.guideToken, now: Self.createdDate.addingTimeInterval(290), password: password)
                == .valid(user: "user")
        )
        #expect(
            verifier.verify(Self.guideToken, now: Self.createdDate.addingTimeInterval(291), password: password)
                == .invalid(reason: "token replayed (same Nonce and Created)")
        )
        var fresh = WSUsernameTokenVerifier()
        guard
            case .invalid = fresh.verify(
                Self.guideToken,
                now: Self.createdDate.addingTimeInterval(301),
                password: password
            )
        else {
            Issue.record("a token outside the window was accepted")
            return
        }
        guard
            case .invalid = fresh.verify(
                Self.guideToken,
                now: Self.createdDate.addingTimeInterval(-301),
                password: password
            )
        else {
            Issue.record("a token from the future was accepted")
            return
        }
        var text = Self.guideToken
        text.isDigest = false
        text.password = "userpassword"
        #expect(
            fresh.verify(text, now: Self.createdDate, password: password)
                == .invalid(reason: "PasswordText refused; PasswordDigest only")
        )
        var wrong = WSUsernameToken.make(username: "user", password: "guess", created: Self.createdDate)
        #expect(
            fresh.verify(wrong, now: Self.createdDate, password: password) == .invalid(reason: "wrong user or password")
        )
        wrong = WSUsernameToken.make(username: "user", password: "userpassword", created: Self.createdDate)
        #expect(fresh.verify(wrong, now: Self.createdDate, password: password) == .valid(user: "user"))
    }

    /// The replay key is the decoded nonce with its Created: a re-encoding of the nonce (base64 ignores the unused
    /// low bits of its last character) is refused as not canonical, while the same nonce with a new Created, as
    /// libonvif sends within one second, is a new proof of the password.
    @Test func replayKeyIsTheDecodedNonceAndCreated() {
        var verifier = WSUsernameTokenVerifier()
        let password: (String) -> String? = { _ in "userpassword" }
        let now = Self.createdDate
        #expect(verifier.verify(Self.guideToken, now: now, password: password) == .valid(user: "user"))
        // "LKqI6G/AikKCQrN0zqZFlg==": 'g' is 32 = 0b100000, the low 4 bits unused.
        for variant in ["LKqI6G/AikKCQrN0zqZFlh==", "LKqI6G/AikKCQrN0zqZFlv=="] {
            var token = Self.guideToken
            token.nonce = variant
            token.password = WSUsernameToken.digest(
                nonce: Array(Data(base64Encoded: Self.guideToken.nonce)!),
                created: token.created,
                password: "userpassword"
            )
            guard case .invalid(let reason) = verifier.verify(token, now: now, password: password) else {
                Issue.record("re-encoded nonce \(variant) accepted")
                continue
            }
            #expect(reason.hasPrefix("bad Nonce"))
        }
        var later = Self.guideToken
        later.created = "2010-09-16T07:50:45.500Z"
        later.password = WSUsernameToken.digest(
            nonce: Array(Data(base64Encoded: later.nonce)!),
            created: later.created,
            password: "userpassword"
        )
        #expect(verifier.verify(later, now: now, password: password) == .valid(user: "user"))
        #expect(verifier.verify(later, now: now, password: password) != .valid(user: "user"))
    }

    /// libonvif can send one token twice within a second: taken again only for a read, from the same source, within
    /// two seconds of its first use.
    @Test func theSameTokenAgainIsAReadFromItsSourceAtOnceOrAReplay() {
        var verifier = WSUsernameTokenVerifier()
        let password: (String) -> String? = { _ in "userpassword" }
        let now = Self.createdDate
        let token = Self.guideToken
        #expect(verifier.verify(token, now: now, source: "a", isRead: true, password: password) == .valid(user: "user"))
        #expect(
            verifier.verify(token, now: now + 1, source: "a", isRead: true, password: password) == .valid(user: "user")
        )
        #expect(
            verifier.verify(token, now: now + 1, source: "a", isRead: false, password: password) != .valid(user: "user")
        )
        #expect(
            verifier.verify(token, now: now + 1, source: "b", isRead: true, password: password) != .valid(user: "user")
        )
        #expect(
            verifier.verify(token, now: now + 3, source: "a", isRead: true, password: password) != .valid(user: "user")
        )
    }

    /// Full of live tokens, the verifier refuses new ones rather than forget a seen one (which would make it
    /// valid again); once their Created leaves the window, room comes back.
    @Test func aFullCacheRefusesInsteadOfForgetting() {
        var verifier = WSUsernameTokenVerifier(window: 300, capacity: 3)
        let password: (String) -> String? = { _ in "secret" }
        let start = Date()
        var tokens: [WSUsernameToken] = []
        for index in 0..<3 {
            let token = WSUsernameToken.make(
                username: "u",
                password: "secret",
                created: start.addingTimeInterval(Double(index))
            )
            tokens.append(token)
            #expect(verifier.verify(token, now: start, password: password) == .valid(user: "u"))
        }
        let fourth = WSUsernameToken.make(username: "u", password: "secret", created: start)
        guard case .invalid(let reason) = verifier.verify(fourth, now: start, password: password) else {
            Issue.record("a fourth token was accepted by a full cache")
            return
        }
        #expect(reason.hasPrefix("too many tokens"))
        for token in tokens { #expect(verifier.verify(token, now: start, password: password) != .valid(user: "u")) }
        let fresh = WSUsernameToken.make(username: "u", password: "secret", created: start.addingTimeInterval(400))
        #expect(verifier.verify(fresh, now: start.addingTimeInterval(400), password: password) == .valid(user: "u"))
        #expect(verifier.count <= 3)
    }

    /// A token the gateway writes for a camera is one the verifier (and a camera) accepts: header round trip.
    @Test func writtenTokensVerify() throws {
        let token = WSUsernameToken.make(username: "admin", password: "secret", created: Date())
        let document = XMLWriter.document(
            SOAPMessage.envelope(
                header: [token.securityHeader],
                body: [XMLElement(namespace: ONVIFNamespace.device, name: "GetUsers")]
            )
        )
        let request = try SOAPRequest.parse(Array(document.utf8))
        let parsed = try #require(request.usernameToken)
        var verifier = WSUsernameTokenVerifier()
        #expect(verifier.verify(parsed, now: Date(), password: { _ in "secret" }) == .valid(user: "admin"))
    }
}
