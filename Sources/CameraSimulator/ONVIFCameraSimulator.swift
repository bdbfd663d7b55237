import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ONVIF
import RTSPRelay

/// A camera's ONVIF service for tests: it answers from real cameras' replies (a directory of fixture files),
/// requires a WS-UsernameToken on its own clock (which can be set off) or HTTP Digest, locks the caller out after
/// repeated failures as Hikvision and Dahua firmware does, and counts every operation it receives — so a test can
/// prove that what the gateway refuses never reaches the camera.
public final class ONVIFCameraSimulator: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 0
        public var username = "admin"
        public var password = "cam-onvif-1"
        /// Seconds the camera's clock is ahead of the real time (negative: behind).
        public var clockOffset: TimeInterval = 0
        /// Accept only HTTP Digest (some Hikvision firmware), not UsernameToken.
        public var digestOnly = false
        /// Each Digest nonce is good for one request, and the next 401 brings a new one (Dahua).
        public var freshNoncePerRequest = false
        /// Failed logins before the lockout, and its length.
        public var lockoutAfter = 5
        public var lockout: Duration = .seconds(1800)
        /// The directory of `<prefix><Operation>Response.xml` fixture files and the prefixes, by namespace.
        public var fixtures: URL
        public var fixtureFiles: [String: String]
        /// The addresses the fixtures were captured from, replaced by this simulator's, as a camera names itself.
        public var fixtureHosts = ["192.168.1.182", "192.168.8.120"]
        /// Without fixtures: the demo camera's own answers, its stream at this RTSP URL.
        public var demoRTSPURL: String?
        /// Without fixtures: a demo recorder's answers, every channel's streams below this `rtsp://host:port`.
        public var demoRecorder: (rtspBase: String, layout: CameraSimulator.Recorder)?
        /// What a snapshot GET answers (a hostile camera's SVG, HTML called a JPEG); nil: a small JPEG.
        public var snapshot: (contentType: String, body: [UInt8])?

        public init(fixtures: URL, fixtureFiles: [String: String]) {
            self.fixtures = fixtures
            self.fixtureFiles = fixtureFiles
        }

        /// The Hikvision ENP1A14 captures in `../shared/fixtures/onvif/hikvision`, keyed by operation.
        /// The demo camera: answers of its own (no fixture files), its stream at `rtspURL`.
        public static func demo(rtspURL: String) -> Configuration {
            var configuration = Configuration(fixtures: URL(fileURLWithPath: "/nonexistent"), fixtureFiles: [:])
            configuration.demoRTSPURL = rtspURL
            return configuration
        }

        /// A demo recorder: every channel's profiles on one device, its streams below `rtspBase`.
        public static func recorder(_ layout: CameraSimulator.Recorder, rtspBase: String) -> Configuration {
            var configuration = Configuration(fixtures: URL(fileURLWithPath: "/nonexistent"), fixtureFiles: [:])
            configuration.demoRecorder = (rtspBase, layout)
            return configuration
        }

        public static func hikvision(fixtures: URL) -> Configuration {
            let prefix = "easyonvif_ENP1A14_"
            return Configuration(
                fixtures: fixtures,
                fixtureFiles: [
                    "device:GetCapabilities": prefix + "device_management_GetCapabilitiesResponse.xml",
                    "device:GetServices": prefix + "device_management_GetServicesResponse.xml",
                    "device:GetDeviceInformation": prefix + "device_management_GetDeviceInformationResponse.xml",
                    "device:GetUsers": prefix + "device_management_GetUsersResponse.xml",
                    "media:GetProfiles": prefix + "media1_GetProfilesResponse.xml",
                    "media:GetStreamUri": prefix + "media1_GetStreamUriResponse.xml",
                    "media:GetSnapshotUri": prefix + "media1_GetSnapshotUriResponse.xml",
                    "media2:GetProfiles": prefix + "media2_GetProfilesResponse.xml",
                    "media2:GetStreamUri": prefix + "media2_GetStreamUriResponse.xml",
                    "ptz:GetPresets": prefix + "ptz_GetPresetsResponse.xml",
                    "device:GetNTP": "exonvif_get_ntp.xml",
                    "events:GetEventProperties": "exonvif_get_event_properties.xml",
                    "events:CreatePullPointSubscription": "exonvif_create_pull_point_subscription.xml",
                    "events:PullMessages": "exonvif_pull_messages.xml",
                ]
            )
        }
    }

    struct State {
        var nonce = randomHex(bytes: 16)
        var received: [String: Int] = [:]
        /// Every HTTP request, whatever its method and path: what a test asserts reached the camera.
        var requests: [String] = []
        var lastBodies: [String: String] = [:]
        var failures = 0
        var lockedUntil: ContinuousClock.Instant?
        var channel: (any Channel)?
    }

    public let configuration: Configuration
    private let state = NIOLockedValueBox(State())
    private var nonce: String { self.state.withLockedValue { $0.nonce } }

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func start() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ONVIFSimulatorHandler(simulator: self))
                }
            }
            .bind(host: self.configuration.host, port: self.configuration.port)
            .get()
        self.state.withLockedValue { $0.channel = channel }
    }

    public func stop() async throws {
        let channel = self.state.withLockedValue { $0.channel }
        try await channel?.close()
    }

    public var port: Int { self.state.withLockedValue { $0.channel?.localAddress?.port } ?? 0 }

    /// Requests received, by `service:Operation` (authenticated or not).
    public func received(_ operation: String) -> Int { self.state.withLockedValue { $0.received[operation] ?? 0 } }
    /// The last request document of an operation (`device:GetServices`), as it arrived.
    public func lastBody(_ operation: String) -> String? { self.state.withLockedValue { $0.lastBodies[operation] } }
    /// `METHOD path` of every HTTP request received, in order (the last 1024).
    public var requests: [String] { self.state.withLockedValue { $0.requests } }
    public var allReceived: [String: Int] { self.state.withLockedValue { $0.received } }
    public var isLockedOut: Bool {
        self.state.withLockedValue { $0.lockedUntil.map { ContinuousClock.now < $0 } ?? false }
    }
    public var failedLogins: Int { self.state.withLockedValue { $0.failures } }

    // MARK: Answers

    func answer(
        method: String,
        path: String,
        authorization: String?,
        body: [UInt8]
    ) -> (Int, [(String, String)], String, [UInt8]) {
        self.state.withLockedValue { state in
            state.requests.append("\(method) \(path)")
            if state.requests.count > 1024 { state.requests.removeFirst() }
        }
        if method == "GET" {
            guard self.digestValid(authorization, method: "GET") else { return self.unauthorized() }
            if let snapshot = self.configuration.snapshot { return (200, [], snapshot.contentType, snapshot.body) }
            // A JPEG's first and last bytes around nothing: enough for a content check.
            return (
                200, [], "image/jpeg",
                [0xFF, 0xD8, 0xFF, 0xE0] + Array("camgw-simulator-snapshot".utf8) + [0xFF, 0xD9]
            )
        }
        let request: SOAPRequest
        do {
            request = try SOAPRequest.parse(body)
        } catch {
            return (400, [], "application/soap+xml", Array(error.document.utf8))
        }
        let key = ONVIFOperationCatalog.serviceName(request.operation.namespace) + ":" + request.operation.name
        self.state.withLockedValue {
            $0.received[key, default: 0] += 1
            $0.lastBodies[key] = String(decoding: body, as: UTF8.self)
        }
        if request.operation.name == "GetSystemDateAndTime" {
            return self.soap(self.systemDateAndTime())
        }
        if let until = self.state.withLockedValue({ $0.lockedUntil }), ContinuousClock.now < until {
            return (401, [], "application/soap+xml", Array(SOAPFault.notAuthorized.document.utf8))
        }
        let authorized: Bool
        if self.configuration.digestOnly {
            authorized = self.digestValid(authorization, method: "POST")
            // No credentials, or a nonce no longer current: a new challenge, not a failed login.
            if !authorized, authorization == nil || self.staleNonce(authorization) { return self.unauthorized() }
        } else if let token = request.usernameToken {
            var verifier = WSUsernameTokenVerifier()
            let now = Date().addingTimeInterval(self.configuration.clockOffset)
            let outcome = verifier.verify(token, now: now) {
                $0 == self.configuration.username ? self.configuration.password : nil
            }
            authorized = outcome == .valid(user: self.configuration.username)
        } else {
            authorized = self.digestValid(authorization, method: "POST")
        }
        guard authorized else {
            self.state.withLockedValue { state in
                state.failures += 1
                if state.failures >= self.configuration.lockoutAfter {
                    state.lockedUntil = ContinuousClock.now + self.configuration.lockout
                }
            }
            return (400, [], "application/soap+xml", Array(SOAPFault.notAuthorized.document.utf8))
        }
        self.state.withLockedValue { $0.failures = 0 }
        if let file = self.configuration.fixtureFiles[key],
            let data = FileManager.default.contents(
                atPath: self.configuration.fixtures.appendingPathComponent(file).path
            )
        {
            var text = String(decoding: data, as: UTF8.self)
            for host in self.configuration.fixtureHosts {
                text = text.replacingOccurrences(of: host, with: self.configuration.host)
            }
            return (200, [], "application/soap+xml; charset=utf-8", Array(text.utf8))
        }
        if let recorder = self.configuration.demoRecorder,
            let body = DemoRecorderONVIFAnswers.response(
                to: request,
                recorder: recorder.layout,
                host: self.configuration.host,
                port: self.port,
                rtspBase: recorder.rtspBase
            )
        {
            return self.soap(body)
        }
        if let rtspURL = self.configuration.demoRTSPURL,
            let body = DemoONVIFAnswers.response(
                to: request.operation,
                host: self.configuration.host,
                port: self.port,
                rtspURL: rtspURL
            )
        {
            return self.soap(body)
        }
        if ["SystemReboot", "SetSystemFactoryDefault", "CreateUsers", "DeleteUsers", "SetUser"].contains(
            request.operation.name
        ) {
            // A camera does what it is told: the gateway must never let these through.
            return self.soap(
                XMLElement(namespace: request.operation.namespace, name: request.operation.name + "Response")
            )
        }
        if request.operation.namespace == ONVIFNamespace.ptz || request.operation.namespace == ONVIFNamespace.wsnt
            || request.operation.name == "SetSynchronizationPoint"
        {
            return self.soap(XMLElement(namespace: ONVIFNamespace.ptz, name: request.operation.name + "Response"))
        }
        return (500, [], "application/soap+xml", Array(SOAPFault.actionNotSupported(key).document.utf8))
    }

    private func soap(_ body: XMLElement) -> (Int, [(String, String)], String, [UInt8]) {
        (
            200, [], "application/soap+xml; charset=utf-8",
            Array(XMLWriter.document(SOAPMessage.envelope(body: [body])).utf8)
        )
    }

    private func systemDateAndTime() -> XMLElement {
        let operation = SOAPRequest.Operation(ONVIFNamespace.device, "GetSystemDateAndTime")
        return LocalAnswers.response(
            to: operation,
            device: VirtualDevice(cameraName: "simulator"),
            gatewayHost: self.configuration.host,
            gatewayPort: self.port,
            now: Date().addingTimeInterval(self.configuration.clockOffset)
        )!
    }

    private static let realm = "IP Camera(C4321)"

    private func unauthorized() -> (Int, [(String, String)], String, [UInt8]) {
        let challenge = DigestVerifier(realm: Self.realm, algorithm: .md5).challenge(nonce: self.nonce)
        return (401, [("WWW-Authenticate", challenge)], "text/plain", Array("401 Unauthorized\n".utf8))
    }

    private func staleNonce(_ authorization: String?) -> Bool {
        guard let authorization, let credentials = try? AuthenticationParameters.parseList(authorization).first,
            let nonce = credentials["nonce"]
        else { return false }
        return nonce != self.nonce
    }

    private func digestValid(_ authorization: String?, method: String) -> Bool {
        guard let authorization, let credentials = try? AuthenticationParameters.parseList(authorization).first else {
            return false
        }
        let verifier = DigestVerifier(realm: Self.realm, algorithm: .md5)
        let current = self.nonce
        let valid =
            verifier.verify(
                credentials,
                method: RTSPMethod(method),
                acceptNonce: { given, _ in given == current },
                storedHA1: { name in
                    name == self.configuration.username
                        ? DigestAlgorithm.md5.hash("\(name):\(Self.realm):\(self.configuration.password)") : nil
                }
            ) != nil
        if valid, self.configuration.freshNoncePerRequest {
            self.state.withLockedValue { $0.nonce = randomHex(bytes: 16) }
        }
        return valid
    }
}

final class ONVIFSimulatorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let simulator: ONVIFCameraSimulator
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(simulator: ONVIFCameraSimulator) {
        self.simulator = simulator
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
        case .body(let buffer):
            if self.body.count < 256 * 1024 { self.body += buffer.readableBytesView }
        case .end:
            guard let head = self.head else { return }
            let (status, extra, type, body) = self.simulator.answer(
                method: head.method.rawValue,
                path: head.uri,
                authorization: head.headers.first(name: "Authorization"),
                body: self.body
            )
            var headers = HTTPHeaders([
                ("Content-Type", type), ("Content-Length", String(body.count)), ("Connection", "close"),
            ])
            for (name, value) in extra { headers.add(name: name, value: value) }
            context.write(
                Self.wrapOutboundOut(
                    .head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))
                ),
                promise: nil
            )
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
