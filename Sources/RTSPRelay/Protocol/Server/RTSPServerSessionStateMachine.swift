import NIOCore

/// One VMS connection to the gateway's RTSP server: which requests are legal when, session ids and their binding
/// to this connection, and the session timeout. A value type: requests in, actions out. Work that needs the
/// stream registry (describing a stream, attaching a reader) is handed to the caller as an action, and its result
/// comes back through the `…Completed` methods, which write the response.
public struct RTSPServerSessionStateMachine: Sendable {
    public struct Configuration: Sendable {
        /// Seconds without a request (or RTCP from the reader) after which the session ends (RFC 2326 §12.37).
        public var sessionTimeout: Int = 60
        /// Seconds the connection may go without a session, whatever it sends (see
        /// `RelayConfiguration.sessionlessTimeout`).
        public var sessionlessTimeout: Int = 10
        public var serverName = "CamGateway"
        /// UDP (unicast and multicast) media. Off on RTSPS unless configured: the control channel would be TLS and
        /// the video in the clear beside it.
        public var allowsUDP = true

        public init() {}
    }

    public struct TrackBinding: Hashable, Sendable {
        public var track: Int
        /// TCP interleaved channels (unused for UDP).
        public var rtpChannel: UInt8
        public var rtcpChannel: UInt8
        /// UDP: the reader's ports, at the address the RTSP connection comes from, and ours.
        public var clientPorts: RTSPTransport.PortRange?
        public var serverPorts: RTSPTransport.PortRange?
        /// The reader listens to the stream's multicast group; nothing is sent to it alone.
        public var multicast: Bool

        public init(
            track: Int,
            rtpChannel: UInt8,
            rtcpChannel: UInt8,
            clientPorts: RTSPTransport.PortRange? = nil,
            serverPorts: RTSPTransport.PortRange? = nil,
            multicast: Bool = false
        ) {
            self.track = track
            self.rtpChannel = rtpChannel
            self.rtcpChannel = rtcpChannel
            self.clientPorts = clientPorts
            self.serverPorts = serverPorts
            self.multicast = multicast
        }

        public var isUDP: Bool { self.clientPorts != nil }

        var kind: ReaderTransport.Kind { self.multicast ? .multicast : self.isUDP ? .udp : .tcp }
    }

    /// How a reader asked to receive a track.
    public enum ReaderTransport: Hashable, Sendable {
        /// Interleaved on the RTSP connection.
        case tcp
        /// UDP unicast to these ports, at the address the RTSP connection comes from.
        case udp(clientPorts: RTSPTransport.PortRange)
        /// The stream's multicast group: the gateway's group and ports, whatever the reader proposed.
        case multicast

        enum Kind { case tcp, udp, multicast }

        var kind: Kind {
            switch self {
            case .tcp: .tcp
            case .udp: .udp
            case .multicast: .multicast
            }
        }
    }

    /// Where a stream's track is multicast (RFC 2326 §12.39 `destination`, `port`, `ttl`).
    public struct MulticastGroup: Hashable, Sendable {
        public var address: String
        public var ports: RTSPTransport.PortRange
        public var ttl: UInt8

        public init(address: String, ports: RTSPTransport.PortRange, ttl: UInt8) {
            self.address = address
            self.ports = ports
            self.ttl = ttl
        }
    }

    public enum Action: Hashable, Sendable {
        case respond(RTSPResponse)
        /// Look up the stream (starting its upstream if needed) and call ``describeCompleted(_:)``; `backchannel`:
        /// the reader required the ONVIF backchannel, so the description must include it (or the answer is 551).
        case describe(StreamPath, backchannel: Bool, cseq: UInt32)
        /// Check the stream has this track (for UDP, bind a server port pair; for multicast, find the stream's
        /// group) and call ``setupCompleted(_:cseq:serverPorts:multicast:)``. The backchannel track exists only
        /// for a reader that required it (`backchannel`).
        case setup(StreamPath, track: Int, transport: ReaderTransport, backchannel: Bool, cseq: UInt32)
        /// Attach the reader with these channel bindings and call ``playCompleted(_:)``.
        case play(StreamPath, tracks: [TrackBinding], cseq: UInt32)
        /// Stop sending to the reader, then the response.
        case pause(StreamPath, response: RTSPResponse)
        /// Detach the reader, then the response.
        case teardown(StreamPath, response: RTSPResponse)
        /// The session timed out: detach and close.
        case close
        case none
    }

    /// What the caller learned for a describe/setup/play, or the status it failed with.
    public enum Outcome<Value: Sendable>: Sendable {
        case success(Value)
        case failure(RTSPStatus)
    }

    private enum State: Sendable {
        case initial
        case ready
        case playing
        case paused
    }

    private struct Session: Sendable {
        var id: String
        var path: StreamPath
        var tracks: [TrackBinding]
    }

    public static let methods: [RTSPMethod] = [
        .options, .describe, .setup, .play, .pause, .teardown, .getParameter, .setParameter,
    ]

    public let configuration: Configuration
    private var state: State = .initial
    private var timedOut = false
    private var session: Session?
    private var pendingSetup: (path: StreamPath, track: Int, transport: RTSPTransport)?
    private var lastActivity: NIODeadline
    /// Since when the connection has had no session; nil while it has one.
    private var sessionlessSince: NIODeadline?
    /// A DESCRIBE is waiting on the stream (its camera may take seconds to answer): no sessionless close meanwhile.
    private var describing = false
    private var describeAnswered = false
    private var describeGraceUsed = false
    /// This connection required the ONVIF backchannel (ONVIF clients send `Require` on DESCRIBE, some not again).
    private var backchannelRequired = false
    private let makeSessionID: @Sendable () -> String

    public init(
        configuration: Configuration = Configuration(),
        now: NIODeadline,
        makeSessionID: @escaping @Sendable () -> String = { randomHex(bytes: 8).uppercased() }
    ) {
        self.configuration = configuration
        self.lastActivity = now
        self.sessionlessSince = now
        self.makeSessionID = makeSessionID
    }

    public var isPlaying: Bool { if case .playing = self.state { true } else { false } }
    public var sessionID: String? { self.session?.id }

    // MARK: Requests

    public mutating func received(_ request: RTSPRequest, now: NIODeadline) -> Action {
        self.lastActivity = now
        let cseq = request.cseq ?? 0
        var response = self.response(.ok, cseq: cseq)

        // A Session header must name this connection's session: a session id replayed on another connection
        // (or invented) gets 454 (RFC 2326 §12.37).
        if let value = request.headers[RTSPHeaders.session] {
            guard let header = try? RTSPSessionHeader.parse(value), header.id == self.session?.id else {
                return .respond(self.response(.sessionNotFound, cseq: cseq))
            }
        }

        // RFC 2326 §12.32: a `Require` option the server does not know is refused with 551 and named in
        // `Unsupported`. The ONVIF backchannel is the one option known; whether a stream has it is the stream's say.
        let required = request.headers.values(RTSPHeaders.require).flatMap { $0.split(separator: ",") }
            .map { String($0.trimmingASCIIWhitespace()) }.filter { !$0.isEmpty }
        let unknown = required.filter { $0 != RTSPHeaders.onvifBackchannel }
        if !unknown.isEmpty {
            var refused = self.response(.optionNotSupported, cseq: cseq)
            refused.headers.add(name: RTSPHeaders.unsupported, value: unknown.joined(separator: ", "))
            return .respond(refused)
        }
        if !required.isEmpty, [.describe, .setup, .play].contains(request.method) { self.backchannelRequired = true }

        switch request.method {
        case .options:
            response.headers.add(name: RTSPHeaders.public, value: RTSPMethodList.headerValue(Self.methods))
            return .respond(response)

        case .getParameter, .setParameter:
            // Keep-alives: always answered, never a reason to close (VMSes send them with and without Session).
            if let id = self.session?.id { response.headers.add(name: RTSPHeaders.session, value: id) }
            return .respond(response)

        case .describe:
            guard let (path, track) = StreamPath.parse(request.uri), track == nil else {
                return .respond(self.response(.notFound, cseq: cseq))
            }
            self.describing = true
            return .describe(path, backchannel: !required.isEmpty, cseq: cseq)

        case .setup:
            guard let (path, track) = StreamPath.parse(request.uri) else {
                return .respond(self.response(.notFound, cseq: cseq))
            }
            if let session = self.session, session.path != path {
                return .respond(self.response(.aggregateNotAllowed, cseq: cseq))
            }
            if case .playing = self.state {
                return .respond(self.response(.methodNotValidInThisState, cseq: cseq))
            }
            // TCP interleaved, UDP unicast or the stream's multicast group, one kind per session; never to a
            // `destination` of the client's choosing (unicast goes only to the address the request came from,
            // multicast only to the group the configuration names).
            let sessionKind = self.session?.tracks.first?.kind
            let allowsUDP = self.configuration.allowsUDP
            guard let value = request.headers[RTSPHeaders.transport], let offers = try? RTSPTransport.parseList(value),
                let (offer, transport) = offers.lazy.compactMap({ offer -> (RTSPTransport, ReaderTransport)? in
                    guard offer.profile == "RTP/AVP" else { return nil }
                    let transport: ReaderTransport
                    if offer.isMulticast {
                        guard offer.lowerTransport == .udp, allowsUDP else { return nil }
                        transport = .multicast
                    } else if offer.lowerTransport == .udp {
                        guard allowsUDP, offer.destination == nil, let ports = offer.clientPort
                        else { return nil }
                        transport = .udp(clientPorts: ports)
                    } else {
                        guard offer.destination == nil else { return nil }
                        transport = .tcp
                    }
                    return sessionKind == nil || sessionKind == transport.kind ? (offer, transport) : nil
                }).first
            else {
                var refused = self.response(.unsupportedTransport, cseq: cseq)
                refused.headers.add(
                    name: RTSPHeaders.transport,
                    value: self.configuration.allowsUDP ? "RTP/AVP/TCP;unicast, RTP/AVP;unicast" : "RTP/AVP/TCP;unicast"
                )
                return .respond(refused)
            }
            self.pendingSetup = (path, track ?? 0, offer)
            return .setup(
                path,
                track: track ?? 0,
                transport: transport,
                backchannel: self.backchannelRequired,
                cseq: cseq
            )

        case .play:
            guard let session = self.session, let (path, _) = StreamPath.parse(request.uri), path == session.path else {
                return .respond(self.response(self.session == nil ? .methodNotValidInThisState : .notFound, cseq: cseq))
            }
            return .play(path, tracks: session.tracks, cseq: cseq)

        case .pause:
            guard let session = self.session, self.isPlaying || self.state == .paused else {
                return .respond(self.response(.methodNotValidInThisState, cseq: cseq))
            }
            self.state = .paused
            response.headers.add(name: RTSPHeaders.session, value: session.id)
            return .pause(session.path, response: response)

        case .teardown:
            guard let session = self.session else {
                return .respond(self.response(.sessionNotFound, cseq: cseq))
            }
            self.session = nil
            self.state = .initial
            self.sessionlessSince = now
            return .teardown(session.path, response: response)

        case .announce, .record, .redirect:
            var refused = self.response(.methodNotAllowed, cseq: cseq)
            refused.headers.add(name: RTSPHeaders.allow, value: RTSPMethodList.headerValue(Self.methods))
            return .respond(refused)

        default:
            var refused = self.response(.notImplemented, cseq: cseq)
            refused.headers.add(name: RTSPHeaders.public, value: RTSPMethodList.headerValue(Self.methods))
            return .respond(refused)
        }
    }

    /// Interleaved data from a playing reader (its RTCP receiver reports) counts as activity. Before PLAY it
    /// does not: a connection that only sends `$` frames must not keep itself open past the timeout.
    public mutating func receivedData(now: NIODeadline) {
        guard self.isPlaying else { return }
        self.lastActivity = now
    }

    /// Periodic check; closes a session that saw nothing for the timeout, once.
    public mutating func timerFired(now: NIODeadline) -> Action {
        if self.describeAnswered, self.sessionlessSince != nil {
            self.describeAnswered = false
            self.sessionlessSince = now
        }
        let idle = now - self.lastActivity > .seconds(Int64(self.configuration.sessionTimeout))
        let sessionless = self.sessionlessSince.map {
            // A DESCRIBE or SETUP waiting on the stream (its camera may take seconds) is not cut off.
            !self.describing && self.pendingSetup == nil
                && now - $0 > .seconds(Int64(self.configuration.sessionlessTimeout))
        }
        guard !self.timedOut, idle || sessionless == true else { return .none }
        self.timedOut = true
        return .close
    }

    // MARK: Completions

    /// `sdp`: the gateway's own description of the stream; `contentBase`: the gateway URL of the stream.
    public mutating func describeCompleted(
        _ outcome: Outcome<(sdp: String, contentBase: String)>,
        cseq: UInt32
    ) -> Action {
        // The window starts again at the next tick: a DESCRIBE that waited on a slow camera must leave the
        // reader its time to SETUP. Once per connection, and only for a DESCRIBE that succeeded: with anonymous
        // access a stranger's DESCRIBE every 9 s (of a stream that does not exist, answered at once) must not
        // keep a connection open for ever.
        self.describing = false
        if case .success = outcome, !self.describeGraceUsed {
            self.describeGraceUsed = true
            self.describeAnswered = true
        }
        switch outcome {
        case .failure(let status):
            var refused = self.response(status, cseq: cseq)
            if status == .optionNotSupported {
                refused.headers.add(name: RTSPHeaders.unsupported, value: RTSPHeaders.onvifBackchannel)
            }
            return .respond(refused)
        case .success(let (sdp, base)):
            var response = self.response(.ok, cseq: cseq)
            response.headers.add(name: RTSPHeaders.contentType, value: "application/sdp")
            response.headers.add(name: RTSPHeaders.contentBase, value: base.hasSuffix("/") ? base : base + "/")
            response.body = ByteBuffer(string: sdp)
            return .respond(response)
        }
    }

    /// `trackCount`: how many tracks the stream has (a SETUP for a track past it is 404); `serverPorts`: the
    /// port pair bound for a UDP reader; `multicast`: the track's group, for a multicast reader.
    public mutating func setupCompleted(
        _ outcome: Outcome<Int>,
        cseq: UInt32,
        serverPorts: RTSPTransport.PortRange? = nil,
        multicast: MulticastGroup? = nil
    ) -> Action {
        guard let pending = self.pendingSetup else { return .respond(self.response(.internalServerError, cseq: cseq)) }
        self.pendingSetup = nil
        guard case .success(let trackCount) = outcome else {
            if case .failure(let status) = outcome { return .respond(self.response(status, cseq: cseq)) }
            return .none
        }
        guard pending.track < trackCount else { return .respond(self.response(.notFound, cseq: cseq)) }
        var session = self.session ?? Session(id: self.makeSessionID(), path: pending.path, tracks: [])
        session.tracks.removeAll { $0.track == pending.track }
        if pending.transport.isMulticast {
            guard let multicast else { return .respond(self.response(.unsupportedTransport, cseq: cseq)) }
            session.tracks.append(
                TrackBinding(track: pending.track, rtpChannel: 0xFF, rtcpChannel: 0xFF, multicast: true)
            )
            var answer = RTSPTransport(lowerTransport: .udp, isMulticast: true)
            answer.destination = multicast.address
            answer.port = multicast.ports
            answer.ttl = multicast.ttl
            return self.established(session, transport: answer, cseq: cseq)
        }
        if pending.transport.lowerTransport == .udp {
            guard let clientPorts = pending.transport.clientPort, let serverPorts else {
                return .respond(self.response(.unsupportedTransport, cseq: cseq))
            }
            session.tracks.append(
                TrackBinding(
                    track: pending.track,
                    rtpChannel: 0xFF,
                    rtcpChannel: 0xFF,
                    clientPorts: clientPorts,
                    serverPorts: serverPorts
                )
            )
            return self.established(
                session,
                transport: RTSPTransport(lowerTransport: .udp, clientPort: clientPorts, serverPort: serverPorts),
                cseq: cseq
            )
        }
        let used = Set(session.tracks.flatMap { [$0.rtpChannel, $0.rtcpChannel] })
        let channels: (rtp: UInt8, rtcp: UInt8)
        if let requested = pending.transport.interleaved, !used.contains(requested.rtp), !used.contains(requested.rtcp)
        {
            channels = requested
        } else {
            guard
                let free = stride(from: 0, to: 254, by: 2).first(where: {
                    !used.contains(UInt8($0)) && !used.contains(UInt8($0 + 1))
                })
            else { return .respond(self.response(.unsupportedTransport, cseq: cseq)) }
            channels = (UInt8(free), UInt8(free + 1))
        }
        session.tracks.append(TrackBinding(track: pending.track, rtpChannel: channels.rtp, rtcpChannel: channels.rtcp))
        return self.established(
            session,
            transport: RTSPTransport(lowerTransport: .tcp, interleaved: channels, mode: "PLAY"),
            cseq: cseq
        )
    }

    private mutating func established(_ session: Session, transport: RTSPTransport, cseq: UInt32) -> Action {
        var session = session
        session.tracks.sort { $0.track < $1.track }
        self.session = session
        self.sessionlessSince = nil
        if case .initial = self.state { self.state = .ready }
        var response = self.response(.ok, cseq: cseq)
        response.headers.add(
            name: RTSPHeaders.session,
            value: RTSPSessionHeader(id: session.id, timeout: self.configuration.sessionTimeout).headerValue
        )
        response.headers.add(name: RTSPHeaders.transport, value: transport.headerValue)
        return .respond(response)
    }

    /// `rtpInfo`: the RTP-Info the reader starts with; `nil` when the stream is not flowing yet.
    public mutating func playCompleted(_ outcome: Outcome<RTPInfo?>, cseq: UInt32) -> Action {
        guard let session = self.session else { return .respond(self.response(.sessionNotFound, cseq: cseq)) }
        switch outcome {
        case .failure(let status):
            return .respond(self.response(status, cseq: cseq))
        case .success(let info):
            self.state = .playing
            var response = self.response(.ok, cseq: cseq)
            response.headers.add(name: RTSPHeaders.session, value: session.id)
            response.headers.add(name: RTSPHeaders.range, value: RTSPRange.npt(start: .now, end: nil).headerValue)
            if let info { response.headers.add(name: RTSPHeaders.rtpInfo, value: info.headerValue) }
            return .respond(response)
        }
    }

    // MARK: Helpers

    private func response(_ status: RTSPStatus, cseq: UInt32) -> RTSPResponse {
        var response = RTSPResponse(status: status)
        response.headers.add(name: RTSPHeaders.cseq, value: String(cseq))
        response.headers.add(name: RTSPHeaders.server, value: self.configuration.serverName)
        return response
    }
}

extension RTSPStatus {
    public static let aggregateNotAllowed = RTSPStatus(code: 459)
}
