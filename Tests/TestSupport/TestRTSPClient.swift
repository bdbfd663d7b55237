import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RTSPRelay

/// A minimal RTSP client over our own parser and serializer, for driving servers in tests where a real client
/// (ffmpeg) cannot show what is needed: exact responses, interleaved packets, counters, faults.
public final class TestRTSPClient: Sendable {
    public struct Timeout: Error, CustomStringConvertible {
        public var what: String
        public var description: String { "timed out waiting for \(self.what)" }
    }

    struct Inbox {
        var frames: [RTSPFrame] = []
        var error: (any Error)?
        var closed = false
    }

    private let channel: any Channel
    private let inbox: NIOLockedValueBox<Inbox>
    private let sequence = NIOLockedValueBox<UInt32>(0)
    public let authenticator: NIOLockedValueBox<ClientAuthenticator?>

    private init(channel: any Channel, inbox: NIOLockedValueBox<Inbox>, authenticator: ClientAuthenticator?) {
        self.channel = channel
        self.inbox = inbox
        self.authenticator = NIOLockedValueBox(authenticator)
    }

    /// - Parameter receiveBuffer: a small `SO_RCVBUF` makes a reader that stops reading fill up quickly.
    /// - Parameter localAddress: the source address (a loopback one: tests send nowhere else).
    public static func connect(
        host: String = "127.0.0.1",
        port: Int,
        authenticator: ClientAuthenticator? = nil,
        receiveBuffer: Int? = nil,
        localAddress: String? = nil
    ) async throws -> TestRTSPClient {
        let inbox = NIOLockedValueBox(Inbox())
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        // Another loopback source (127.0.0.2 …): the same host as many VMS addresses, for per-source limits.
        if let localAddress { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localAddress, port: 0)) }
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RTSPMessageDecoder()))
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox))
                }
            }
            .connect(host: host, port: port)
            .get()
        return TestRTSPClient(channel: channel, inbox: inbox, authenticator: authenticator)
    }

    public var remotePort: Int? { self.channel.remoteAddress?.port }

    public var error: (any Error)? { self.inbox.withLockedValue { $0.error } }
    public var isClosed: Bool { self.inbox.withLockedValue { $0.closed } }

    /// Stops reading the socket, as a VMS that hangs: the server's writes back up.
    public func stopReading() async throws {
        try await self.channel.setOption(.autoRead, value: false).get()
    }

    public func sendRaw(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes)
    }

    /// Sends a request with the next CSeq (and credentials, once challenged) and waits for its response. A 401
    /// is answered once with the authenticator, as a real client does.
    public func request(
        _ method: RTSPMethod,
        _ uri: String,
        headers: RTSPHeaders = [:],
        timeout: Duration = .seconds(5)
    ) async throws -> RTSPResponse {
        var response = try await self.send(method, uri, headers: headers, timeout: timeout)
        if response.status == .unauthorized, self.authenticator.withLockedValue({ $0 != nil }) {
            let challenges = response.headers.values(RTSPHeaders.wwwAuthenticate)
            try self.authenticator.withLockedValue { authenticator throws in
                try authenticator!.receivedChallenges(challenges)
            }
            response = try await self.send(method, uri, headers: headers, timeout: timeout)
        }
        return response
    }

    private func send(
        _ method: RTSPMethod,
        _ uri: String,
        headers: RTSPHeaders,
        timeout: Duration
    ) async throws -> RTSPResponse {
        let cseq = self.sequence.withLockedValue {
            $0 += 1
            return $0
        }
        var request = RTSPRequest(method: method, uri: uri, headers: headers)
        request.headers.replaceOrAdd(name: RTSPHeaders.cseq, value: String(cseq))
        if let authorization = self.authenticator.withLockedValue({ $0?.authorization(method: method, uri: uri) }) {
            request.headers.replaceOrAdd(name: RTSPHeaders.authorization, value: authorization)
        }
        var buffer = self.channel.allocator.buffer(capacity: 256)
        RTSPMessageSerializer.write(request, into: &buffer)
        try await self.channel.writeAndFlush(buffer)
        return try await self.waitFor("response to \(method) (CSeq \(cseq))", timeout: timeout) { inbox in
            guard
                let index = inbox.frames.firstIndex(where: { frame in
                    if case .response(let response) = frame { return response.cseq == cseq }
                    return false
                })
            else { return nil }
            guard case .response(let response) = inbox.frames.remove(at: index) else { return nil }
            return response
        }
    }

    /// Waits until `count` interleaved frames have arrived and takes them.
    public func interleavedFrames(count: Int, timeout: Duration = .seconds(10)) async throws -> [InterleavedFrame] {
        try await self.waitFor("\(count) interleaved frames", timeout: timeout) { inbox in
            let frames = inbox.frames.compactMap { frame -> InterleavedFrame? in
                if case .interleaved(let interleaved) = frame { return interleaved }
                return nil
            }
            guard frames.count >= count else { return nil }
            inbox.frames.removeAll { if case .interleaved = $0 { return true } else { return false } }
            return frames
        }
    }

    /// Takes every interleaved frame received so far.
    public func takeInterleaved() -> [InterleavedFrame] {
        self.inbox.withLockedValue { inbox in
            let frames = inbox.frames.compactMap { frame -> InterleavedFrame? in
                if case .interleaved(let interleaved) = frame { return interleaved }
                return nil
            }
            inbox.frames.removeAll { if case .interleaved = $0 { return true } else { return false } }
            return frames
        }
    }

    /// True once the connection closed (by the peer, or after a parse error) within `timeout`.
    public func waitUntilClosed(timeout: Duration = .seconds(10)) async -> Bool {
        (try? await self.waitFor("close", timeout: timeout) { $0.closed ? true : nil }) ?? false
    }

    public func close() async {
        try? await self.channel.close()
    }

    private func waitFor<T>(_ what: String, timeout: Duration, _ take: (inout Inbox) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (value, error, closed) = self.inbox.withLockedValue { inbox in (take(&inbox), inbox.error, inbox.closed)
            }
            if let value { return value }
            if let error { throw error }
            if closed { throw Timeout(what: "\(what): connection closed") }
            if ContinuousClock.now > deadline { throw Timeout(what: what) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Runs DESCRIBE, SETUP (TCP interleaved 0-1) and PLAY on `url`; returns the session id.
    public func play(_ url: String, timeout: Duration = .seconds(5)) async throws -> String {
        try await self.play(url, allTracks: false, timeout: timeout).session
    }

    /// DESCRIBE, then SETUP of the first track or of every track (track n on interleaved channels 2n and 2n+1),
    /// then PLAY; `headers` go with each request (as `Require` must). Returns the session id and the SDP.
    public func play(
        _ url: String,
        allTracks: Bool,
        headers: RTSPHeaders = [:],
        timeout: Duration = .seconds(5)
    ) async throws -> (session: String, sdp: SessionDescription) {
        let describe = try await self.request(.describe, url, headers: headers, timeout: timeout)
        guard describe.status == .ok else { throw Timeout(what: "DESCRIBE: \(describe.status)") }
        let base = describe.headers[RTSPHeaders.contentBase] ?? url + "/"
        let sdp = try SDPParser.parse(String(buffer: describe.body))
        var session: String?
        for (index, media) in sdp.media.enumerated().prefix(allTracks ? sdp.media.count : 1) {
            let control = media.control ?? ""
            var setupHeaders = headers
            setupHeaders.replaceOrAdd(
                name: RTSPHeaders.transport,
                value: "RTP/AVP/TCP;unicast;interleaved=\(2 * index)-\(2 * index + 1)"
            )
            if let session { setupHeaders.replaceOrAdd(name: RTSPHeaders.session, value: session) }
            let setup = try await self.request(
                .setup,
                control.hasPrefix("rtsp://") ? control : base + control,
                headers: setupHeaders,
                timeout: timeout
            )
            guard setup.status == .ok, let value = setup.headers[RTSPHeaders.session] else {
                throw Timeout(what: "SETUP: \(setup.status)")
            }
            session = try RTSPSessionHeader.parse(value).id
        }
        guard let session else { throw Timeout(what: "SETUP: no media") }
        var playHeaders = headers
        playHeaders.replaceOrAdd(name: RTSPHeaders.session, value: session)
        let play = try await self.request(.play, url, headers: playHeaders, timeout: timeout)
        guard play.status == .ok else { throw Timeout(what: "PLAY: \(play.status)") }
        return (session, sdp)
    }
}

private final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = RTSPFrame

    let inbox: NIOLockedValueBox<TestRTSPClient.Inbox>

    init(inbox: NIOLockedValueBox<TestRTSPClient.Inbox>) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        self.inbox.withLockedValue { $0.frames.append(frame) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.inbox.withLockedValue { $0.error = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.inbox.withLockedValue { $0.closed = true }
    }
}
