import Foundation
import GatewayAuth
import Logging
import NIOConcurrencyHelpers
import NIOHTTP1

/// The gateway's side of a camera's ONVIF: every request written anew from the parsed one, signed with the
/// camera's credentials (a WS-UsernameToken whose Created follows the camera's clock, or HTTP Digest when the
/// camera asks for it), answers parsed under the 1 MiB cap. After repeated authentication failures it stops
/// trying for a while, so the gateway never locks the camera's account (Hikvision and Dahua lock an address out
/// for about 30 minutes after a handful of failures).
public final class ONVIFCameraClient: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
        public var timeout: Duration = .seconds(10)
        /// Authentication failures in a row before the breaker opens, and how long it stays open.
        public var failuresBeforeBreak = 3
        public var breakDuration: Duration = .seconds(600)

        public init(host: String, port: Int = 80, username: String? = nil, password: String? = nil) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }
    }

    struct State {
        /// Camera clock minus ours, learned from its GetSystemDateAndTime.
        var clockOffset: TimeInterval?
        /// The camera wants HTTP Digest (it answered 401 to a UsernameToken).
        var digest: ClientAuthenticator?
        var failures = 0
        var brokenUntil: ContinuousClock.Instant?
        /// Service paths from the camera's GetServices (host and port are always the configured ones).
        var servicePaths: [String: String] = [:]
    }

    public let configuration: Configuration
    private let state = NIOLockedValueBox(State())
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Whether the breaker is open, and until when (for status).
    public var breakerOpen: Bool {
        self.state.withLockedValue { $0.brokenUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    /// Sends `body` (an operation element) to the camera and returns the Body element of its answer. `path`: a
    /// path on the camera other than the service's (a PullPoint subscription's).
    public func call(
        _ body: XMLElement,
        namespace: String,
        path: String? = nil,
        limits: HardenedXMLParser.Limits = .cameraResponse
    ) async throws(SOAPFault) -> XMLElement {
        if let until = self.state.withLockedValue({ $0.brokenUntil }), ContinuousClock.now < until {
            throw SOAPFault.cameraUnavailable(
                "authentication to the camera failed repeatedly; not retrying before the break ends"
            )
        }
        if self.configuration.username != nil, self.state.withLockedValue({ $0.clockOffset == nil && $0.digest == nil })
        {
            await self.learnClockOffset()
        }
        var refreshedClock = false
        var renewedNonce = false
        for _ in 0..<3 {
            // Every refused attempt counts: the breaker must open before the camera's own lockout.
            if let until = self.state.withLockedValue({ $0.brokenUntil }), ContinuousClock.now < until {
                throw SOAPFault.cameraUnavailable(
                    "authentication to the camera failed repeatedly; not retrying before the break ends"
                )
            }
            let response = try await self.post(body, namespace: namespace, path: path, maxBytes: limits.maxBytes)
            if response.status == 401 {
                let challenges = response.headers["WWW-Authenticate"]
                // The first 401 switches to HTTP Digest. A later one with a new nonce is a camera that hands out
                // a fresh nonce per request (Dahua): take it once per call, without counting a failure.
                let switched = self.state.withLockedValue { state -> Bool in
                    guard state.digest == nil || !renewedNonce, let authenticator = self.digest(answering: challenges)
                    else { return false }
                    if state.digest != nil { renewedNonce = true }
                    state.digest = authenticator
                    return true
                }
                if switched { continue }
                self.authenticationFailed()
                throw SOAPFault.cameraUnavailable("the camera refused the gateway's credentials")
            }
            let envelope: XMLElement
            do {
                envelope = try HardenedXMLParser.parse(response.body, limits: limits)
            } catch {
                throw SOAPFault.cameraUnavailable("unreadable answer (\(error))")
            }
            guard envelope.namespace == ONVIFNamespace.soapEnvelope, envelope.name == "Envelope",
                let answer = envelope.first(namespace: ONVIFNamespace.soapEnvelope, name: "Body")?.elements.first
            else { throw SOAPFault.cameraUnavailable("the answer is not a SOAP 1.2 envelope") }
            if answer.namespace == ONVIFNamespace.soapEnvelope, answer.name == "Fault" {
                let subcodes = Self.subcodes(of: answer)
                if subcodes.contains(where: { $0.hasSuffix("NotAuthorized") || $0.hasSuffix("FailedAuthentication") }) {
                    self.authenticationFailed()
                    // A camera whose clock moved: learn it again once and retry.
                    if !refreshedClock, self.state.withLockedValue({ $0.digest == nil }) {
                        refreshedClock = true
                        await self.learnClockOffset()
                        continue
                    }
                    throw SOAPFault.cameraUnavailable("the camera refused the gateway's credentials")
                }
                // The camera's own refusal, passed on without its wording (which can name its internals).
                throw SOAPFault(
                    code: .receiver,
                    subcodes: subcodes.isEmpty ? ["ter:Action"] : Array(subcodes.prefix(2)),
                    reason: "The camera refused the operation"
                )
            }
            guard (200..<300).contains(response.status) else {
                throw SOAPFault.cameraUnavailable("HTTP \(response.status)")
            }
            self.state.withLockedValue { $0.failures = 0 }
            return answer
        }
        throw SOAPFault.cameraUnavailable("the camera kept asking for authentication")
    }

    /// HTTP Digest with the camera's credentials, answering these challenges; nil without credentials or a
    /// usable challenge.
    private func digest(answering challenges: [String]) -> ClientAuthenticator? {
        guard let user = self.configuration.username, let password = self.configuration.password else { return nil }
        var authenticator = ClientAuthenticator(username: user, password: password)
        guard (try? authenticator.receivedChallenges(challenges)) != nil else { return nil }
        return authenticator
    }

    private func authenticationFailed() {
        let opened = self.state.withLockedValue { state -> Bool in
            state.failures += 1
            guard state.failures >= self.configuration.failuresBeforeBreak else { return false }
            state.brokenUntil = ContinuousClock.now + self.configuration.breakDuration
            state.failures = 0
            return true
        }
        if opened {
            self.logger.error(
                "camera ONVIF authentication failed repeatedly: not trying again for a while, so its account is not locked",
                metadata: ["camera": "\(self.configuration.host)", "for": "\(self.configuration.breakDuration)"]
            )
        }
    }

    /// The camera's clock, from an unauthenticated GetSystemDateAndTime.
    private func learnClockOffset() async {
        let request = XMLElement(namespace: ONVIFNamespace.device, name: "GetSystemDateAndTime")
        guard let response = try? await self.send(request, namespace: ONVIFNamespace.device, signed: false),
            let envelope = try? HardenedXMLParser.parse(response.body, limits: .cameraResponse),
            let utc = envelope.find([
                (ONVIFNamespace.soapEnvelope, "Body"), (ONVIFNamespace.device, "GetSystemDateAndTimeResponse"),
                (ONVIFNamespace.device, "SystemDateAndTime"), (ONVIFNamespace.schema, "UTCDateTime"),
            ]),
            let cameraTime = Self.date(utc)
        else {
            self.state.withLockedValue { $0.clockOffset = 0 }
            return
        }
        let offset = cameraTime.timeIntervalSinceNow
        self.state.withLockedValue { $0.clockOffset = offset }
        if abs(offset) > 5 {
            self.logger.notice(
                "camera clock differs from the gateway's",
                metadata: ["seconds": "\(Int(exactly: offset.rounded()) ?? 0)"]
            )
        }
    }

    static func date(_ utc: XMLElement) -> Date? {
        let tt = ONVIFNamespace.schema
        func value(_ path: [(String?, String)]) -> Int? { utc.find(path).flatMap { Int($0.trimmedText) } }
        guard let year = value([(tt, "Date"), (tt, "Year")]), let month = value([(tt, "Date"), (tt, "Month")]),
            let day = value([(tt, "Date"), (tt, "Day")]), let hour = value([(tt, "Time"), (tt, "Hour")]),
            let minute = value([(tt, "Time"), (tt, "Minute")]), let second = value([(tt, "Time"), (tt, "Second")])
        else { return nil }
        // The camera's answer is read before it signs in: a year of 10^11 made an offset no Int can hold.
        guard (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
            (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        var components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        components.timeZone = TimeZone(identifier: "UTC")
        return Calendar(identifier: .gregorian).date(from: components)
    }

    static func subcodes(of fault: XMLElement) -> [String] {
        var codes: [String] = []
        var current = fault.first(namespace: ONVIFNamespace.soapEnvelope, name: "Code")?.first(
            namespace: ONVIFNamespace.soapEnvelope,
            name: "Subcode"
        )
        while let subcode = current, codes.count < 4 {
            let value = subcode.first(namespace: ONVIFNamespace.soapEnvelope, name: "Value")?.trimmedText ?? ""
            let local = value.split(separator: ":").last.map(String.init) ?? value
            codes.append("ter:" + local.filter { $0.isLetter || $0.isNumber })
            current = subcode.first(namespace: ONVIFNamespace.soapEnvelope, name: "Subcode")
        }
        return codes
    }

    private func post(
        _ body: XMLElement,
        namespace: String,
        path: String?,
        maxBytes: Int
    ) async throws(SOAPFault) -> HTTPExchange.Response {
        do {
            return try await self.send(body, namespace: namespace, signed: true, path: path, maxBytes: maxBytes)
        } catch {
            throw SOAPFault.cameraUnavailable("\(error)")
        }
    }

    private func send(
        _ body: XMLElement,
        namespace: String,
        signed: Bool,
        path: String? = nil,
        maxBytes: Int = HardenedXMLParser.Limits.cameraResponse.maxBytes
    ) async throws(HTTPExchange.Failure) -> HTTPExchange.Response {
        let path = path ?? self.state.withLockedValue { $0.servicePaths[namespace] } ?? Self.conventionalPath(namespace)
        var header: [XMLElement] = []
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/soap+xml; charset=utf-8")
        if signed, let user = self.configuration.username, let password = self.configuration.password {
            let digest = self.state.withLockedValue { state -> String? in
                state.digest?.authorization(method: "POST", uri: path)
            }
            if let digest {
                headers.add(name: "Authorization", value: digest)
            } else {
                let offset = self.state.withLockedValue { $0.clockOffset } ?? 0
                header.append(
                    WSUsernameToken.make(username: user, password: password, created: Date().addingTimeInterval(offset))
                        .securityHeader
                )
            }
        }
        let document = XMLWriter.document(SOAPMessage.envelope(header: header, body: [body]))
        return try await HTTPExchange.send(
            host: self.configuration.host,
            port: self.configuration.port,
            method: .POST,
            path: path,
            headers: headers,
            body: Array(document.utf8),
            timeout: .nanoseconds(Int64(self.configuration.timeout.components.seconds) * 1_000_000_000),
            maxResponseBytes: maxBytes
        )
    }

    /// Where cameras serve each service; a camera routing on the body's namespace (most do) takes any.
    static func conventionalPath(_ namespace: String) -> String {
        switch namespace {
        case ONVIFNamespace.media: "/onvif/Media"
        case ONVIFNamespace.media2: "/onvif/Media2"
        case ONVIFNamespace.events, ONVIFNamespace.wsnt: "/onvif/Events"
        case ONVIFNamespace.ptz: "/onvif/PTZ"
        default: "/onvif/device_service"
        }
    }

    /// Fetches the camera's snapshot URL (exactly that URL, on the configured host and port) with its credentials.
    public func snapshot(path: String) async throws(SOAPFault) -> HTTPExchange.Response {
        var headers = HTTPHeaders()
        for attempt in 0..<2 {
            if attempt == 1 {
                guard
                    let digest = self.state.withLockedValue({
                        $0.digest?.authorization(method: "GET", uri: path)
                    })
                else { break }
                headers.replaceOrAdd(name: "Authorization", value: digest)
            }
            let response: HTTPExchange.Response
            do {
                response = try await HTTPExchange.send(
                    host: self.configuration.host,
                    port: self.configuration.port,
                    method: .GET,
                    path: path,
                    headers: headers,
                    body: [],
                    maxResponseBytes: 8 * 1024 * 1024
                )
            } catch {
                throw SOAPFault.cameraUnavailable("\(error)")
            }
            guard response.status == 401 else { return response }
            let challenges = response.headers["WWW-Authenticate"]
            if let authenticator = self.digest(answering: challenges) {
                self.state.withLockedValue { $0.digest = authenticator }
            }
        }
        self.authenticationFailed()
        throw SOAPFault.cameraUnavailable("the camera refused the snapshot credentials")
    }
}
