import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Answers a camera's authentication challenge (the gateway as RTSP or HTTP client).
///
/// From the challenges of a 401 it picks the strongest it can answer: Digest SHA-256, then Digest MD5 (each also
/// in its `-sess` form), and Basic only when it is all the camera offers and `allowsBasic` says the connection
/// may carry it (TLS, or an admin's explicit `allow_plaintext_basic`), since Basic sends the camera's password on
/// every request: over plaintext, to whoever else is on the camera network. A value type: the caller keeps it per connection, feeds it each
/// 401 and asks it for the `Authorization` value of each request.
public struct ClientAuthenticator: Sendable {
    public enum Scheme: Hashable, Sendable {
        case basic
        case digest(DigestAlgorithm)
    }

    public let username: String
    private let password: String
    public let allowsBasic: Bool
    private var challenge: Challenge?
    private var nonceCount: UInt32 = 0
    private let makeCNonce: @Sendable () -> String

    private struct Challenge: Sendable {
        var scheme: Scheme
        var realm: String
        var nonce: String
        var opaque: String?
        var qop: String?
    }

    /// - Parameter makeCNonce: the client nonce generator; injectable so that tests can reproduce RFC examples.
    public init(
        username: String,
        password: String,
        allowsBasic: Bool = false,
        makeCNonce: @escaping @Sendable () -> String = { randomHex(bytes: 16) }
    ) {
        self.username = username
        self.password = password
        self.allowsBasic = allowsBasic
        self.makeCNonce = makeCNonce
    }

    /// The scheme in use, once a challenge was accepted.
    public var scheme: Scheme? { self.challenge?.scheme }

    /// Takes the `WWW-Authenticate` values of a 401 and chooses a scheme.
    public mutating func receivedChallenges(_ headerValues: [String], logger: Logger? = nil) throws(AuthenticationError)
    {
        var candidates: [AuthenticationParameters] = []
        for value in headerValues {
            // One malformed challenge among several must not hide a good one.
            if let parsed = try? AuthenticationParameters.parseList(value) { candidates += parsed }
        }
        var best: Challenge?
        for candidate in candidates {
            let chosen: Challenge
            if candidate.isScheme("Digest") {
                guard let algorithm = DigestAlgorithm(parameter: candidate["algorithm"]),
                    let nonce = candidate["nonce"], let realm = candidate["realm"]
                else { continue }
                let qopOptions = (candidate["qop"] ?? "").split(separator: ",").map {
                    $0.trimmingASCIIWhitespace().lowercased()
                }
                if !qopOptions.isEmpty, !qopOptions.contains("auth") { continue }  // auth-int only: unsupported
                chosen = Challenge(
                    scheme: .digest(algorithm),
                    realm: realm,
                    nonce: nonce,
                    opaque: candidate["opaque"],
                    qop: qopOptions.isEmpty ? nil : "auth"
                )
            } else if candidate.isScheme("Basic") {
                chosen = Challenge(scheme: .basic, realm: candidate["realm"] ?? "", nonce: "")
            } else {
                continue
            }
            if best == nil || Self.strength(chosen.scheme) > Self.strength(best!.scheme) { best = chosen }
        }
        guard let best else {
            throw AuthenticationError(.unsupported, "no supported scheme in \(candidates.map(\.scheme))")
        }
        if best.scheme == .basic {
            guard self.allowsBasic else {
                throw AuthenticationError(
                    .unsupported,
                    "the camera offers only Basic, which would send its password in clear: reach it over RTSPS "
                        + "(tls_fingerprint), or set allow_plaintext_basic = true for it"
                )
            }
            logger?.warning(
                "camera offers only Basic authentication: its password is sent on every request",
                metadata: ["realm": "\(best.realm)"]
            )
        }
        if let previous = self.challenge, previous.nonce == best.nonce {
            self.challenge = best
        } else {
            self.challenge = best
            self.nonceCount = 0
        }
    }

    /// The `Authorization` value for a request, or `nil` before any challenge.
    public mutating func authorization(method: String, uri: String) -> String? {
        guard let challenge = self.challenge else { return nil }
        switch challenge.scheme {
        case .basic:
            let token = base64Encode(Array("\(self.username):\(self.password)".utf8))
            return "Basic \(token)"
        case .digest(let algorithm):
            var cnonce: String?
            var nc: String?
            if challenge.qop != nil || algorithm.isSession {
                cnonce = self.makeCNonce()
            }
            if challenge.qop != nil {
                self.nonceCount &+= 1
                let hex = String(self.nonceCount, radix: 16)
                nc = String(repeating: "0", count: 8 - hex.count) + hex
            }
            let ha1 = DigestAuthentication.ha1(
                algorithm: algorithm,
                username: self.username,
                realm: challenge.realm,
                password: self.password,
                nonce: challenge.nonce,
                cnonce: cnonce
            )
            let response = DigestAuthentication.response(
                algorithm: algorithm,
                ha1: ha1,
                nonce: challenge.nonce,
                method: method,
                uri: uri,
                qop: challenge.qop,
                nc: nc,
                cnonce: cnonce
            )
            var params: [String: String] = [
                "username": self.username, "realm": challenge.realm, "nonce": challenge.nonce, "uri": uri,
                "response": response,
            ]
            // Cameras that predate RFC 7616 reject an explicit `algorithm=MD5`; name it only when it is not the
            // default.
            if algorithm != .md5 { params["algorithm"] = algorithm.rawValue }
            if let opaque = challenge.opaque { params["opaque"] = opaque }
            if let qop = challenge.qop, let nc, let cnonce {
                params["qop"] = qop
                params["nc"] = nc
                params["cnonce"] = cnonce
            }
            return AuthenticationParameters(scheme: "Digest", parameters: params).headerValue
        }
    }

    private static func strength(_ scheme: Scheme) -> Int {
        switch scheme {
        case .basic: 0
        case .digest(let algorithm): algorithm.strength
        }
    }
}

/// Hex of `bytes` random bytes from the system's generator.
public func randomHex(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return hexString((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
}

/// Standard Base64 (RFC 4648 §4) with padding, through Foundation's codec.
public func base64Encode(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString()
}

/// Standard Base64 decoding; `nil` on any character outside the alphabet or bad padding.
public func base64Decode(_ text: some StringProtocol) -> [UInt8]? {
    Data(base64Encoded: String(text)).map { Array($0) }
}
