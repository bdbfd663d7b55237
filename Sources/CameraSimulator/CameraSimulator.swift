import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import RTSPRelay
import ServiceLifecycle

/// An RTSP camera for tests and for the demo: it streams its tracks (H.264 or H.265 video, AAC or G.711 audio,
/// ONVIF metadata) at their real rates over TCP interleaved or UDP, takes ONVIF backchannel audio when asked,
/// answers OPTIONS, DESCRIBE (with a Digest challenge when credentials are set), SETUP, PLAY, GET_PARAMETER,
/// SET_PARAMETER and TEARDOWN, and has switches for the faults a gateway must survive.
///
/// It counts the sessions opened on it, so that a test can prove that N readers of the gateway cost the camera one.
public final class CameraSimulator: Sendable {
    public struct Credentials: Sendable {
        public var username: String
        public var password: String
        /// What a 401 offers, in order. Digest MD5 alone is what most cameras send.
        public var schemes: [ClientAuthenticator.Scheme]

        public init(username: String, password: String, schemes: [ClientAuthenticator.Scheme] = [.digest(.md5)]) {
            self.username = username
            self.password = password
            self.schemes = schemes
        }
    }

    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port; read ``port`` after ``start()``.
        public var port = 0
        /// The stream's path, as a camera's `/Streaming/Channels/101`.
        public var path = "/Streaming/Channels/101"
        /// A recorder (NVR): every channel's streams on this one address, instead of `path` alone.
        public var recorder: Recorder?
        public var credentials: Credentials?
        /// Seconds without a request after which a session's connection is closed, as cameras do.
        public var sessionTimeout = 60
        /// The video's payload type.
        public var payloadType: UInt8 = 96
        /// The tracks offered, in SDP order: one video and any of the audio and metadata codecs.
        public var media: [MediaClip.Codec] = [.h264]
        /// The audio codec of an ONVIF backchannel (camera speaker), offered to a client that sends
        /// `Require: www.onvif.org/ver20/backchannel`; `nil` answers such a client 551, as cameras without one do.
        public var backchannel: MediaClip.Codec?
        public var serverName = "CamGateway-Simulator/1.0"
        /// Camera firmware habits that relays trip on (MediaMTX's and go2rtc's users report them).
        public var quirks: Set<Quirk> = []
        /// RTSPS: PEM certificate chain and key files (a camera with a self-signed certificate).
        public var tls: (certificateChain: String, privateKey: String)?

        public init() {}

        /// Every path the simulator serves.
        public var paths: [String] {
            guard let recorder else { return [self.path] }
            return (1...max(1, recorder.channels)).flatMap { channel in
                (1...max(1, recorder.streams)).map { recorder.path(channel: channel, stream: $0) }
            }
        }
    }

    /// An NVR's layout: channels 1…N, each with main, sub (and more) streams at its firmware's paths.
    public enum Quirk: String, Sendable, Hashable, CaseIterable {
        /// Each Digest nonce is good for one request; the next gets 401 with a new one (`stale=true`).
        case freshNoncePerRequest
        /// `Content-Base: rtsp://cam/Streaming/Channels/101?transportmode=unicast/`: a control URL is the base and
        /// the track joined as text, not resolved as a relative URL (which would drop `101`).
        case contentBaseWithQuery
        /// `Session:   0000A1B2C3D4  ;timeout=60`: blanks around the id, leading zeros in it.
        case paddedSessionID
    }

    public struct Recorder: Sendable, Hashable {
        public enum Style: String, Sendable, Hashable, CaseIterable {
            case hikvision
            case dahua
        }

        public var channels: Int
        public var style: Style
        public var streams = 2

        public init(channels: Int, style: Style, streams: Int = 2) {
            self.channels = channels
            self.style = style
            self.streams = streams
        }

        /// `stream` is 1-based: 1 the main stream, 2 the sub stream.
        public func path(channel: Int, stream: Int) -> String {
            switch self.style {
            case .hikvision: "/Streaming/Channels/\(channel)0\(stream)"
            case .dahua: "/cam/realmonitor?channel=\(channel)&subtype=\(stream - 1)"
            }
        }
    }

    /// Garbage the simulator can be told to send.
    public enum Garbage: Sendable {
        /// Answer every request with bytes that are not RTSP.
        case responses
        /// Put bytes that are not a `$` frame between the stream's packets.
        case stream
    }

    public let configuration: Configuration
    let clips: [MediaClip]
    let backchannelClip: MediaClip?
    let logger: Logger
    private let group: any EventLoopGroup
    private let state = NIOLockedValueBox(SharedState())

    struct SharedState {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var stalled = false
        var generation = Generation()
        var cannedResponses: [RTSPMethod: ByteBuffer] = [:]
        var garbage: Garbage?
        var sessionsOpened = 0
        var activeSessions = 0
        var activeByPath: [String: Int] = [:]
        var openedByPath: [String: Int] = [:]
        var connectionsAccepted = 0
        var requests: [RTSPMethod: Int] = [:]
        /// Requests that carried Basic credentials: a password sent in clear.
        var basicCredentials = 0
        /// 401 answers sent.
        var challenges = 0
        var framesSkipped = 0
        var rtcpReceived = 0
        var backchannelPackets = 0
        var backchannelBytes = 0
        var hostile: HostileBehaviour?
        /// The last request URIs, to show which host and path a client asked for.
        var requestURIs: [String] = []
    }

    /// What a camera reboot changes: the RTP timestamp base (and, through new sessions, SSRC and sequence).
    struct Generation: Sendable {
        var number = 0
        var timestampBase = UInt32.random(in: 0...UInt32.max)
        var epoch = NIODeadline.now()
    }

    public init(
        configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "camgw.simulator")
    ) throws {
        guard !configuration.media.isEmpty else { throw H264Clip.ClipError(message: "a camera needs a track") }
        self.configuration = configuration
        self.clips = try configuration.media.map { codec in
            try MediaClip.demo(codec, videoPayloadType: configuration.payloadType)
        }
        self.backchannelClip = try configuration.backchannel.map { try MediaClip.demo($0) }
        self.group = group
        self.logger = logger
    }

    // MARK: Lifecycle

    /// Binds and starts accepting connections.
    public func start() async throws {
        let tlsContext: NIOSSLContext? = try self.configuration.tls.map { tls in
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
            return try NIOSSLContext(
                configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            )
        }
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RTSPMessageDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SimulatorConnectionHandler(simulator: self))
                }
            }
            .bind(host: self.configuration.host, port: self.configuration.port)
            .get()
        self.state.withLockedValue { $0.serverChannel = channel }
        self.logger.info("camera simulator listening", metadata: ["url": "\(self.url)"])
    }

    /// Stops accepting and closes every connection.
    public func stop() async throws {
        let (server, connections) = self.state.withLockedValue { state in
            defer {
                state.serverChannel = nil
                state.connections = [:]
            }
            return (state.serverChannel, Array(state.connections.values))
        }
        for connection in connections { connection.close(promise: nil) }
        try await server?.close()
    }

    /// The bound port, once started.
    public var port: Int {
        self.state.withLockedValue { $0.serverChannel?.localAddress?.port } ?? self.configuration.port
    }

    /// The stream's URL without credentials.
    public var url: String {
        let host = self.configuration.host.contains(":") ? "[\(self.configuration.host)]" : self.configuration.host
        return "\(self.configuration.tls == nil ? "rtsp" : "rtsps")://\(host):\(self.port)\(self.configuration.path)"
    }

    // MARK: Fault switches

    /// Closes every client connection now, as a camera that drops its clients.
    public func closeAllConnections() {
        let connections = self.state.withLockedValue { Array($0.connections.values) }
        for connection in connections { connection.close(promise: nil) }
    }

    /// While stalled, sessions stay open and answer requests but no RTP or RTCP is sent.
    public func setStalled(_ stalled: Bool) {
        self.state.withLockedValue { $0.stalled = stalled }
    }

    /// A reboot: every connection closes, and what follows has a new RTP timestamp base, new SSRCs and new
    /// sequence numbers.
    public func restart() {
        self.state.withLockedValue { state in
            state.generation = Generation(number: state.generation.number + 1)
        }
        self.closeAllConnections()
    }

    /// Answers `method` with these bytes (a fixture), its `CSeq` line rewritten to the request's; `nil` goes
    /// back to normal answers.
    public func respond(to method: RTSPMethod, with fixture: ByteBuffer?) {
        self.state.withLockedValue { $0.cannedResponses[method] = fixture }
    }

    /// Turns the camera hostile (see ``HostileBehaviour``), or back to normal with `nil`.
    public func setHostile(_ behaviour: HostileBehaviour?) {
        self.state.withLockedValue { $0.hostile = behaviour }
    }

    /// The last 100 request URIs received.
    public var requestURIs: [String] { self.state.withLockedValue { $0.requestURIs } }

    public func sendGarbage(_ garbage: Garbage?) {
        self.state.withLockedValue { $0.garbage = garbage }
    }

    // MARK: Counters

    /// Sessions created by SETUP since start.
    public var sessionsOpened: Int { self.state.withLockedValue { $0.sessionsOpened } }
    /// Sessions alive now.
    public var activeSessions: Int { self.state.withLockedValue { $0.activeSessions } }
    /// Sessions alive now, by the stream path they were set up on (a recorder's channels apart).
    public var activeSessionsByPath: [String: Int] { self.state.withLockedValue { $0.activeByPath } }
    /// Sessions set up since start, by stream path.
    public var sessionsOpenedByPath: [String: Int] { self.state.withLockedValue { $0.openedByPath } }
    public var connectionsAccepted: Int { self.state.withLockedValue { $0.connectionsAccepted } }
    /// Frames not sent because a client did not read fast enough (as a camera drops them).
    public var framesSkipped: Int { self.state.withLockedValue { $0.framesSkipped } }

    /// RTCP packets (receiver reports) clients sent over TCP interleaved.
    public var rtcpReceived: Int { self.state.withLockedValue { $0.rtcpReceived } }

    /// RTP packets a client sent on the backchannel, and their payload bytes.
    public var backchannelReceived: (packets: Int, bytes: Int) {
        self.state.withLockedValue { ($0.backchannelPackets, $0.backchannelBytes) }
    }

    func receivedBackchannel(payloadBytes: Int) {
        self.state.withLockedValue {
            $0.backchannelPackets += 1
            $0.backchannelBytes += payloadBytes
        }
    }

    func receivedRTCP() {
        self.state.withLockedValue { $0.rtcpReceived += 1 }
    }

    func frameSkipped() {
        self.state.withLockedValue { $0.framesSkipped += 1 }
    }

    /// Requests received, by method.
    public func requestCount(_ method: RTSPMethod) -> Int { self.state.withLockedValue { $0.requests[method] ?? 0 } }

    /// Requests that carried Basic credentials (the camera's password, readable by anyone on its network).
    public var basicCredentialsReceived: Int { self.state.withLockedValue { $0.basicCredentials } }

    func countBasicCredentials() { self.state.withLockedValue { $0.basicCredentials += 1 } }

    /// 401 answers sent: with a fresh nonce per request, one per request the client makes.
    public var challengesSent: Int { self.state.withLockedValue { $0.challenges } }

    func countChallenge() { self.state.withLockedValue { $0.challenges += 1 } }

    // MARK: For the connection handlers

    var snapshot: SharedState { self.state.withLockedValue { $0 } }

    func connectionOpened(_ channel: any Channel) {
        self.state.withLockedValue {
            $0.connections[ObjectIdentifier(channel)] = channel
            $0.connectionsAccepted += 1
        }
    }

    func connectionClosed(_ channel: any Channel) {
        _ = self.state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func received(_ method: RTSPMethod, uri: String) {
        self.state.withLockedValue {
            $0.requests[method, default: 0] += 1
            $0.requestURIs.append(uri)
            if $0.requestURIs.count > 100 { $0.requestURIs.removeFirst() }
        }
    }

    func sessionOpened(path: String) {
        self.state.withLockedValue {
            $0.sessionsOpened += 1
            $0.activeSessions += 1
            $0.activeByPath[path, default: 0] += 1
            $0.openedByPath[path, default: 0] += 1
        }
    }

    func sessionClosed(path: String) {
        self.state.withLockedValue {
            $0.activeSessions -= 1
            $0.activeByPath[path, default: 0] -= 1
            if $0.activeByPath[path] == 0 { $0.activeByPath[path] = nil }
        }
    }
}

extension CameraSimulator: Service {
    /// Runs until graceful shutdown (for `ServiceGroup`).
    public func run() async throws {
        try await self.start()
        try? await gracefulShutdown()
        try await self.stop()
    }
}
