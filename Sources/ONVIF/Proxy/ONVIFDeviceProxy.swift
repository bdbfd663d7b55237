import Foundation
import GatewayAuth
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One camera's virtual ONVIF device: authenticates the VMS, decides each operation by the camera's policy,
/// answers identity reads itself, forwards what the policy allows (written anew, signed with the camera's
/// credentials) and rewrites the answers. Every refused operation is written to the audit log.
public final class ONVIFDeviceProxy: Sendable {
    /// A VMS account, as the configuration holds it.
    public struct User: Sendable, Hashable {
        public var name: String
        /// For HTTP Digest: HA1s over the gateway's realm.
        public var ha1MD5: String?
        public var ha1SHA256: String?
        /// For WS-UsernameToken, whose digest needs the password itself (from a 0600 secrets file).
        public var onvifPassword: String?
        public var streams: [String]
        public var sources: [CIDR]

        public init(
            name: String,
            ha1MD5: String?,
            ha1SHA256: String?,
            onvifPassword: String?,
            streams: [String],
            sources: [CIDR]
        ) {
            self.name = name
            self.ha1MD5 = ha1MD5
            self.ha1SHA256 = ha1SHA256
            self.onvifPassword = onvifPassword
            self.streams = streams
            self.sources = sources
        }

        func mayUse(camera: String, source: String) -> Bool {
            (self.sources.isEmpty || self.sources.contains { $0.contains(source) })
                && self.streams.contains { $0 == "*" || $0.hasPrefix(camera + "/") }
        }
    }

    public struct Configuration: Sendable {
        public var cameraName: String
        public var policy: ONVIFPolicy
        /// The camera's stream paths and the relay stream names they are served as.
        public var streams: [(cameraPath: String, name: String)]
        public var rtspPort: Int
        public var realm: String
        public var users: [User]
        /// How the camera's address can appear in its answers.
        public var cameraHosts: [String]
        /// Reads without credentials: identity, capabilities, media and snapshots. PTZ, events and writes always
        /// need a user, whatever this says.
        public var allowAnonymous = false
        /// Failed logins per source, shared with the RTSP server (they check the same credentials).
        public var loginFailures = LoginFailureGate()
        /// A recorder's channel: only that channel's tokens pass, in requests and in answers.
        public var channel: (recorder: RecorderChannels, selector: ChannelView.Selector)?

        public init(
            cameraName: String,
            policy: ONVIFPolicy,
            streams: [(cameraPath: String, name: String)],
            rtspPort: Int,
            realm: String,
            users: [User],
            cameraHosts: [String]
        ) {
            self.cameraName = cameraName
            self.policy = policy
            self.streams = streams
            self.rtspPort = rtspPort
            self.realm = realm
            self.users = users
            self.cameraHosts = cameraHosts
        }
    }

    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var authorization: String?
        public var body: [UInt8]
        /// The VMS's address, and the gateway address and port it reached.
        public var source: String
        public var localHost: String
        public var localPort: Int
        /// Path mode: where this device is mounted on the shared port (`/onvif/<camera>`); empty on its own port.
        public var mount = ""

        public init(
            method: String,
            path: String,
            authorization: String?,
            body: [UInt8],
            source: String,
            localHost: String,
            localPort: Int
        ) {
            self.method = method
            self.path = path
            self.authorization = authorization
            self.body = body
            self.source = source
            self.localHost = localHost
            self.localPort = localPort
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var headers: [(String, String)]
        public var body: [UInt8]
    }

    /// Calls per operation, allowed and refused (for status and metrics).
    public struct Counts: Sendable, Hashable, Codable {
        public var allowed: [String: Int] = [:]
        public var refused: [String: Int] = [:]
        public var authFailures = 0
        /// The gateway stopped signing in to the camera for a while after repeated failures (so as not to lock
        /// its account); ONVIF calls fail until the pause ends.
        public var cameraLoginPaused = false
    }

    public let configuration: Configuration
    public let device: VirtualDevice
    let client: ONVIFCameraClient
    let logger: Logger
    private let tokens = NIOLockedValueBox(WSUsernameTokenVerifier())
    /// The nonces of this device's Digest challenges: one per challenge, each with an expiry and a nonce count.
    private let nonces = NIOLockedValueBox(DigestNonces())
    private let counts = NIOLockedValueBox(Counts())
    /// Profile token → the camera's snapshot path, learned from its GetSnapshotUri answers.
    private let snapshots = NIOLockedValueBox([String: String]())
    /// The camera's answers to the pre-auth operations the gateway forwards, by operation, for a minute.
    private let preAuthAnswers = NIOLockedValueBox([String: (answer: XMLElement, at: NIODeadline)]())
    /// PullPoint subscriptions: the gateway's id → the camera's subscription path (its address never reaches the
    /// VMS). Bounded: the oldest goes when a 65th is made.
    private let subscriptions = NIOLockedValueBox([(id: String, path: String)]())
    static let subscriptionPrefix = "/onvif/subscription/"

    public init(configuration: Configuration, client: ONVIFCameraClient, logger: Logger) {
        self.configuration = configuration
        self.device = VirtualDevice(cameraName: configuration.cameraName)
        self.client = client
        var logger = logger
        logger[metadataKey: "camera"] = "\(configuration.cameraName)"
        self.logger = logger
    }

    public var callCounts: Counts {
        var counts = self.counts.withLockedValue { $0 }
        counts.cameraLoginPaused = self.client.breakerOpen
        return counts
    }

    public func handle(_ request: Request) async -> Response {
        if request.method == "GET", request.path.hasPrefix("/snapshot/") { return await self.snapshot(request) }
        guard request.method == "POST" else {
            return Response(
                status: 405,
                contentType: "text/plain",
                headers: [("Allow", "POST")],
                body: Array("POST SOAP 1.2 only\n".utf8)
            )
        }
        // HTTP clients doing Digest (curl, some VMSes) probe with an empty POST first, expecting the challenge.
        // A limited source gets no nonce this way either.
        if request.body.isEmpty, !self.configuration.allowAnonymous, request.authorization == nil {
            if self.configuration.loginFailures.isLimited(request.source) { return self.fault(.notAuthorized) }
            return self.challenge(.notAuthorized)
        }
        let soap: SOAPRequest
        do {
            soap = try SOAPRequest.parse(request.body)
        } catch {
            return self.fault(error)
        }
        let operation = soap.operation
        var decision = self.configuration.policy.decide(operation)
        // What the policy refuses is refused whoever asks: its credentials are not looked at, so a token a client
        // reused (libonvif sends one token for several requests within a second) is no failed login there.
        let refusedAnyway = decision == .refuse && !request.path.hasPrefix(Self.subscriptionPrefix)
        if !refusedAnyway, !ONVIFPolicy.isPreAuth(operation),
            !self.configuration.allowAnonymous || Self.needsAUser(operation)
        {
            switch self.authenticate(soap, request) {
            case .success: break
            case .failure(let response): return response
            }
        }
        // A subscription's address takes only that subscription's operations.
        var subscriptionPath: String?
        if request.path.hasPrefix(Self.subscriptionPrefix) {
            let id = String(request.path.dropFirst(Self.subscriptionPrefix.count).prefix { $0 != "?" })
            subscriptionPath = self.subscriptions.withLockedValue { $0.first { $0.id == id }?.path }
            if decision != .forward(.events) || subscriptionPath == nil { decision = .refuse }
        }
        if decision == .refuse {
            self.counts.withLockedValue { $0.refused[operation.countedName, default: 0] += 1 }
            self.logger.notice(
                "ONVIF call refused by policy",
                metadata: ["operation": "\(operation)", "source": "\(request.source)", "audit": "true"]
            )
            return self.fault(.actionNotSupported(operation.description))
        }
        self.counts.withLockedValue { $0.allowed[operation.countedName, default: 0] += 1 }
        let host = request.localHost.contains(":") ? "[\(request.localHost)]" : request.localHost
        switch decision {
        case .answerLocally:
            guard
                let body = LocalAnswers.response(
                    to: operation,
                    device: self.device,
                    gatewayHost: request.localHost,
                    gatewayPort: request.localPort,
                    now: Date()
                )
            else { return self.fault(.actionNotSupported(operation.description)) }
            return self.ok(body)
        case .fakeSuccess:
            self.logger.info(
                "ONVIF configuration write answered without changing the camera",
                metadata: ["operation": "\(operation)"]
            )
            return self.ok(LocalAnswers.emptyResponse(to: operation))
        case .forward:
            do throws(SOAPFault) {
                let answer: XMLElement
                var view: ChannelView?
                var forwarded = soap.body
                if let channel = self.configuration.channel, !ONVIFPolicy.isPreAuth(operation) {
                    switch try await self.admit(soap.body, channel) {
                    case .success(let admitted):
                        (view, forwarded) = admitted
                    case .failure(let refused):
                        self.counts.withLockedValue { $0.refused[operation.countedName, default: 0] += 1 }
                        self.logger.notice(
                            "ONVIF call refused: a token that is not this channel's",
                            metadata: [
                                "operation": "\(operation)", "token": "\(refused.token.prefix(64))",
                                "source": "\(request.source)", "audit": "true",
                            ]
                        )
                        return self.fault(
                            SOAPFault(
                                code: .sender,
                                subcodes: ["ter:InvalidArgVal", "ter:NoProfile"],
                                reason: "No such token on this device"
                            )
                        )
                    }
                }
                if ONVIFPolicy.isPreAuth(operation) {
                    answer = try await self.preAuthAnswer(operation, soap.body)
                } else {
                    answer = try await self.client.call(
                        forwarded,
                        namespace: operation.namespace,
                        path: subscriptionPath
                    )
                }
                guard answer.namespace == operation.namespace, answer.name == operation.name + "Response" else {
                    throw SOAPFault.cameraUnavailable(
                        "the camera answered \(answer.name), not \(operation.name)Response"
                    )
                }
                let rewriter = ResponseRewriter(
                    gatewayBaseURL: "http://\(host):\(request.localPort)\(request.mount)",
                    streamURLs: self.configuration.streams.map {
                        (
                            $0.cameraPath,
                            "rtsp://\(host):\(self.configuration.rtspPort)/\(self.configuration.cameraName)/\($0.name)"
                        )
                    },
                    policy: self.configuration.policy,
                    device: self.device,
                    cameraHosts: self.configuration.cameraHosts,
                    gatewayHost: request.localHost
                )
                let profile = soap.body.elements.first { $0.name == "ProfileToken" }?.trimmedText
                var result = try rewriter.rewrite(answer, operation: operation, profileToken: profile)
                if let view { result.body = view.filter(result.body) }
                if operation.name == "CreatePullPointSubscription" {
                    result.body = try self.mapSubscription(
                        original: answer,
                        rewritten: result.body,
                        base: rewriter.gatewayBaseURL
                    )
                }
                if operation.name == "Unsubscribe", let subscriptionPath {
                    self.subscriptions.withLockedValue { $0.removeAll { $0.path == subscriptionPath } }
                }
                if let snapshot = result.cameraSnapshotURL, let path = self.cameraPath(snapshot) {
                    // Bounded: the profile tokens come from the VMS.
                    self.snapshots.withLockedValue { snapshots in
                        let key = ResponseRewriter.snapshotKey(profile)
                        if snapshots[key] == nil, snapshots.count >= 64 { snapshots.removeAll() }
                        snapshots[key] = path
                    }
                }
                return self.ok(result.body)
            } catch {
                self.logger.warning("ONVIF call failed", metadata: ["operation": "\(operation)", "error": "\(error)"])
                return self.fault(error)
            }
        case .refuse:
            return self.fault(.actionNotSupported(operation.description))
        }
    }

    // MARK: Recorder channels

    /// The request as the channel may send it, and the view it was checked against; a token the recorder's last
    /// answer did not have gets one early refresh (a profile just made) before it is refused.
    private func admit(
        _ body: XMLElement,
        _ channel: (recorder: RecorderChannels, selector: ChannelView.Selector)
    ) async throws(SOAPFault) -> Result<(ChannelView, XMLElement), ChannelView.Refused> {
        var view = try await channel.recorder.view(channel.selector)
        if case .success(let admitted) = view.admit(body) { return .success((view, admitted)) }
        view = try await channel.recorder.view(channel.selector, fresh: true)
        return view.admit(body).map { (view, $0) }
    }

    // MARK: Pre-auth answers

    /// GetServices and GetServiceCapabilities may come without credentials (ONVIF Core §5.9.4), and the camera
    /// answers them signed with its credentials: so the gateway writes the request itself (only IncludeCapability
    /// is taken from the VMS's, never another child it chose) and keeps the camera's answer for a minute, so that
    /// unauthenticated requests reach the camera at most twice a minute however many arrive.
    private func preAuthAnswer(
        _ operation: SOAPRequest.Operation,
        _ body: XMLElement
    ) async throws(SOAPFault)
        -> XMLElement
    {
        var request = XMLElement(namespace: operation.namespace, name: operation.name)
        var key = operation.name
        if operation.name == "GetServices" {
            let include = ["true", "1"].contains(
                body.first(namespace: ONVIFNamespace.device, name: "IncludeCapability")?.trimmedText ?? ""
            )
            request.children = [.element(SOAPMessage.text(ONVIFNamespace.device, "IncludeCapability", "\(include)"))]
            key += include ? "+capabilities" : ""
        }
        let now = NIODeadline.now()
        if let cached = self.preAuthAnswers.withLockedValue({ $0[key] }), now - cached.at < .seconds(60) {
            return cached.answer
        }
        let answer = try await self.client.call(request, namespace: operation.namespace, path: nil)
        self.preAuthAnswers.withLockedValue { $0[key] = (answer, now) }
        return answer
    }

    // MARK: Authentication

    /// What anonymous reads never extend to: anything that moves the camera, subscribes to it or writes to it.
    static func needsAUser(_ operation: SOAPRequest.Operation) -> Bool {
        switch ONVIFOperationCatalog.kind(of: operation) {
        case .ptz, .events, .enrollmentWrite: true
        case .local, .deviceRead, .streamingRead, nil: false  // nil: refused by the policy anyway
        }
    }

    private enum Authentication {
        case success(String)
        case failure(Response)
    }

    /// The name the failed-login gate counts: a user who may use this camera from the source, or nil (a name
    /// that cannot sign in here has only its source's count, and junk names cannot crowd out the real ones).
    private static func countedUser(_ claimed: String?, among users: [User]) -> String? {
        guard let claimed else { return nil }
        return users.first { $0.name == claimed }?.name
    }

    /// The users who may use this camera from the request's source.
    private func users(for request: Request) -> [User] {
        self.configuration.users.filter { $0.mayUse(camera: self.configuration.cameraName, source: request.source) }
    }

    private enum DigestOutcome {
        case user(String)
        case stale
        case replayed
        case refused
    }

    /// HTTP Digest (SHA-256 or MD5, over the same HA1s as RTSP): the response must prove the password for this
    /// request's method and target, over a nonce this device issued, unexpired, with a nonce count above its last.
    private func digestUser(_ credentials: AuthenticationParameters, _ request: Request) -> DigestOutcome {
        let users = self.users(for: request)
        for algorithm in [DigestAlgorithm.sha256, .md5] {
            let verifier = DigestVerifier(realm: self.configuration.realm, algorithm: algorithm)
            var use: DigestNonces.Use?
            let user = verifier.verify(
                credentials,
                method: request.method,
                // The target as the client sent it: in path mode, with the device's mount.
                requestURI: request.mount + request.path,
                acceptNonce: { nonce, count in
                    let outcome = self.nonces.withLockedValue { $0.use(nonce, count: count, now: .now()) }
                    use = outcome
                    return outcome == .accepted
                },
                storedHA1: { name in
                    let user = users.first { $0.name == name }
                    return algorithm == .md5 ? user?.ha1MD5 : user?.ha1SHA256
                }
            )
            if let user { return .user(user) }
            switch use {
            case .stale: return .stale
            case .replayed: return .replayed
            case .accepted, nil: continue
            }
        }
        return .refused
    }

    private func authenticate(_ soap: SOAPRequest, _ request: Request) -> Authentication {
        // Over the limit: refused without the credentials being looked at, like RTSP (the same limiter).
        let users = self.users(for: request)
        let claimed = Self.countedUser(
            soap.usernameToken?.username ?? AuthenticationParameters.claimedUser(request.authorization),
            among: users
        )
        if self.configuration.loginFailures.isLimited(request.source, user: claimed) {
            return .failure(self.fault(SOAPFault.notAuthorized))  // no challenge: a limited source gets no nonce
        }
        if let token = soap.usernameToken {
            let outcome = self.tokens.withLockedValue { verifier in
                verifier.verify(
                    token,
                    now: Date(),
                    source: request.source,
                    isRead: !Self.needsAUser(soap.operation) && ONVIFOperationCatalog.kind(of: soap.operation) != nil
                ) { name in users.first { $0.name == name }?.onvifPassword }
            }
            if case .valid(let user) = outcome { return self.signedIn(user, request) }
            if case .invalid(let reason) = outcome { return self.refuseLogin(reason, request, user: claimed) }
        }
        if let value = request.authorization, let credentials = try? AuthenticationParameters.parseList(value).first {
            switch self.digestUser(credentials, request) {
            case .user(let user): return self.signedIn(user, request)
            case .stale: return .failure(self.challenge(SOAPFault.notAuthorized, stale: true))
            case .replayed: return self.refuseLogin("HTTP Digest nonce replayed", request, user: claimed)
            case .refused: return self.refuseLogin("wrong HTTP Digest credentials", request, user: claimed)
            }
        }
        return .failure(self.challenge(SOAPFault.notAuthorized))
    }

    private func signedIn(_ user: String, _ request: Request) -> Authentication {
        self.configuration.loginFailures.recordSuccess(request.source, user: user)
        return .success(user)
    }

    private func refuseLogin(_ reason: String, _ request: Request, user: String?) -> Authentication {
        self.counts.withLockedValue { $0.authFailures += 1 }
        let limited = self.configuration.loginFailures.recordFailure(request.source, user: user)
        self.logger.notice(
            limited
                ? "ONVIF login failed; over the limit: refusing this source (or this user) for a while"
                : "ONVIF login failed",
            metadata: ["source": "\(request.source)", "reason": "\(reason)", "audit": "true"]
        )
        return .failure(self.challenge(SOAPFault.notAuthorized))
    }

    /// A 401 with a fresh nonce per challenge (one for both algorithms, so a client may pick either).
    private func challenge(_ fault: SOAPFault, stale: Bool = false) -> Response {
        var response = self.fault(fault)
        let nonce = self.nonces.withLockedValue { $0.issue(now: .now()) }
        for algorithm in [DigestAlgorithm.sha256, .md5] {
            let challenge = DigestVerifier(realm: self.configuration.realm, algorithm: algorithm).challenge(
                nonce: nonce,
                qop: true,
                stale: stale
            )
            response.headers.append(("WWW-Authenticate", challenge))
        }
        return response
    }

    // MARK: Events

    /// The camera's subscription address becomes the gateway's: `/onvif/subscription/<id>` on this device.
    private func mapSubscription(
        original: XMLElement,
        rewritten: XMLElement,
        base: String
    ) throws(SOAPFault) -> XMLElement {
        let addressing = ["http://www.w3.org/2005/08/addressing", ONVIFNamespace.addressing]
        func address(_ element: XMLElement) -> XMLElement? {
            guard let reference = element.first(namespace: ONVIFNamespace.events, name: "SubscriptionReference") else {
                return nil
            }
            return addressing.lazy.compactMap { reference.first(namespace: $0, name: "Address") }.first
        }
        guard let cameraURL = address(original)?.trimmedText, let path = self.cameraPath(cameraURL) else {
            throw SOAPFault.cameraUnavailable("the camera's subscription address is not its own")
        }
        let id = randomHex(bytes: 12)
        self.subscriptions.withLockedValue { subscriptions in
            subscriptions.append((id, path))
            if subscriptions.count > 64 { subscriptions.removeFirst() }
        }
        return rewritten.mapElements { element in
            guard element.name == "Address", addressing.contains(element.namespace ?? "") else { return element }
            var element = element
            element.children = [.text(base + Self.subscriptionPrefix + id)]
            return element
        }
    }

    /// The path and query of a URL on the camera itself (never another host).
    private func cameraPath(_ url: String) -> String? {
        guard let components = URLComponents(string: url), components.scheme == "http",
            let host = components.host,
            self.configuration.cameraHosts.contains(host) || host == self.client.configuration.host
        else { return nil }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    // MARK: Snapshots

    private func snapshot(_ request: Request) async -> Response {
        let token = String(request.path.dropFirst("/snapshot/".count))
        guard !self.configuration.allowAnonymous else { return await self.fetchSnapshot(token) }
        let claimed = Self.countedUser(
            AuthenticationParameters.claimedUser(request.authorization),
            among: self.users(for: request)
        )
        if self.configuration.loginFailures.isLimited(request.source, user: claimed) {
            return self.fault(.notAuthorized)
        }
        guard let value = request.authorization, let credentials = try? AuthenticationParameters.parseList(value).first
        else {
            return self.challenge(.notAuthorized)
        }
        switch self.digestUser(credentials, request) {
        case .user(let user):
            _ = self.signedIn(user, request)
            return await self.fetchSnapshot(token)
        case .stale: return self.challenge(.notAuthorized, stale: true)
        case .replayed: _ = self.refuseLogin("snapshot Digest nonce replayed", request, user: claimed)
        case .refused: _ = self.refuseLogin("wrong snapshot credentials", request, user: claimed)
        }
        return self.challenge(.notAuthorized)
    }

    private func fetchSnapshot(_ token: String) async -> Response {
        guard let path = self.snapshots.withLockedValue({ $0[token] }) else {
            return Response(
                status: 404,
                contentType: "text/plain",
                headers: [],
                body: Array("ask GetSnapshotUri first\n".utf8)
            )
        }
        do {
            let answer = try await self.client.snapshot(path: path)
            guard answer.status == 200 else {
                return Response(
                    status: 502,
                    contentType: "text/plain",
                    headers: [],
                    body: Array("camera answered \(answer.status)\n".utf8)
                )
            }
            // JPEG or PNG by their first bytes, whatever the camera's Content-Type says: an `image/svg+xml` (or
            // HTML called image/jpeg) would carry script to a browser-based VMS.
            guard let type = Self.imageType(answer.body) else {
                return Response(
                    status: 502,
                    contentType: "text/plain",
                    headers: [],
                    body: Array("not a JPEG or PNG\n".utf8)
                )
            }
            return Response(
                status: 200,
                contentType: type,
                headers: [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")],
                body: answer.body
            )
        } catch {
            return Response(status: 502, contentType: "text/plain", headers: [], body: Array("\(error)\n".utf8))
        }
    }

    static func imageType(_ body: [UInt8]) -> String? {
        if body.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if body.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        return nil
    }

    // MARK: Answers

    private func ok(_ body: XMLElement) -> Response {
        Response(
            status: 200,
            contentType: "application/soap+xml; charset=utf-8",
            headers: [],
            body: Array(XMLWriter.document(SOAPMessage.envelope(body: [body])).utf8)
        )
    }

    private func fault(_ fault: SOAPFault) -> Response {
        Response(
            status: fault.httpStatus,
            contentType: "application/soap+xml; charset=utf-8",
            headers: [],
            body: Array(fault.document.utf8)
        )
    }
}
