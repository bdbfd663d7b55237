import Crypto
import Foundation
import GatewayAuth

/// WS-Security UsernameToken (OASIS WSS UsernameToken Profile 1.0, ONVIF Core §5.12.2): PasswordDigest =
/// Base64(SHA-1(nonce bytes + Created + password)). Verified within ±5 minutes of Created, each nonce once.
public struct WSUsernameToken: Hashable, Sendable {
    public var username: String
    /// Base64 of the digest (PasswordDigest) or the password itself (PasswordText, refused by the gateway).
    public var password: String
    public var isDigest: Bool
    /// Base64 of the nonce bytes.
    public var nonce: String
    public var created: String

    public init(username: String, password: String, isDigest: Bool, nonce: String, created: String) {
        self.username = username
        self.password = password
        self.isDigest = isDigest
        self.nonce = nonce
        self.created = created
    }

    static let passwordDigestType =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"

    public static func digest(nonce: [UInt8], created: String, password: String) -> String {
        let hash = Insecure.SHA1.hash(data: nonce + Array(created.utf8) + Array(password.utf8))
        return Data(hash).base64EncodedString()
    }

    /// A fresh token for a request to a camera, `Created` on the camera's clock.
    public static func make(username: String, password: String, created: Date) -> WSUsernameToken {
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let stamp = self.timestamp(created)
        return WSUsernameToken(
            username: username,
            password: self.digest(nonce: nonce, created: stamp, password: password),
            isDigest: true,
            nonce: Data(nonce).base64EncodedString(),
            created: stamp
        )
    }

    public static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(
                .colon
            ).timeZone(separator: .omitted)
        )
        .replacingOccurrences(of: "+0000", with: "Z")
    }

    static func parseTimestamp(_ text: String) -> Date? {
        let formats: [Date.ISO8601FormatStyle] = [
            .iso8601, .iso8601.year().month().day().time(includingFractionalSeconds: true),
        ]
        for format in formats {
            if let date = try? format.parse(text) { return date }
        }
        return nil
    }

    /// The token in a SOAP header, if any. Malformed tokens are a sender fault, not an anonymous request.
    static func parse(header: XMLElement) throws(SOAPFault) -> WSUsernameToken? {
        guard let security = header.first(namespace: ONVIFNamespace.wsse, name: "Security") else { return nil }
        guard let token = security.first(namespace: ONVIFNamespace.wsse, name: "UsernameToken") else { return nil }
        guard let username = token.first(namespace: ONVIFNamespace.wsse, name: "Username")?.trimmedText,
            let passwordElement = token.first(namespace: ONVIFNamespace.wsse, name: "Password"),
            username.utf8.count <= 64
        else {
            throw SOAPFault.sender("wsse:InvalidSecurityToken", reason: "UsernameToken without Username or Password")
        }
        let type = passwordElement.attribute("Type") ?? ""
        return WSUsernameToken(
            username: username,
            password: passwordElement.trimmedText,
            isDigest: type == Self.passwordDigestType,
            nonce: token.first(namespace: ONVIFNamespace.wsse, name: "Nonce")?.trimmedText ?? "",
            created: token.first(namespace: ONVIFNamespace.wsu, name: "Created")?.trimmedText ?? ""
        )
    }

    /// The `wsse:Security` header element carrying this token.
    public var securityHeader: XMLElement {
        var password = SOAPMessage.text(ONVIFNamespace.wsse, "Password", self.password)
        password.attributes = [.init(namespace: nil, name: "Type", value: Self.passwordDigestType)]
        var nonce = SOAPMessage.text(ONVIFNamespace.wsse, "Nonce", self.nonce)
        nonce.attributes = [
            .init(
                namespace: nil,
                name: "EncodingType",
                value: "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
            )
        ]
        var security = SOAPMessage.element(
            ONVIFNamespace.wsse,
            "Security",
            [
                SOAPMessage.element(
                    ONVIFNamespace.wsse,
                    "UsernameToken",
                    [
                        SOAPMessage.text(ONVIFNamespace.wsse, "Username", self.username), password, nonce,
                        SOAPMessage.text(ONVIFNamespace.wsu, "Created", self.created),
                    ]
                )
            ]
        )
        security.attributes = [.init(namespace: ONVIFNamespace.soapEnvelope, name: "mustUnderstand", value: "1")]
        return security
    }
}

/// Verifies UsernameTokens against stored passwords: digest only, Created within the window, and no token used
/// twice inside it.
///
/// A replay is the same nonce *and* Created (the digest is a function of both and the password): libonvif seeds
/// its nonces from the clock and sends one nonce with several Created values within a second, each a fresh proof
/// of the password. The key is the decoded nonce bytes, and only the canonical base64 of them is accepted, so no
/// re-encoding of one nonce is a new key. An entry is kept until its Created leaves the window (after that the
/// Created check refuses the token anyway); when the cache is full of live entries, new tokens are refused rather
/// than an entry forgotten, so a flood can never make a seen token valid again.
///
/// One exception, for libonvif: within one second it can send the very same token (nonce and Created alike) on
/// two requests. A token seen before is taken again only for a read, from the source that used it first, within
/// `rereadWindow` of that first use; a write, PTZ, events, another source or later is a replay.
public struct WSUsernameTokenVerifier: Sendable {
    public enum Outcome: Hashable, Sendable {
        case valid(user: String)
        case invalid(reason: String)
    }

    struct Key: Hashable {
        var nonce: [UInt8]
        var created: String
    }

    public let window: TimeInterval
    public let capacity: Int
    struct Seen {
        var created: Date
        var firstUse: Date
        var source: String
    }

    public let rereadWindow: TimeInterval
    /// Seen tokens: the instant their Created names, when and from where they were first used.
    private var seen: [Key: Seen] = [:]

    public init(window: TimeInterval = 300, capacity: Int = 10_000, rereadWindow: TimeInterval = 2) {
        self.window = window
        self.capacity = capacity
        self.rereadWindow = rereadWindow
    }

    public var count: Int { self.seen.count }

    /// `isRead` and `source`: what the request does and where it comes from, for the exception above.
    public mutating func verify(
        _ token: WSUsernameToken,
        now: Date,
        source: String = "",
        isRead: Bool = false,
        password: (String) -> String?
    ) -> Outcome {
        guard token.isDigest else { return .invalid(reason: "PasswordText refused; PasswordDigest only") }
        guard let created = WSUsernameToken.parseTimestamp(token.created) else {
            return .invalid(reason: "bad Created")
        }
        guard abs(created.timeIntervalSince(now)) <= self.window else {
            return .invalid(reason: "Created outside ±\(Int(self.window)) s of the gateway's clock")
        }
        guard let decoded = Data(base64Encoded: token.nonce), (8...64).contains(decoded.count),
            decoded.base64EncodedString() == token.nonce
        else {
            return .invalid(reason: "bad Nonce (not canonical base64 of 8–64 bytes)")
        }
        let key = Key(nonce: Array(decoded), created: token.created)
        if let seen = self.seen[key] {
            guard isRead, seen.source == source, now.timeIntervalSince(seen.firstUse) <= self.rereadWindow else {
                return .invalid(reason: "token replayed (same Nonce and Created)")
            }
        }
        guard let stored = password(token.username),
            constantTimeEquals(
                WSUsernameToken.digest(nonce: key.nonce, created: token.created, password: stored),
                token.password
            )
        else { return .invalid(reason: "wrong user or password") }
        if self.seen.count >= self.capacity {
            self.seen = self.seen.filter { abs($0.value.created.timeIntervalSince(now)) <= self.window }
            guard self.seen.count < self.capacity else {
                return .invalid(reason: "too many tokens inside the window; refused rather than forget one")
            }
        }
        if self.seen[key] == nil { self.seen[key] = Seen(created: created, firstUse: now, source: source) }
        return .valid(user: token.username)
    }
}
