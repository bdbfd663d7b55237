import NIOCore

/// The gateway's RTSP client towards one camera stream: OPTIONS, DESCRIBE (answering a challenge), SETUP of
/// every media, PLAY, keep-alives, TEARDOWN. A value type: responses in, actions out; the NIO handler around it
/// only sends what it is told to and runs the timers.
///
/// Camera quirks are absorbed here and nowhere else: absolute `a=control` URLs carrying the camera's address,
/// `Content-Base` with a slash after the query, padded Session and ssrc values, RTP-Info with the camera's URLs.
/// Every URL the camera hands back keeps only its path and query; the host and port are always the configured
/// ones, so a hostile camera cannot steer the gateway elsewhere. Redirects are refused, not followed.
public struct RTSPClientStateMachine: Sendable {
    public enum LowerTransport: Hashable, Sendable {
        case tcp
        case udp
    }

    public struct Configuration: Sendable {
        /// The camera's stream URL; its host and port are the only ones ever contacted.
        public var url: RTSPURL
        public var username: String?
        public var password: String?
        public var transport: LowerTransport = .tcp
        public var userAgent = "CamGateway/1.0"
        /// Ask for the ONVIF backchannel (`Require: www.onvif.org/ver20/backchannel`); a camera that answers 551
        /// is asked again without it.
        public var backchannel = false
        /// Answer a Basic-only camera (TLS, or the admin allowed it in plaintext).
        public var allowsBasic = false
        /// Payload formats relayed without the payload checks (``PayloadFormat/name``, upper case): the camera's
        /// `allow_unchecked_codecs`. Every other format outside ``PayloadFormat`` is left out.
        public var allowUncheckedCodecs: Set<String> = []
        /// The relay has a ``MetadataDocumentFilter``: ONVIF metadata is a checked format.
        public var rewritesMetadata = false

        public init(
            url: RTSPURL,
            username: String? = nil,
            password: String? = nil,
            transport: LowerTransport = .tcp,
            backchannel: Bool = false,
            allowsBasic: Bool = false,
            allowUncheckedCodecs: Set<String> = [],
            rewritesMetadata: Bool = false
        ) {
            self.allowUncheckedCodecs = allowUncheckedCodecs
            self.rewritesMetadata = rewritesMetadata
            self.url = url
            self.username = username
            self.password = password
            self.transport = transport
            self.backchannel = backchannel
            self.allowsBasic = allowsBasic
        }
    }

    /// One media of the camera's stream, as set up.
    public struct Track: Hashable, Sendable {
        public var index: Int
        public var media: SessionDescription.Media
        /// The URL SETUP went to: configured host, camera's path and query.
        public var controlURL: String
        public var payloadTypes: PayloadTypeSet
        public var clockRate: UInt32
        public var codec: VideoCodec?
        /// What the payload check reads this track's packets as (its first kept payload type's format).
        public var format: PayloadFormat = .unchecked("none")
        /// The fmtp the gateway describes for its first payload type, and the SDP parameter sets that passed (of
        /// every kept payload type).
        public var formatParameters = FormatParameters(format: .unchecked("none"), fmtp: [:])
        /// Payload types the camera offered on this media that are left out (unchecked formats): their packets
        /// are dropped as `unchecked_codec`.
        public var refusedPayloadTypes = PayloadTypeSet()
        /// The ONVIF backchannel: the camera receives on this track (`a=sendonly` in its SDP, ONVIF Streaming §5.3).
        public var isBackchannel = false
        /// Interleaved channels the camera confirmed (TCP).
        public var rtpChannel: UInt8 = 0
        public var rtcpChannel: UInt8 = 1
        /// Our UDP ports and the camera's (UDP).
        public var clientPorts: RTSPTransport.PortRange?
        public var serverPorts: RTSPTransport.PortRange?
    }

    public enum Action: Hashable, Sendable {
        case send(RTSPRequest)
        /// UDP transport: bind an RTP/RTCP port pair per track, then call ``udpPortsBound(_:)``.
        case bindUDPPorts(trackCount: Int)
        /// PLAY succeeded: start taking packets, send keep-alives every `keepAliveInterval`.
        case playing(description: SessionDescription, tracks: [Track], keepAliveInterval: Duration)
        /// Give up on this connection: close it and reconnect after backoff.
        case fail(String)
        /// TEARDOWN answered (or nothing to tear down): close.
        case close
        case none
    }

    private enum State: Sendable {
        case idle
        case options
        case describe
        case bindingPorts
        case setup(index: Int)
        case play
        case playing
        case tearingDown
        case closed
    }

    public let configuration: Configuration
    private var state: State = .idle
    private var cseq: UInt32 = 0
    private var pending: (cseq: UInt32, request: RTSPRequest, retriedAuth: Bool)?
    private var authenticator: ClientAuthenticator?
    private var publicMethods: [RTSPMethod] = []
    private var description: SessionDescription?
    /// Formats of the last DESCRIBE left out as unchecked (for the log and the status).
    public private(set) var refusedFormats: [String] = []
    private var baseURL = ""
    private var aggregateURL = ""
    /// The tracks of the last description, as the relay will set them up.
    public private(set) var tracks: [Track] = []
    private var session: RTSPSessionHeader?
    /// Whether requests carry the backchannel `Require`: until the camera says it has none.
    public private(set) var requiresBackchannel: Bool

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.requiresBackchannel = configuration.backchannel && configuration.transport == .tcp
        if let username = configuration.username, let password = configuration.password {
            self.authenticator = ClientAuthenticator(
                username: username,
                password: password,
                allowsBasic: configuration.allowsBasic
            )
        }
    }

    /// The session id the camera gave, once set up.
    public var sessionID: String? { self.session?.id }
    public var isPlaying: Bool { if case .playing = self.state { true } else { false } }
    /// The authentication scheme in use, once challenged.
    public var authenticationScheme: ClientAuthenticator.Scheme? { self.authenticator?.scheme }

    // MARK: Events

    public mutating func connected() -> Action {
        guard case .idle = self.state else { return .none }
        self.state = .options
        return self.request(.options, self.configuration.url.description)
    }

    public mutating func udpPortsBound(_ ports: [RTSPTransport.PortRange]) -> Action {
        guard case .bindingPorts = self.state, ports.count == self.tracks.count else {
            return .fail("UDP ports bound out of order")
        }
        for index in self.tracks.indices { self.tracks[index].clientPorts = ports[index] }
        return self.setupTrack(0)
    }

    public mutating func received(_ response: RTSPResponse) -> Action {
        guard let pending = self.pending, response.cseq == pending.cseq else {
            // A response to nothing we asked (or to an earlier keep-alive): cameras send these; ignore.
            return .none
        }
        self.pending = nil
        if response.status == .unauthorized {
            return self.unauthorized(response, pending: pending)
        }
        if response.status.isRedirect {
            return .fail(
                "camera answered \(pending.request.method) with a redirect (\(response.status.code)); not followed"
            )
        }
        switch self.state {
        case .options:
            if response.status.isSuccess {
                self.publicMethods = response.headers[RTSPHeaders.public].map(RTSPMethodList.parse) ?? []
            }
            // Some cameras refuse OPTIONS but play; DESCRIBE decides.
            self.state = .describe
            return self.request(
                .describe,
                self.configuration.url.description,
                headers: [RTSPHeaders.accept: "application/sdp"]
            )
        case .describe:
            if response.status == .optionNotSupported, self.requiresBackchannel {
                self.requiresBackchannel = false  // a camera without a speaker: the stream goes on without
                return self.request(
                    .describe,
                    self.configuration.url.description,
                    headers: [RTSPHeaders.accept: "application/sdp"]
                )
            }
            return self.described(response)
        case .setup(let index):
            return self.setUp(response, index: index)
        case .play:
            guard response.status.isSuccess else { return .fail("PLAY refused: \(response.status)") }
            self.state = .playing
            return .playing(
                description: self.description!,
                tracks: self.tracks,
                keepAliveInterval: self.keepAliveInterval
            )
        case .playing:
            if response.status == .sessionNotFound { return .fail("camera lost the session (454)") }
            return .none
        case .tearingDown:
            self.state = .closed
            return .close
        case .idle, .bindingPorts, .closed:
            return .none
        }
    }

    /// Time for a keep-alive: GET_PARAMETER when the camera lists it in `Public`, OPTIONS otherwise.
    public mutating func keepAliveDue() -> Action {
        guard case .playing = self.state else { return .none }
        if self.pending != nil { return .fail("camera did not answer the last keep-alive") }
        if self.publicMethods.contains(.getParameter) {
            return self.request(.getParameter, self.aggregateURL)
        }
        return self.request(.options, self.aggregateURL)
    }

    /// Stop: TEARDOWN if a session exists, else close at once.
    public mutating func stop() -> Action {
        switch self.state {
        case .setup, .play, .playing:
            guard self.session != nil else { fallthrough }
            self.state = .tearingDown
            return self.request(.teardown, self.aggregateURL)
        default:
            self.state = .closed
            return .close
        }
    }

    // MARK: Steps

    private mutating func unauthorized(
        _ response: RTSPResponse,
        pending: (cseq: UInt32, request: RTSPRequest, retriedAuth: Bool)
    ) -> Action {
        guard self.authenticator != nil else { return .fail("camera requires credentials and none are configured") }
        guard !pending.retriedAuth else { return .fail("camera refused the credentials for \(pending.request.method)") }
        do {
            try self.authenticator!.receivedChallenges(response.headers.values(RTSPHeaders.wwwAuthenticate))
        } catch {
            return .fail("camera offers no usable authentication: \(error.detail)")
        }
        var request = pending.request
        request.headers.remove(name: RTSPHeaders.authorization)
        return self.send(request, retriedAuth: true)
    }

    private mutating func described(_ response: RTSPResponse) -> Action {
        guard response.status.isSuccess else { return .fail("DESCRIBE refused: \(response.status)") }
        let type = response.headers[RTSPHeaders.contentType]?.lowercased() ?? "application/sdp"
        guard type.hasPrefix("application/sdp") else { return .fail("DESCRIBE answered with \(type), not SDP") }
        let sdp: SessionDescription
        do {
            sdp = try SDPParser.parse(String(decoding: response.body.readableBytesView, as: UTF8.self))
        } catch {
            return .fail("camera SDP refused: \(error.detail)")
        }
        let base =
            response.headers[RTSPHeaders.contentBase] ?? response.headers[RTSPHeaders.contentLocation]
            ?? self.configuration.url.description
        self.baseURL = self.pinned(base) ?? self.configuration.url.description
        var tracks: [Track] = []
        var refusedFormats: [String] = []
        for media in sdp.media where media.proto.uppercased() == "RTP/AVP" {
            let offered = media.formats.compactMap { UInt8($0) }.filter { $0 < 128 }
            // Only formats the gateway checks (or the admin allowed unchecked), all of the first one's format.
            var format: PayloadFormat?
            var payloadTypes: [UInt8] = []
            var refused = PayloadTypeSet()
            for type in offered {
                let candidate = PayloadFormat(
                    encoding: media.rtpmap(payloadType: String(type))?.encoding,
                    payloadType: type,
                    fmtp: media.fmtp(payloadType: String(type))
                )
                let checked =
                    candidate.isChecked && (candidate != .onvifMetadata || self.configuration.rewritesMetadata)
                let allowed = checked || self.configuration.allowUncheckedCodecs.contains(candidate.name.uppercased())
                // Metadata the admin lets through without a filter to parse it: relayed as the camera sent it.
                let relayedAs = checked || candidate != .onvifMetadata ? candidate : .unchecked(candidate.name)
                if allowed, format == nil || format == relayedAs {
                    format = relayedAs
                    payloadTypes.append(type)
                } else {
                    refused.insert(type)
                    if !allowed { refusedFormats.append(candidate.name) }
                }
            }
            guard let format, !payloadTypes.isEmpty else { continue }
            let rtpmap = media.rtpmap(payloadType: String(payloadTypes[0]))
            tracks.append(
                Track(
                    index: tracks.count,
                    media: media,
                    controlURL: self.resolve(media.control),
                    payloadTypes: PayloadTypeSet(payloadTypes),
                    clockRate: rtpmap?.clockRate ?? Self.staticClockRate(payloadTypes[0]),
                    codec: media.type == "video" ? rtpmap.flatMap { VideoCodec(encoding: $0.encoding) } : nil,
                    isBackchannel: self.requiresBackchannel && media.attributes.contains { $0.name == "sendonly" },
                    // Over TCP the camera's SETUP answer sets these; over UDP they only name the track's packets.
                    rtpChannel: UInt8(truncatingIfNeeded: 2 * tracks.count),
                    rtcpChannel: UInt8(truncatingIfNeeded: 2 * tracks.count + 1)
                )
            )
            tracks[tracks.count - 1].format = format
            tracks[tracks.count - 1].formatParameters = FormatParameters(
                format: format,
                fmtp: media.fmtp(payloadType: String(payloadTypes[0]))
            )
            // A reader may decode any kept payload type with its own fmtp: the check knows all their parameter sets.
            for type in payloadTypes.dropFirst() {
                tracks[tracks.count - 1].formatParameters.parameterSets +=
                    FormatParameters(format: format, fmtp: media.fmtp(payloadType: String(type))).parameterSets
            }
            tracks[tracks.count - 1].refusedPayloadTypes = refused
        }
        self.refusedFormats = refusedFormats
        guard !tracks.isEmpty else {
            if !refusedFormats.isEmpty {
                return .fail(
                    "camera offers only formats the gateway does not check: \(refusedFormats.joined(separator: ", "))"
                )
            }
            return .fail("camera SDP has no RTP/AVP media")
        }
        self.description = sdp
        self.tracks = tracks
        self.aggregateURL = sdp.attribute("control").map(self.resolve) ?? self.baseURL
        if self.configuration.transport == .udp {
            self.state = .bindingPorts
            return .bindUDPPorts(trackCount: tracks.count)
        }
        return self.setupTrack(0)
    }

    private mutating func setupTrack(_ index: Int) -> Action {
        self.state = .setup(index: index)
        var transport: RTSPTransport
        switch self.configuration.transport {
        case .tcp:
            let rtp = UInt8(2 * index)
            transport = RTSPTransport(lowerTransport: .tcp, interleaved: (rtp, rtp + 1))
        case .udp:
            transport = RTSPTransport(lowerTransport: .udp, clientPort: self.tracks[index].clientPorts)
        }
        var headers: RTSPHeaders = [RTSPHeaders.transport: transport.headerValue]
        if let session { headers.add(name: RTSPHeaders.session, value: session.id) }
        return self.request(.setup, self.tracks[index].controlURL, headers: headers)
    }

    private mutating func setUp(_ response: RTSPResponse, index: Int) -> Action {
        guard response.status.isSuccess else { return .fail("SETUP of track \(index) refused: \(response.status)") }
        do {
            if let value = response.headers[RTSPHeaders.session] {
                let session = try RTSPSessionHeader.parse(value)
                if let existing = self.session, existing.id != session.id {
                    return .fail("camera changed the session id during SETUP")
                }
                self.session = session
            }
            guard self.session != nil else { return .fail("SETUP answered without a Session") }
            guard let value = response.headers[RTSPHeaders.transport],
                let transport = try RTSPTransport.parseList(value).first
            else { return .fail("SETUP answered without a Transport") }
            switch self.configuration.transport {
            case .tcp:
                guard transport.lowerTransport == .tcp else { return .fail("camera answered SETUP with UDP") }
                let channels = transport.interleaved ?? (UInt8(2 * index), UInt8(2 * index + 1))
                guard
                    !self.tracks[..<index].contains(where: {
                        $0.rtpChannel == channels.rtp || $0.rtcpChannel == channels.rtp
                    })
                else {
                    return .fail("camera reused an interleaved channel")
                }
                self.tracks[index].rtpChannel = channels.rtp
                self.tracks[index].rtcpChannel = channels.rtcp
            case .udp:
                guard let ports = transport.serverPort else {
                    return .fail("camera answered SETUP without server_port")
                }
                self.tracks[index].serverPorts = ports
            }
        } catch {
            return .fail("bad SETUP answer: \(error.detail)")
        }
        if index + 1 < self.tracks.count { return self.setupTrack(index + 1) }
        self.state = .play
        return self.request(
            .play,
            self.aggregateURL,
            headers: [RTSPHeaders.session: self.session!.id, RTSPHeaders.range: "npt=0.000-"]
        )
    }

    // MARK: Helpers

    private var keepAliveInterval: Duration {
        // 40 % of the camera's session timeout: two keep-alives fit in one timeout even if one is lost.
        let timeout = self.session?.timeout ?? 60
        return .milliseconds(max(2, min(timeout, 300)) * 400)
    }

    private mutating func request(_ method: RTSPMethod, _ uri: String, headers: RTSPHeaders = [:]) -> Action {
        var request = RTSPRequest(method: method, uri: uri, headers: headers)
        request.headers.add(name: RTSPHeaders.userAgent, value: self.configuration.userAgent)
        if self.requiresBackchannel, [.describe, .setup, .play].contains(method) {
            request.headers.add(name: RTSPHeaders.require, value: RTSPHeaders.onvifBackchannel)
        }
        if let session, method != .setup, method != .options || self.isPlaying,
            !request.headers.contains(RTSPHeaders.session)
        {
            request.headers.add(name: RTSPHeaders.session, value: session.id)
        }
        return self.send(request, retriedAuth: false)
    }

    private mutating func send(_ request: RTSPRequest, retriedAuth: Bool) -> Action {
        var request = request
        self.cseq &+= 1
        request.headers.replaceOrAdd(name: RTSPHeaders.cseq, value: String(self.cseq))
        // A username with a control character is refused by `camgw check`; a library caller that skips it gets an
        // unauthenticated request (and the camera's 401) rather than a trap.
        if let authorization = self.authenticator?.authorization(method: request.method, uri: request.uri),
            RTSPHeaders.isSafeValue(authorization)
        {
            request.headers.replaceOrAdd(name: RTSPHeaders.authorization, value: authorization)
        }
        self.pending = (self.cseq, request, retriedAuth)
        return .send(request)
    }

    /// A camera URL (absolute, or relative to the base) made safe: the configured scheme, host and port, the
    /// camera's path and query.
    private func resolve(_ control: String?) -> String {
        guard let control, !control.isEmpty, control != "*" else { return self.baseURL }
        if control.lowercased().hasPrefix("rtsp://") || control.lowercased().hasPrefix("rtsps://") {
            return self.pinned(control) ?? self.baseURL
        }
        // ffmpeg's rule, which Dahua's `...proto=Onvif/` base relies on: append to the base as text.
        return self.baseURL + (self.baseURL.hasSuffix("/") ? "" : "/") + control
    }

    private func pinned(_ url: String) -> String? {
        guard let parsed = RTSPURL(url) else { return nil }
        var pinned = self.configuration.url
        pinned.user = nil
        pinned.password = nil
        pinned.pathAndQuery = parsed.pathAndQuery.isEmpty ? "/" : parsed.pathAndQuery
        return pinned.description
    }

    /// RFC 3551 §6 static payload types.
    private static func staticClockRate(_ payloadType: UInt8) -> UInt32 {
        switch payloadType {
        case 0, 3, 4, 5, 7, 8, 9, 12, 13, 15, 18: 8000
        case 10, 11: 44100
        case 14, 25, 26, 28, 31, 32, 33, 34: 90000
        default: 90000
        }
    }
}
