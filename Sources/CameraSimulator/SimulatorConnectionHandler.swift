import Foundation
import NIOCore
import NIOPosix
import RTSPRelay

/// One client connection of the simulator: answers its requests and, once it plays, sends each set-up track's
/// units (pictures, audio frames, metadata documents) on a schedule aligned to the simulator's clock, so every
/// session sees the same picture at the same time, as with a real camera, starting at the next keyframe.
final class SimulatorConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RTSPFrame
    typealias OutboundOut = ByteBuffer

    private let simulator: CameraSimulator
    private var nonce = randomHex(bytes: 16)
    /// The last nonce was used up (a fresh-nonce camera): the next challenge says `stale=true`.
    private var staleNonce = false
    private var session: Session?
    private var scheduled: [Int: Scheduled<Void>] = [:]
    private var lastRequest = NIODeadline.now()
    private var cannedTrackURIs: [String] = []

    /// The stream this connection asked for (a recorder serves many).
    private var streamPath: String?

    private struct Session {
        var id: String
        var path: String
        /// By track index; the backchannel, when set up, is the index after the last clip.
        var tracks: [Int: TrackSession] = [:]
        var playing = false
        var generation: Int
    }

    private struct TrackSession {
        var transport: Transport
        var ssrc = UInt32.random(in: 0...UInt32.max)
        var sequence = UInt16.random(in: 0...UInt16.max)
        var packets: UInt32 = 0
        var octets: UInt32 = 0
    }

    private enum Transport {
        case tcp(rtp: UInt8, rtcp: UInt8)
        case udp(rtp: any Channel, rtcp: any Channel, rtpTarget: SocketAddress, rtcpTarget: SocketAddress)
    }

    init(simulator: CameraSimulator) {
        self.simulator = simulator
    }

    private var configuration: CameraSimulator.Configuration { self.simulator.configuration }
    private var clips: [MediaClip] { self.simulator.clips }
    private var backchannelIndex: Int { self.clips.count }

    func channelActive(context: ChannelHandlerContext) {
        self.simulator.connectionOpened(context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.endSession()
        self.simulator.connectionClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RTSPError {
            var response = RTSPResponse(status: error.status)
            response.headers.add(name: RTSPHeaders.cseq, value: "0")
            self.write(response, context: context)
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .request(let request):
            self.handle(request, context: context)
        case .interleaved(let frame):
            if case .tcp(let rtp, _) = self.session?.tracks[self.backchannelIndex]?.transport, frame.channel == rtp {
                // Audio the client sends to the camera's speaker: checked as the camera's decoder would.
                let allowed = PayloadTypeSet([self.backchannelPayloadType])
                if case .success(let header) = RTPCheck.validate(
                    frame.payload,
                    allowedPayloadTypes: allowed,
                    maxSize: 1500
                ) {
                    self.simulator.receivedBackchannel(payloadBytes: header.payloadLength)
                }
            } else if frame.channel % 2 == 1,
                frame.payload.getInteger(at: frame.payload.readerIndex + 1, as: UInt8.self) == 201
            {
                self.simulator.receivedRTCP()  // a receiver report: counted, as a camera would use it
            }
        case .response:
            break
        }
    }

    private var backchannelPayloadType: UInt8 { self.simulator.backchannelClip?.payloadType ?? 0 }

    // MARK: Requests

    private func handle(_ request: RTSPRequest, context: ChannelHandlerContext) {
        self.simulator.received(request.method, uri: request.uri)
        self.lastRequest = .now()
        let shared = self.simulator.snapshot
        switch shared.hostile {
        case .silent:
            return
        case .endlessResponse where request.method == .describe:
            return self.sendEndlessResponse(cseq: request.cseq ?? 0, context: context)
        case .slowLoris where request.method == .describe:
            return self.sendSlowly(
                Array("RTSP/1.0 200 OK\r\nCSeq: \(request.cseq ?? 0)\r\n".utf8)
                    + Array(repeating: UInt8(ascii: "x"), count: 100_000),
                context: context
            )
        default:
            break
        }
        if shared.garbage == .responses {
            // Random bytes behind a control character and before a line end: never a valid start line, and never
            // mistaken for a `$` frame or an unfinished line, so a client's parser must fail on it.
            var garbage = context.channel.allocator.buffer(capacity: 68)
            garbage.writeInteger(UInt8(0x01))
            garbage.writeBytes((0..<64).map { _ in UInt8.random(in: 0...255) })
            garbage.writeStaticString("\r\n")
            context.writeAndFlush(Self.wrapOutboundOut(garbage), promise: nil)
            return
        }
        if let fixture = shared.cannedResponses[request.method] {
            context.writeAndFlush(Self.wrapOutboundOut(Self.rewriteCSeq(fixture, to: request.cseq ?? 0)), promise: nil)
            return
        }
        var response = RTSPResponse(status: .ok)
        response.headers.add(name: RTSPHeaders.cseq, value: String(request.cseq ?? 0))
        response.headers.add(name: RTSPHeaders.server, value: self.configuration.serverName)

        if request.method != .options || request.uri != "*" {
            guard let url = RTSPURL(request.uri), let path = self.matchedStream(url) else {
                response.status = .notFound
                return self.write(response, context: context)
            }
            // One session is one stream: a SETUP of another channel's track inside it is refused.
            if let session = self.session, session.path != path {
                response.status = .notFound
                return self.write(response, context: context)
            }
            self.streamPath = path
        }
        // RFC 2326 §12.32: an option the server does not know is refused, and named in `Unsupported`.
        let required = request.headers.values(RTSPHeaders.require).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let unsupported = required.filter { $0 != Self.backchannelOption || self.simulator.backchannelClip == nil }
        if !unsupported.isEmpty {
            response.status = .optionNotSupported
            response.headers.add(name: RTSPHeaders.unsupported, value: unsupported.joined(separator: ", "))
            return self.write(response, context: context)
        }
        let wantsBackchannel = !required.isEmpty
        if request.method != .options, let credentials = self.configuration.credentials,
            !self.isAuthorized(request, credentials)
        {
            response.status = .unauthorized
            self.simulator.countChallenge()
            for scheme in credentials.schemes {
                response.headers.add(name: RTSPHeaders.wwwAuthenticate, value: self.challenge(for: scheme))
            }
            return self.write(response, context: context)
        }

        switch request.method {
        case .options:
            response.headers.add(name: RTSPHeaders.public, value: RTSPMethodList.headerValue(Self.methods))
        case .describe:
            response.headers.add(name: RTSPHeaders.contentType, value: "application/sdp")
            let quirkyBase =
                self.configuration.quirks.contains(.contentBaseWithQuery) && self.configuration.recorder == nil
            response.headers.add(
                name: RTSPHeaders.contentBase,
                value: self.streamURL(context) + (quirkyBase ? "?transportmode=unicast/" : "/")
            )
            response.body = ByteBuffer(
                string: SDPWriter.write(self.sessionDescription(context, backchannel: wantsBackchannel))
            )
        case .setup:
            return self.setup(request, response: response, context: context)
        case .play:
            guard var session = self.session, self.sessionMatches(request) else {
                response.status = .sessionNotFound
                break
            }
            response.headers.add(name: RTSPHeaders.session, value: RTSPSessionHeader(id: session.id).headerValue)
            response.headers.add(
                name: RTSPHeaders.range,
                value: RTSPRange.npt(start: .seconds(milliseconds: 0), end: nil).headerValue
            )
            let start = self.firstUnits(session, generation: shared.generation)
            let entries = start.keys.sorted().map { index in
                RTPInfo.Entry(
                    url: self.streamURL(context) + "/trackID=\(index)",
                    seq: session.tracks[index]!.sequence,
                    rtptime: self.timestamp(unit: start[index]!, track: index, generation: shared.generation)
                )
            }
            if !entries.isEmpty {
                response.headers.add(name: RTSPHeaders.rtpInfo, value: RTPInfo(entries: entries).headerValue)
            }
            if !session.playing {
                session.playing = true
                self.session = session
                for (index, unit) in start {
                    self.schedule(track: index, unit: unit, generation: shared.generation, context: context)
                }
            }
        case .teardown:
            guard self.sessionMatches(request) else {
                response.status = .sessionNotFound
                break
            }
            self.endSession()
        case .getParameter, .setParameter:
            if let session = self.session { response.headers.add(name: RTSPHeaders.session, value: session.id) }
        default:
            response.status = .notImplemented
            response.headers.add(name: RTSPHeaders.public, value: RTSPMethodList.headerValue(Self.methods))
        }
        self.write(response, context: context)
    }

    static let backchannelOption = "www.onvif.org/ver20/backchannel"

    /// A head that never ends: header lines, 16 KiB every 10 ms, until the client hangs up.
    private func sendEndlessResponse(cseq: UInt32, context: ChannelHandlerContext) {
        var head = context.channel.allocator.buffer(capacity: 64)
        head.writeString("RTSP/1.0 200 OK\r\nCSeq: \(cseq)\r\n")
        context.writeAndFlush(Self.wrapOutboundOut(head), promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        @Sendable func more() {
            let (_, context) = bound.value
            guard context.channel.isActive else { return }
            var chunk = context.channel.allocator.buffer(capacity: 16 * 1024)
            for n in 0..<256 { chunk.writeString("X-Padding-\(n): " + String(repeating: "p", count: 40) + "\r\n") }
            context.writeAndFlush(Self.wrapOutboundOut(chunk), promise: nil)
            context.eventLoop.scheduleTask(in: .milliseconds(10)) { more() }
        }
        more()
    }

    /// Writes `bytes` one every 200 ms until done or the client hangs up.
    private func sendSlowly(_ bytes: [UInt8], context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        @Sendable func next(_ index: Int) {
            let context = bound.value
            guard index < bytes.count, context.channel.isActive else { return }
            var one = context.channel.allocator.buffer(capacity: 1)
            one.writeInteger(bytes[index])
            context.writeAndFlush(Self.wrapOutboundOut(one), promise: nil)
            context.eventLoop.scheduleTask(in: .milliseconds(200)) { next(index + 1) }
        }
        next(0)
    }

    private static let methods: [RTSPMethod] = [
        .options, .describe, .setup, .play, .teardown, .getParameter, .setParameter,
    ]

    /// The track a SETUP names by its `trackID=N` control; the aggregate URL means the only track. Behind a
    /// canned DESCRIBE (a real camera's SDP) the controls are that camera's: tracks are taken in the order they
    /// are set up, and those beyond the simulator's clips stay silent.
    private func trackIndex(_ uri: String) -> Int? {
        if self.simulator.snapshot.cannedResponses[.describe] != nil {
            if let index = self.cannedTrackURIs.firstIndex(of: uri) { return index }
            guard self.cannedTrackURIs.count < 16 else { return nil }
            self.cannedTrackURIs.append(uri)
            return self.cannedTrackURIs.count - 1
        }
        guard let range = uri.range(of: "/trackID=", options: .backwards) else {
            return self.clips.count == 1 ? 0 : nil
        }
        guard let index = Int(uri[range.upperBound...]), index >= 0 else { return nil }
        let hasBackchannel = self.simulator.backchannelClip != nil
        return index < self.clips.count || (hasBackchannel && index == self.backchannelIndex) ? index : nil
    }

    private func setup(_ request: RTSPRequest, response: RTSPResponse, context: ChannelHandlerContext) {
        var response = response
        if self.session != nil, !self.sessionMatches(request) {
            response.status = .sessionNotFound
            return self.write(response, context: context)
        }
        guard let track = self.trackIndex(request.uri) else {
            response.status = .notFound
            return self.write(response, context: context)
        }
        guard let value = request.headers[RTSPHeaders.transport],
            let offers = try? RTSPTransport.parseList(value),
            let offer = offers.first(where: {
                !$0.isMulticast
                    && ($0.lowerTransport == .tcp || ($0.clientPort != nil && track != self.backchannelIndex))
            })
        else {
            response.status = .unsupportedTransport
            return self.write(response, context: context)
        }
        let generation = self.simulator.snapshot.generation.number
        let sessionID =
            self.session?.id
            ?? (self.configuration.quirks.contains(.paddedSessionID)
                ? "0000" + randomHex(bytes: 4).uppercased() : String(UInt32.random(in: 10_000_000...UInt32.max)))
        if offer.lowerTransport == .tcp {
            let channels =
                offer.interleaved ?? (UInt8(truncatingIfNeeded: 2 * track), UInt8(truncatingIfNeeded: 2 * track + 1))
            self.establish(
                track: track,
                TrackSession(transport: .tcp(rtp: channels.rtp, rtcp: channels.rtcp)),
                sessionID: sessionID,
                generation: generation,
                reply: response,
                answer: RTSPTransport(lowerTransport: .tcp, interleaved: channels),
                context: context
            )
            return
        }
        // UDP: a socket pair of our own; packets go to the client's ports at the address the request came from,
        // never to a `destination` the client names.
        guard let remote = context.channel.remoteAddress, let clientPorts = offer.clientPort,
            let rtpTarget = try? remote.withPort(Int(clientPorts.first)),
            let rtcpTarget = try? remote.withPort(Int(clientPorts.last))
        else {
            response.status = .unsupportedTransport
            return self.write(response, context: context)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let reply = response
        Self.bindPortPair(on: context.eventLoop, host: self.configuration.host, attempts: 16).whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let (rtp, rtcp)):
                let serverPorts = RTSPTransport.PortRange(
                    first: UInt16(rtp.localAddress?.port ?? 0),
                    last: UInt16(rtcp.localAddress?.port ?? 0)
                )
                handler.establish(
                    track: track,
                    TrackSession(transport: .udp(rtp: rtp, rtcp: rtcp, rtpTarget: rtpTarget, rtcpTarget: rtcpTarget)),
                    sessionID: sessionID,
                    generation: generation,
                    reply: reply,
                    answer: RTSPTransport(lowerTransport: .udp, clientPort: clientPorts, serverPort: serverPorts),
                    context: context
                )
            case .failure:
                var failure = reply
                failure.status = .internalServerError
                handler.write(failure, context: context)
            }
        }
    }

    /// An even RTP port and the odd one after it (RFC 3550 §11), as cameras answer `server_port`.
    private static func bindPortPair(
        on eventLoop: any EventLoop,
        host: String,
        attempts: Int
    ) -> EventLoopFuture<(any Channel, any Channel)> {
        DatagramBootstrap(group: eventLoop).bind(host: host, port: 0).flatMap { rtp in
            let port = rtp.localAddress?.port ?? 1
            let retry: @Sendable () -> EventLoopFuture<(any Channel, any Channel)> = {
                rtp.close().flatMap {
                    attempts > 1
                        ? bindPortPair(on: eventLoop, host: host, attempts: attempts - 1)
                        : rtp.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                }
            }
            guard port % 2 == 0, port < 65535 else { return retry() }
            return DatagramBootstrap(group: eventLoop).bind(host: host, port: port + 1).map { (rtp, $0) }
                .flatMapError { _ in retry() }
        }
    }

    private func establish(
        track: Int,
        _ new: TrackSession,
        sessionID: String,
        generation: Int,
        reply: RTSPResponse,
        answer: RTSPTransport,
        context: ChannelHandlerContext
    ) {
        var response = reply
        var answer = answer
        answer.ssrc = new.ssrc
        if self.session == nil {
            let path = self.streamPath ?? self.configuration.path
            self.simulator.sessionOpened(path: path)
            self.session = Session(id: sessionID, path: path, generation: generation)
        }
        if let old = self.session?.tracks[track] { Self.closeUDP(old) }
        self.session?.tracks[track] = new
        response.headers.add(name: RTSPHeaders.transport, value: answer.headerValue)
        response.headers.add(
            name: RTSPHeaders.session,
            value: self.configuration.quirks.contains(.paddedSessionID)
                ? "   \(sessionID)  ;timeout=\(self.configuration.sessionTimeout)"
                : RTSPSessionHeader(id: sessionID, timeout: self.configuration.sessionTimeout).headerValue
        )
        self.write(response, context: context)
    }

    private func sessionMatches(_ request: RTSPRequest) -> Bool {
        guard let session = self.session, let value = request.headers[RTSPHeaders.session],
            let header = try? RTSPSessionHeader.parse(value)
        else { return false }
        return header.id == session.id
    }

    private func endSession() {
        for task in self.scheduled.values { task.cancel() }
        self.scheduled = [:]
        guard let session = self.session else { return }
        for track in session.tracks.values { Self.closeUDP(track) }
        self.session = nil
        self.simulator.sessionClosed(path: session.path)
    }

    private static func closeUDP(_ track: TrackSession) {
        if case .udp(let rtp, let rtcp, _, _) = track.transport {
            rtp.close(promise: nil)
            rtcp.close(promise: nil)
        }
    }

    // MARK: Authentication

    private func challenge(for scheme: ClientAuthenticator.Scheme) -> String {
        switch scheme {
        case .basic: return "Basic realm=\"\(Self.realm)\""
        case .digest(let algorithm):
            return DigestVerifier(realm: Self.realm, algorithm: algorithm).challenge(
                nonce: self.nonce,
                stale: self.staleNonce
            )
        }
    }

    private static let realm = "CamGateway Simulator"

    private func isAuthorized(_ request: RTSPRequest, _ credentials: CameraSimulator.Credentials) -> Bool {
        guard let value = request.headers[RTSPHeaders.authorization],
            let parsed = try? AuthenticationParameters.parseList(value), let given = parsed.first
        else { return false }
        if given.isScheme("Basic") {
            self.simulator.countBasicCredentials()
            guard credentials.schemes.contains(.basic), let token = given.token, let decoded = base64Decode(token)
            else { return false }
            return decoded == Array("\(credentials.username):\(credentials.password)".utf8)
        }
        guard let algorithm = DigestAlgorithm(parameter: given["algorithm"]),
            credentials.schemes.contains(.digest(algorithm))
        else { return false }
        let verifier = DigestVerifier(realm: Self.realm, algorithm: algorithm)
        let user = verifier.verify(
            given,
            method: request.method,
            acceptNonce: { given, _ in given == self.nonce },
            storedHA1: { name in
                name == credentials.username
                    ? algorithm.hash("\(credentials.username):\(Self.realm):\(credentials.password)") : nil
            }
        )
        // One request per nonce: the next is challenged again, with a fresh one.
        if user != nil, self.configuration.quirks.contains(.freshNoncePerRequest) {
            self.nonce = randomHex(bytes: 16)
            self.staleNonce = true
        }
        return user != nil
    }

    // MARK: Streaming

    /// Where each set-up track starts: video at the next keyframe, the others at the first unit due with it, so
    /// that sound and picture start together.
    private func firstUnits(_ session: Session, generation: CameraSimulator.Generation) -> [Int: Int64] {
        let now = (NIODeadline.now() - generation.epoch).nanoseconds
        let tracks = session.tracks.keys.filter { $0 < self.clips.count }
        var startNanoseconds = now
        if let video = tracks.sorted().first(where: { self.clips[$0].isVideo }) {
            let clip = self.clips[video]
            var candidate = clip.firstUnit(atOrAfter: now) + 1
            while !clip.unit(candidate).isKeyframe { candidate += 1 }
            startNanoseconds = clip.nanoseconds(ofUnit: candidate)
        }
        var start: [Int: Int64] = [:]
        for index in tracks { start[index] = self.clips[index].firstUnit(atOrAfter: startNanoseconds) }
        return start
    }

    private func timestamp(unit: Int64, track: Int, generation: CameraSimulator.Generation) -> UInt32 {
        generation.timestampBase &+ UInt32(truncatingIfNeeded: unit &* Int64(self.clips[track].ticksPerUnit))
    }

    private func schedule(
        track: Int,
        unit: Int64,
        generation: CameraSimulator.Generation,
        context: ChannelHandlerContext
    ) {
        let deadline = generation.epoch + .nanoseconds(self.clips[track].nanoseconds(ofUnit: unit))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.scheduled[track] = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.send(track: track, unit: unit, context: context)
        }
    }

    private func send(track index: Int, unit: Int64, context: ChannelHandlerContext) {
        guard let session = self.session, session.playing, var track = session.tracks[index] else { return }
        let shared = self.simulator.snapshot
        guard shared.generation.number == session.generation else { return }
        if NIODeadline.now() - self.lastRequest > .seconds(Int64(self.configuration.sessionTimeout)) {
            context.close(promise: nil)  // as a camera does when keep-alives stop
            return
        }
        let clip = self.clips[index]
        if !shared.stalled {
            let payloads = clip.unit(unit).payloads
            let timestamp = self.timestamp(unit: unit, track: index, generation: shared.generation)
            if clip.startsSecond(unit) {
                self.sendSenderReport(&track, timestamp: timestamp, context: context)
            }
            // Hostile behaviours act on the first track, which is the video in every camera we model (and the
            // metadata one on the metadata track).
            let hostile = index == 0 || shared.hostile == .metadataWithDTD ? shared.hostile : nil
            switch track.transport {
            case .tcp(let rtpChannel, _):
                // A camera drops frames for a client that does not read; it never buffers without bound.
                if context.channel.isWritable {
                    var buffer = context.channel.allocator.buffer(
                        capacity: payloads.reduce(0) { $0 + 16 + $1.bytes.readableBytes } + 16
                    )
                    if shared.garbage == .stream { buffer.writeString("GARBAGE\u{0}\u{1}\u{2}\r\n") }
                    for (n, payload) in payloads.enumerated() {
                        guard let hostile else {
                            RTSPMessageSerializer.writeInterleavedHeader(
                                channel: rtpChannel,
                                length: 12 + payload.bytes.readableBytes,
                                into: &buffer
                            )
                            self.writeRTP(
                                payload,
                                &track,
                                payloadType: clip.payloadType,
                                timestamp: timestamp,
                                into: &buffer
                            )
                            continue
                        }
                        var packet = ByteBuffer()
                        self.writeRTP(
                            payload,
                            &track,
                            payloadType: clip.payloadType,
                            timestamp: timestamp,
                            into: &packet
                        )
                        hostile.mangle(&packet, frame: unit, frameRate: clip.clockRate / clip.ticksPerUnit)
                        hostile.extraFrames(before: packet, into: &buffer, ssrc: track.ssrc, firstOfFrame: n == 0)
                        RTSPMessageSerializer.writeInterleavedHeader(
                            channel: rtpChannel,
                            length: packet.readableBytes,
                            into: &buffer
                        )
                        buffer.writeImmutableBuffer(packet)
                    }
                    context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
                } else {
                    self.simulator.frameSkipped()
                }
            case .udp(let rtp, _, let target, _):
                for payload in payloads {
                    var buffer = rtp.allocator.buffer(capacity: 12 + payload.bytes.readableBytes)
                    self.writeRTP(payload, &track, payloadType: clip.payloadType, timestamp: timestamp, into: &buffer)
                    rtp.write(AddressedEnvelope(remoteAddress: target, data: buffer), promise: nil)
                }
                rtp.flush()
            }
            self.session?.tracks[index] = track
        }
        self.schedule(track: index, unit: unit + 1, generation: shared.generation, context: context)
    }

    private func writeRTP(
        _ payload: RTPPayload,
        _ track: inout TrackSession,
        payloadType: UInt8,
        timestamp: UInt32,
        into buffer: inout ByteBuffer
    ) {
        RTPWriter.writeHeader(
            into: &buffer,
            marker: payload.marker,
            payloadType: payloadType,
            sequence: track.sequence,
            timestamp: timestamp,
            ssrc: track.ssrc
        )
        buffer.writeImmutableBuffer(payload.bytes)
        track.sequence &+= 1
        track.packets &+= 1
        track.octets &+= UInt32(payload.bytes.readableBytes)
    }

    private func sendSenderReport(_ track: inout TrackSession, timestamp: UInt32, context: ChannelHandlerContext) {
        var report = context.channel.allocator.buffer(capacity: 64)
        RTPWriter.writeSenderReport(
            into: &report,
            ssrc: track.ssrc,
            ntpTime: RTPWriter.ntpTimestamp(unixNanoseconds: Int64(Date().timeIntervalSince1970 * 1e9)),
            rtpTime: timestamp,
            packetCount: track.packets,
            octetCount: track.octets,
            cname: "camgw-simulator"
        )
        switch track.transport {
        case .tcp(_, let rtcpChannel):
            guard context.channel.isWritable else { return }
            var framed = context.channel.allocator.buffer(capacity: report.readableBytes + 4)
            RTSPMessageSerializer.writeInterleavedHeader(
                channel: rtcpChannel,
                length: report.readableBytes,
                into: &framed
            )
            framed.writeImmutableBuffer(report)
            context.write(Self.wrapOutboundOut(framed), promise: nil)
        case .udp(_, let rtcp, _, let target):
            rtcp.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: report), promise: nil)
        }
    }

    // MARK: Helpers

    private func write(_ response: RTSPResponse, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        RTSPMessageSerializer.write(response, into: &buffer)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    /// The served path `url` names (itself, or a track below it), matched with its query: a Dahua recorder's
    /// channels differ only there.
    private func matchedStream(_ url: RTSPURL) -> String? {
        func below(_ text: String, _ base: String) -> Bool {
            text == base || text == base + "/" || text.hasPrefix(base + "/")
        }
        if let path = self.configuration.paths.first(where: { below(url.pathAndQuery, $0) }) { return path }
        // A camera's single stream ignores a query a client adds.
        guard self.configuration.recorder == nil, below(url.path, self.configuration.path) else { return nil }
        return self.configuration.path
    }

    private func streamURL(_ context: ChannelHandlerContext) -> String {
        let local = context.channel.localAddress
        let host = local?.ipAddress ?? self.configuration.host
        let port = local?.port ?? self.simulator.port
        return "rtsp://\(host.contains(":") ? "[\(host)]" : host):\(port)\(self.streamPath ?? self.configuration.path)"
    }

    private func sessionDescription(_ context: ChannelHandlerContext, backchannel: Bool) -> SessionDescription {
        let address = context.channel.localAddress?.ipAddress ?? self.configuration.host
        let isIPv6 = address.contains(":")
        var media = self.clips.enumerated().map { index, clip in
            var media = clip.mediaDescription(control: "trackID=\(index)")
            media.connection = .init(addressType: isIPv6 ? "IP6" : "IP4", address: isIPv6 ? "::" : "0.0.0.0")
            return media
        }
        if self.simulator.snapshot.hostile == .av1Track, !media.isEmpty {
            let type = String(HostileBehaviour.av1PayloadType)
            media[0].formats.append(type)
            media[0].attributes.insert(.init("rtpmap", "\(type) AV1/90000"), at: 0)
            var av1 = media[0]
            av1.formats = [type]
            av1.attributes = [.init("rtpmap", "\(type) AV1/90000"), .init("control", "trackID=9")]
            media.append(av1)
        }
        // ONVIF Streaming §5.3: the backchannel is offered only to a client that required it, `sendonly` from
        // the client's side of the description.
        if backchannel, let clip = self.simulator.backchannelClip {
            media.append(clip.mediaDescription(control: "trackID=\(self.backchannelIndex)", direction: "sendonly"))
        }
        return SessionDescription(
            origin: .init(
                sessionID: String(self.simulator.snapshot.generation.timestampBase),
                sessionVersion: "1",
                addressType: isIPv6 ? "IP6" : "IP4",
                address: address
            ),
            sessionName: "CamGateway Simulator",
            timing: (0, 0),
            attributes: [.init("control", "*"), .init("range", "npt=now-")],
            media: media
        )
    }

    /// The fixture with its CSeq value replaced, so that a client can match it to its request. Works on bytes:
    /// the fixture's own line endings and body stay exactly as they are.
    private static func rewriteCSeq(_ fixture: ByteBuffer, to cseq: UInt32) -> ByteBuffer {
        let bytes = Array(fixture.readableBytesView)
        var out = ByteBuffer()
        var lineStart = 0
        var inHead = true
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.count
            let line = bytes[lineStart..<lineEnd]
            if inHead, String(decoding: line.prefix(5), as: UTF8.self).lowercased() == "cseq:" {
                out.writeString("CSeq: \(cseq)")
                out.writeBytes(
                    line.last == UInt8(ascii: "\n")
                        ? (line.dropLast().last == UInt8(ascii: "\r") ? [13, 10] : [10]) : []
                )
            } else {
                out.writeBytes(line)
            }
            if line.allSatisfy({ $0 == 13 || $0 == 10 }) { inHead = false }
            lineStart = lineEnd
        }
        return out
    }
}

extension SocketAddress {
    fileprivate func withPort(_ port: Int) throws -> SocketAddress {
        guard let ip = self.ipAddress else { throw SocketAddressError.unsupported }
        return try SocketAddress(ipAddress: ip, port: port)
    }
}
