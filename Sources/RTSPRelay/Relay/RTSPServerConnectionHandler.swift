import NIOCore

/// One VMS connection: a thin adapter between the ``RTSPServerSessionStateMachine`` and the relay's streams.
/// It performs the machine's actions (look up a stream, attach or detach the reader) and writes the responses.
final class RTSPServerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RTSPFrame
    typealias OutboundOut = ByteBuffer

    private let core: RelayCore
    private var machine: RTSPServerSessionStateMachine
    private var reader: RelayReader?
    private var stream: RelayStream?
    private var timer: Scheduled<Void>?
    /// `host[:port]` the current request named, validated; the URLs the gateway hands back use it.
    private var requestedAuthority: String?
    /// Set when the channel goes inactive: the timer must not schedule itself again (it is the one firing when a
    /// timeout closes the connection, so cancelling it then does nothing).
    private var isClosed = false
    private var address = "?"
    private var sourceIP = ""
    private let admission: ConnectionAdmission
    private var admissionReturned = false
    /// The Digest nonce of this connection's challenges.
    private let nonce = randomHex(bytes: 16)
    private var user: String?
    /// The interleaved channel this reader's backchannel audio arrives on, while it holds the backchannel.
    private var backchannelChannel: UInt8?
    /// UDP readers: our RTP/RTCP sockets per track.
    private var udpSockets: [Int: (rtp: any Channel, rtcp: any Channel)] = [:]

    /// Whether this connection came through TLS (RTSPS): Basic credentials are accepted only then.
    private let isTLS: Bool

    init(core: RelayCore, admission: ConnectionAdmission, isTLS: Bool = false) {
        self.core = core
        self.admission = admission
        self.isTLS = isTLS
        var configuration = RTSPServerSessionStateMachine.Configuration()
        configuration.sessionTimeout = core.configuration.sessionTimeout
        configuration.allowsUDP = !isTLS || core.configuration.tls?.allowsUDP == true
        configuration.sessionlessTimeout = core.configuration.sessionlessTimeout
        self.machine = RTSPServerSessionStateMachine(configuration: configuration, now: .now())
    }

    func channelActive(context: ChannelHandlerContext) {
        self.address = context.channel.remoteAddress?.description ?? "?"
        self.sourceIP = self.admission.source
        if !self.admission.admitted {
            // Over its source's limit or the VMS-side budget: it gets a 503 for its first request, and two seconds to send one. A
            // connection that sends nothing (or only `$` frames) must not hold a slot the limit is there to bound.
            let channel = context.channel
            context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
        self.scheduleTimer(context: context)
        context.fireChannelActive()
    }

    private func scheduleTimer(context: ChannelHandlerContext) {
        guard !self.isClosed else { return }
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) {
            self.run(self.machine.timerFired(now: .now()), context: context)
            self.scheduleTimer(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A channel that closes before it was ever active: its admission is given back all the same.
        if !self.admissionReturned {
            self.admissionReturned = true
            self.core.connectionClosed(self.admission)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.isClosed = true
        if !self.admissionReturned {
            self.admissionReturned = true
            self.core.connectionClosed(self.admission)
        }
        self.closeUDP()
        self.timer?.cancel()
        self.detach(reason: "connection closed")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .request(let request):
            guard self.admit(request, context: context) else { return }
            self.requestedAuthority = Self.authority(of: request.uri)
            self.run(self.machine.received(request, now: .now()), context: context)
        case .interleaved(let frame):
            // Receiver reports from the VMS prove the reader is alive and are not forwarded to the camera; only
            // backchannel audio goes on, through the stream's checks.
            let now = NIODeadline.now()
            self.machine.receivedData(now: now)
            if frame.channel == self.backchannelChannel, let reader = self.reader, let stream = self.stream {
                stream.receiveBackchannel(frame.payload, from: reader, now: now)
            }
        case .response:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RTSPError {
            var response = RTSPResponse(status: error.status)
            response.headers.add(name: RTSPHeaders.cseq, value: String(error.cseq ?? 0))
            self.write(response, context: context)
            self.core.logger.notice(
                "refused malformed request",
                metadata: ["reader": "\(self.address)", "error": "\(error)"]
            )
        }
        context.close(promise: nil)
    }

    // MARK: Access

    /// Connection limit, failed-login limit and the access policy, before the request reaches the state machine.
    private func admit(_ request: RTSPRequest, context: ChannelHandlerContext) -> Bool {
        let cseq = request.cseq ?? 0
        if !self.admission.admitted {
            self.write(self.response(.serviceUnavailable, cseq: cseq), context: context)
            context.close(promise: nil)
            return false
        }
        guard [.describe, .setup, .play].contains(request.method) else { return true }
        let now = NIODeadline.now()
        let path = StreamPath.parse(request.uri).map(\.path).flatMap { self.core.stream($0) != nil ? $0 : nil }
        let policy = self.core.configuration.access
        let claimed = policy.countedUser(request.headers[RTSPHeaders.authorization], source: self.sourceIP)
        if self.core.loginFailures.isLimited(self.sourceIP, user: claimed, now: now) {
            var refused = self.response(.unauthorized, cseq: cseq)
            for challenge in policy.challenges(nonce: self.nonce, isTLS: self.isTLS)
            where RTSPHeaders.isSafeValue(challenge) {
                refused.headers.add(name: RTSPHeaders.wwwAuthenticate, value: challenge)
            }
            self.write(refused, context: context)
            return false
        }
        switch policy.decide(request, path: path, source: self.sourceIP, nonce: self.nonce, isTLS: self.isTLS) {
        case .allowed(let user):
            if let user { self.core.loginFailures.recordSuccess(self.sourceIP, user: user, now: now) }
            if let user, self.user != user {
                self.user = user
                self.core.logger.info(
                    "reader authenticated",
                    metadata: ["reader": "\(self.address)", "user": "\(user)"]
                )
            }
            return true
        case .challenge(let challenges, let failure):
            if let failure {
                let limited = self.core.loginFailures.recordFailure(self.sourceIP, user: claimed, now: now)
                self.core.authFailures += 1
                self.core.logger.notice(
                    limited
                        ? "failed logins over the limit: refusing this source (or this user) for a while"
                        : "failed login",
                    metadata: ["reader": "\(self.address)", "reason": "\(failure)"]
                )
            }
            var refused = self.response(.unauthorized, cseq: cseq)
            // A realm with a control character is refused by `camgw check`; never a trap here.
            for challenge in challenges where RTSPHeaders.isSafeValue(challenge) {
                refused.headers.add(name: RTSPHeaders.wwwAuthenticate, value: challenge)
            }
            self.write(refused, context: context)
            return false
        case .forbidden(let user):
            self.core.logger.notice(
                "reader not allowed this stream",
                metadata: ["reader": "\(self.address)", "user": "\(user)"]
            )
            self.write(self.response(.forbidden, cseq: cseq), context: context)
            return false
        }
    }

    private func response(_ status: RTSPStatus, cseq: UInt32) -> RTSPResponse {
        var response = RTSPResponse(status: status)
        response.headers.add(name: RTSPHeaders.cseq, value: String(cseq))
        return response
    }

    // MARK: Actions

    private func run(_ action: RTSPServerSessionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .respond(let response):
            self.write(response, context: context)
        case .describe(let path, let backchannel, let cseq):
            guard let stream = self.core.stream(path) else {
                return self.run(self.machine.describeCompleted(.failure(.notFound), cseq: cseq), context: context)
            }
            stream.describe().assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    guard let sdp = backchannel ? stream.gatewaySDPWithBackchannel : stream.gatewaySDP else {
                        return self.run(
                            self.machine.describeCompleted(.failure(.optionNotSupported), cseq: cseq),
                            context: context
                        )
                    }
                    let base = self.baseURL(path, context: context)
                    self.run(self.machine.describeCompleted(.success((sdp, base)), cseq: cseq), context: context)
                case .failure:
                    self.run(
                        self.machine.describeCompleted(.failure(.serviceUnavailable), cseq: cseq),
                        context: context
                    )
                }
            }
        case .setup(let path, let track, let transport, let backchannel, let cseq):
            guard let stream = self.core.stream(path) else {
                return self.run(self.machine.setupCompleted(.failure(.notFound), cseq: cseq), context: context)
            }
            stream.describe().assumeIsolated().whenComplete { result in
                guard case .success = result else {
                    return self.run(
                        self.machine.setupCompleted(.failure(.serviceUnavailable), cseq: cseq),
                        context: context
                    )
                }
                if track == stream.backchannelTrack {
                    // A reader that did not require the backchannel has not been told of it; over UDP it would
                    // need ports of ours that take audio in, which the gateway does not open.
                    let refusal: RTSPStatus? =
                        !backchannel ? .notFound : transport != .tcp ? .unsupportedTransport : nil
                    if let refusal {
                        return self.run(self.machine.setupCompleted(.failure(refusal), cseq: cseq), context: context)
                    }
                }
                if transport == .multicast, track < stream.tracks.count {
                    return self.setupMulticast(stream, track: track, cseq: cseq, context: context)
                }
                guard case .udp = transport, track < stream.tracks.count else {
                    return self.run(
                        self.machine.setupCompleted(.success(stream.tracks.count), cseq: cseq),
                        context: context
                    )
                }
                self.bindUDP(track: track, context: context).assumeIsolated().whenComplete { bound in
                    switch bound {
                    case .success(let ports):
                        self.run(
                            self.machine.setupCompleted(.success(stream.tracks.count), cseq: cseq, serverPorts: ports),
                            context: context
                        )
                    case .failure:
                        self.run(
                            self.machine.setupCompleted(.failure(.notEnoughBandwidth), cseq: cseq),
                            context: context
                        )
                    }
                }
            }
        case .play(let path, let bindings, let cseq):
            self.play(path, bindings: bindings, cseq: cseq, context: context)
        case .pause(_, let response):
            self.reader?.paused = true
            self.write(response, context: context)
        case .teardown(_, let response):
            self.detach(reason: "TEARDOWN")
            self.closeUDP()
            self.write(response, context: context)
        case .close:
            self.core.logger.info("session timed out", metadata: ["reader": "\(self.address)"])
            context.close(promise: nil)
        case .none:
            break
        }
    }

    /// A multicast reader: the stream's group for this track, its sender socket opened on the interface this
    /// reader reached us on (or the configured one). 461 when the stream has no multicast group.
    private func setupMulticast(_ stream: RelayStream, track: Int, cseq: UInt32, context: ChannelHandlerContext) {
        guard let group = stream.multicastGroup(track: track) else {
            return self.run(self.machine.setupCompleted(.failure(.unsupportedTransport), cseq: cseq), context: context)
        }
        let local = context.channel.localAddress?.ipAddress
        stream.openMulticast(localAddress: local).assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                self.run(
                    self.machine.setupCompleted(.success(stream.tracks.count), cseq: cseq, multicast: group),
                    context: context
                )
            case .failure(let error):
                self.core.logger.warning("multicast sender failed", metadata: ["error": "\(error)"])
                self.run(self.machine.setupCompleted(.failure(.unsupportedTransport), cseq: cseq), context: context)
            }
        }
    }

    private func play(
        _ path: StreamPath,
        bindings: [RTSPServerSessionStateMachine.TrackBinding],
        cseq: UInt32,
        context: ChannelHandlerContext
    ) {
        guard let stream = self.core.stream(path), stream.isDescribed else {
            return self.run(self.machine.playCompleted(.failure(.serviceUnavailable), cseq: cseq), context: context)
        }
        if let reader = self.reader {
            // PLAY after PAUSE: resume at the next keyframe, never mid-frame.
            reader.paused = false
            reader.waitingForKeyframe = stream.tracks.contains(where: \.isVideo)
            return self.run(self.machine.playCompleted(.success(nil), cseq: cseq), context: context)
        }
        guard stream.readers.count < self.core.configuration.maxReadersPerStream,
            self.core.readerCount < self.core.configuration.maxReaders
        else {
            return self.run(self.machine.playCompleted(.failure(.notEnoughBandwidth), cseq: cseq), context: context)
        }
        // One speaker, one talker: a second reader asking for the backchannel gets 453 until the first leaves.
        let backchannel = bindings.first { $0.track == stream.backchannelTrack }
        if backchannel != nil, !stream.backchannelIsFree {
            return self.run(self.machine.playCompleted(.failure(.notEnoughBandwidth), cseq: cseq), context: context)
        }
        let multicast = bindings.contains(where: \.multicast)
        var channels = [(rtp: UInt8, rtcp: UInt8)?](repeating: nil, count: stream.tracks.count)
        var targets = [RelayReader.UDPTarget?](repeating: nil, count: stream.tracks.count)
        for binding in bindings where binding.track < channels.count {
            channels[binding.track] = (binding.rtpChannel, binding.rtcpChannel)
            // UDP goes to the address the RTSP connection comes from, at the reader's ports: never elsewhere.
            if let ports = binding.clientPorts, let sockets = self.udpSockets[binding.track],
                let rtpAddress = try? SocketAddress(ipAddress: self.sourceIP, port: Int(ports.first)),
                let rtcpAddress = try? SocketAddress(ipAddress: self.sourceIP, port: Int(ports.last))
            {
                targets[binding.track] = .init(
                    rtp: sockets.rtp,
                    rtcp: sockets.rtcp,
                    rtpAddress: rtpAddress,
                    rtcpAddress: rtcpAddress
                )
            }
        }
        let info = stream.rtpInfo(baseURL: self.baseURL(path, context: context), bindings: channels)
        self.run(self.machine.playCompleted(.success(info), cseq: cseq), context: context)
        let reader = RelayReader(
            id: self.core.makeReaderID(),
            context: context,
            address: self.address,
            since: .now(),
            bindings: channels,
            udpTargets: targets,
            multicast: multicast
        )
        self.reader = reader
        self.stream = stream
        stream.attach(reader)  // after the PLAY response: the cached keyframe follows it on the wire
        if let backchannel, stream.claimBackchannel(reader) { self.backchannelChannel = backchannel.rtpChannel }
    }

    /// Binds our RTP/RTCP pair for one track of a UDP reader, on the address the reader connected to. What the
    /// reader sends there (its receiver reports) only proves it is alive.
    private func bindUDP(track: Int, context: ChannelHandlerContext) -> EventLoopFuture<RTSPTransport.PortRange> {
        if let old = self.udpSockets.removeValue(forKey: track) {
            old.rtp.close(promise: nil)
            old.rtcp.close(promise: nil)
        }
        let host = context.channel.localAddress?.ipAddress ?? "0.0.0.0"
        let source = self.sourceIP
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        return DatagramPortPair.bind(on: context.eventLoop, host: host, range: self.core.configuration.readerUDPPorts) {
            _,
            channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    ReaderDatagramHandler(source: source) { handler.value.machine.receivedData(now: .now()) }
                )
            }
        }.assumeIsolated().map { pair in
            self.udpSockets[track] = pair
            return RTSPTransport.PortRange(
                first: UInt16(pair.rtp.localAddress?.port ?? 0),
                last: UInt16(pair.rtcp.localAddress?.port ?? 0)
            )
        }.nonisolated()
    }

    private func closeUDP() {
        for pair in self.udpSockets.values {
            pair.rtp.close(promise: nil)
            pair.rtcp.close(promise: nil)
        }
        self.udpSockets = [:]
    }

    private func detach(reason: String) {
        if let reader = self.reader, let stream = self.stream {
            stream.detach(reader, reason: reason)
        }
        self.reader = nil
        self.stream = nil
        self.backchannelChannel = nil
    }

    /// The stream's URL as the reader named the gateway (so a certificate's name and a port forward keep
    /// working when the reader reuses Content-Base or RTP-Info), or the socket's address when the request named
    /// nothing usable.
    private func baseURL(_ path: StreamPath, context: ChannelHandlerContext) -> String {
        let scheme = self.isTLS ? "rtsps" : "rtsp"
        if let requested = self.requestedAuthority { return "\(scheme)://\(requested)\(path)" }
        let local = context.channel.localAddress
        let host = local?.ipAddress ?? "127.0.0.1"
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(local?.port ?? 8554)\(path)"
    }

    /// `host[:port]` of a request URL when the host is a DNS name or an IP address (nothing else is echoed).
    static func authority(of uri: String) -> String? {
        guard let url = RTSPURL(uri), url.host.utf8.count <= 253 else { return nil }
        let host = url.host
        let isName = host.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        let isIPv6 = host.contains(":") && (try? SocketAddress(ipAddress: host, port: 0)) != nil
        guard isName || isIPv6 else { return nil }
        return (isIPv6 ? "[\(host)]" : host) + (url.port.map { ":\($0)" } ?? "")
    }

    private func write(_ response: RTSPResponse, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        RTSPMessageSerializer.write(response, into: &buffer)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }
}
