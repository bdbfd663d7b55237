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
                == .invalid(reason: "Nonce replayed")
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
