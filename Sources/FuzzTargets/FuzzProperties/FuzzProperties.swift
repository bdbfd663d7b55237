import GatewayAuth
import NIOCore
import ONVIF
@_spi(Benchmark) import RTSPRelay

/// The properties the libFuzzer targets check, one function per target. They trap (`precondition`) when a
/// property fails, which is what libFuzzer reports as a crash; the test suite runs the seeds and every kept crasher
/// through them.
public enum FuzzProperties {
    /// The RTSP message parser and interleaved-frame demultiplexer. Property: feeding the input in
    /// chunks (sizes taken from its first byte) yields exactly the frames and error of feeding it at once.
    public static func rtspParser(_ start: UnsafeRawPointer, _ count: Int) {
        let bytes = UnsafeRawBufferPointer(start: start, count: count)
        guard let first = bytes.first else { return }
        let input = ByteBuffer(bytes: bytes.dropFirst())
        var limits = RTSPLimits()
        limits.maxStartLineLength = 512
        limits.maxHeaderLineLength = 512
        limits.maxHeaderBytes = 2048
        limits.maxBodySize = 4096
        let whole = frames(input, chunk: input.readableBytes, limits: limits)
        let split = frames(input, chunk: Int(first % 17) + 1, limits: limits)
        precondition(whole.frames == split.frames, "chunked parse differs")
        precondition(whole.error?.code == split.error?.code, "chunked parse fails differently")
        for frame in whole.frames {
            var out = ByteBuffer()
            RTSPMessageSerializer.write(frame, into: &out)  // whatever parsed can be written again
        }
    }

    /// Every structured header parser. Property: what parses, written back in the gateway's form,
    /// parses to the same value.
    public static func headers(_ start: UnsafeRawPointer, _ count: Int) {
        let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
        if let transports = try? RTSPTransport.parseList(text) {
            for transport in transports {
                let again = try? RTSPTransport.parseList(transport.headerValue)
                precondition(again?.first == transport, "Transport round trip: \(transport.headerValue)")
            }
        }
        if let session = try? RTSPSessionHeader.parse(text) {
            precondition((try? RTSPSessionHeader.parse(session.headerValue)) == session, "Session round trip")
        }
        if let info = try? RTPInfo.parse(text) {
            _ = info.headerValue  // camera URLs are kept as text; only the gateway's own RTP-Info is round-tripped
        }
        if let range = try? RTSPRange.parse(text) {
            precondition((try? RTSPRange.parse(range.headerValue)) == range, "Range round trip: \(range.headerValue)")
        }
        _ = RTSPMethodList.parse(text)
        if let challenges = try? AuthenticationParameters.parseList(text) {
            for challenge in challenges where challenge.token == nil && !challenge.parameters.isEmpty {
                _ = try? AuthenticationParameters.parseList(challenge.headerValue)
            }
            var client = ClientAuthenticator(username: "u", password: "p")
            if (try? client.receivedChallenges([text])) != nil {
                _ = client.authorization(method: .describe, uri: "rtsp://192.0.2.1/x")
            }
        }
        if let url = RTSPURL(text) {
            precondition(
                RTSPURL(url.description).map { $0.host == url.host && $0.pathAndQuery == url.pathAndQuery } ?? false,
                "URL round trip"
            )
        }
        _ = StreamPath.parse(text)
    }

    /// The SDP parser and writer. Property: what parses, written by the strict writer, parses back to
    /// the same model; and the gateway's own SDP can always be made from it.
    public static func sdp(_ start: UnsafeRawPointer, _ count: Int) {
        let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
        guard let description = try? SDPParser.parse(text) else { return }
        let written = SDPWriter.write(description)
        precondition((try? SDPParser.parse(written)) == description, "SDP round trip")
        for media in description.media {
            for format in media.formats {
                _ = media.rtpmap(payloadType: format)
                _ = media.fmtp(payloadType: format)
            }
        }
    }

    /// The RTP and RTCP checks and keyframe detection on hostile packets. Property: an accepted RTP
    /// packet's header and payload lengths fit inside it.
    /// The payload check (NAL headers, start codes, aggregation, fragment runs, H.264/H.265 parameter sets, SEI,
    /// AAC AU headers, LATM length chains, metadata document runs) and the SDP's parameter sets and AAC configs.
    /// Input: a format byte, then packets as [marker:1 length:15][payload]. Properties: no trap, a run never holds
    /// more than its bound, a strip names only units that exist, a forwarded single NAL holds no start code, and
    /// every SDP parameter set that passes passes again.
    public static func payload(_ start: UnsafeRawPointer, _ count: Int) {
        let data = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
        guard let selector = data.getInteger(at: 0, as: UInt8.self) else { return }
        let layout = AUHeaderLayout(fmtp: [
            "mode": "AAC-hbr", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3",
        ])!
        let formats: [PayloadFormat] = [.h264, .h265, .aac(layout), .latm, .onvifMetadata]
        let format = formats[Int(selector & 0x7F) % formats.count]
        var guardian = PayloadGuard(format: format, keepSEI: selector & 0x80 != 0 ? [1, 5] : [])
        var offset = 1
        var sequence: UInt16 = 0
        var held = 0
        while offset + 2 <= count, let word = data.getInteger(at: offset, as: UInt16.self),
            let packet = data.getSlice(at: offset + 2, length: min(Int(word & 0x7FFF), count - offset - 2))
        {
            offset += 2 + packet.readableBytes
            let verdict = guardian.check(
                packet,
                sequence: sequence,
                timestamp: UInt32(sequence / 4),
                marker: word & 0x8000 != 0
            )
            sequence &+= 1
            if verdict.discardHeld { held = 0 }
            switch verdict.action {
            case .hold: held += 1
            case .forward, .document: held = 0
            case .strip(let units):
                precondition(units != 0 && units.nonzeroBitCount <= 64, "strip mask")
                held = 0
            case .drop: break
            }
            precondition(held <= PayloadGuard.maxRunPackets, "run bound")
            if verdict.action == .forward, format == .h264 || format == .h265,
                let type = packet.getInteger(at: packet.readerIndex, as: UInt8.self),
                format == .h264 ? ![24, 28].contains(type & 0x1F) : ![48, 49].contains((type >> 1) & 0x3F)
            {
                // Zeros at the very end are trailing zero bytes to an Annex B reader, not a start code.
                let bytes = Array(packet.readableBytesView.reversed().drop { $0 == 0 }.reversed())
                let smuggled = bytes.indices.dropLast(2).contains {
                    bytes[$0] == 0 && bytes[$0 + 1] == 0 && bytes[$0 + 2] <= 2
                }
                precondition(!smuggled, "a forwarded NAL holds a start code")
            }
            _ = H264ParameterSets.sps(packet, start: packet.readerIndex, end: packet.writerIndex)
            _ = H265ParameterSets.vps(packet, start: packet.readerIndex, end: packet.writerIndex)
            _ = H265ParameterSets.sps(packet, start: packet.readerIndex, end: packet.writerIndex)
            _ = H264ParameterSets.pps(packet, start: packet.readerIndex, end: packet.writerIndex) { id in
                .init(id: id, chromaFormat: 3, width: 64, height: 64)
            }
            _ = H265ParameterSets.pps(packet, start: packet.readerIndex, end: packet.writerIndex) { id in
                .init(id: id, vps: 0, width: 64, height: 64)
            }
            // The first packet's bytes as an SDP would carry them (once per input: Base64 and hex are slow).
            if sequence == 1 {
                let bytes = Array(packet.readableBytesView)
                let text = base64Encode(bytes)
                let hex = bytes.prefix(32).map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
                for (sdpFormat, fmtp) in [
                    (PayloadFormat.h264, ["sprop-parameter-sets": text]),
                    (.h265, ["sprop-vps": text, "sprop-sps": text, "sprop-pps": text]),
                    (.aac(layout), ["config": hex]), (.latm, ["config": hex]),
                ] {
                    let parameters = FormatParameters(format: sdpFormat, fmtp: fmtp)
                    var again = PayloadGuard(format: sdpFormat)
                    for nal in parameters.parameterSets {
                        precondition(again.learn(ByteBuffer(bytes: nal)), "an SDP parameter set passes twice")
                    }
                }
            }
            if packet.readableBytes == 0 { break }
        }
    }

    public static func rtp(_ start: UnsafeRawPointer, _ count: Int) {
        let packet = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
        var all = PayloadTypeSet()
        for type in 0..<128 { all.insert(UInt8(type)) }
        if case .success(let header) = RTPCheck.validate(packet, allowedPayloadTypes: all, maxSize: 65535) {
            precondition(
                header.headerLength >= 12 && header.headerLength + header.payloadLength <= count,
                "RTP lengths"
            )
            let payload = packet.getSlice(at: packet.readerIndex + header.headerLength, length: header.payloadLength)!
            _ = KeyframeDetector.startsKeyframe(payload, codec: .h264)
            _ = KeyframeDetector.startsKeyframe(payload, codec: .h265)
        }
        _ = RTPCheck.validateRTCP(packet, maxSize: 65535)
        _ = KeyframeDetector.startsKeyframe(packet, codec: .h264)
        _ = KeyframeDetector.startsKeyframe(packet, codec: .h265)
    }

    /// A hostile camera's byte stream through the relay's whole data path (the upstream reader,
    /// checks, renumbering, keyframe cache, fan-out to two readers), in reads of sizes taken from the input. Property:
    /// nothing crashes, and readers are only ever given packets the stream accepted.
    public static func relayInput(_ start: UnsafeRawPointer, _ count: Int) {
        let bytes = UnsafeRawBufferPointer(start: start, count: count)
        guard let first = bytes.first, let harness = try? FanoutBenchmarkHarness(readers: 2) else { return }
        var input = ByteBuffer(bytes: bytes.dropFirst())
        let readSize = Int(first) * 4 + 1
        while input.readableBytes > 0 {
            let read = input.readSlice(length: min(readSize, input.readableBytes))!
            do { try harness.read(read) } catch { break }  // a malformed stream ends the camera connection
        }
        precondition(harness.packetsWritten <= 2 * harness.packetsReceived, "readers got packets the stream never took")
        precondition(harness.writesSwallowed <= 3 * harness.packetsWritten, "more than header and payload per packet")
        harness.close()
    }
}

private func frames(_ input: ByteBuffer, chunk: Int, limits: RTSPLimits) -> (frames: [RTSPFrame], error: RTSPError?) {
    var parser = RTSPMessageParser(limits: limits)
    var pending = ByteBuffer()
    var remaining = input
    var result: [RTSPFrame] = []
    repeat {
        if let slice = remaining.readSlice(length: min(max(chunk, 1), remaining.readableBytes)) {
            pending.writeImmutableBuffer(slice)
        }
        do {
            while let frame = try parser.next(&pending) { result.append(frame) }
        } catch {
            return (result, error)
        }
    } while remaining.readableBytes > 0
    return (result, nil)

}

extension FuzzProperties {
    /// The SOAP/XML path of the ONVIF proxy (hardened libxml2 parse, envelope checks, UsernameToken, WS-Discovery).
    /// Properties: a refused request gets a fault that is itself a well-formed fault envelope; an accepted one,
    /// written again from its parsed tree, parses to the same operation; a Probe that parses can be answered; a
    /// metadata document the gateway writes is written again unchanged.
    public static func soap(_ start: UnsafeRawPointer, _ count: Int) {
        let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
        do {
            let request = try SOAPRequest.parse(bytes)
            let written = XMLWriter.document(SOAPMessage.envelope(body: [request.body]))
            let again = try? SOAPRequest.parse(Array(written.utf8))
            precondition(again?.operation == request.operation, "operation lost in rewriting: \(request.operation)")
        } catch {
            let fault = try? HardenedXMLParser.parse(Array(error.document.utf8))
            precondition(fault?.name == "Envelope", "a fault that is not an envelope")
        }
        if let probe = try? WSDiscovery.parseProbe(bytes) {
            let answer = WSDiscovery.probeMatches(messageID: "urn:uuid:1", relatesTo: probe.messageID, matches: [])
            precondition(
                (try? WSDiscovery.parseProbeMatches(Array(answer.utf8)))?.relatesTo == probe.messageID,
                "unanswerable Probe"
            )
        }
        _ = try? WSDiscovery.parseProbeMatches(bytes)
        // A camera's metadata document: what the gateway writes, written again, is the same bytes.
        if let written = MetadataStreamRewriter.rewrite(bytes) {
            precondition(MetadataStreamRewriter.rewrite(written) == written, "metadata rewriting is not a fixed point")
        }
    }
}

extension FuzzProperties {
    /// A WS-Discovery Probe from anyone on the VMS network, as the daemon's responder reads it before its rate
    /// limiter. Properties: every Type it resolves is a namespace and a non-empty local name without a colon; a
    /// device whose types are exactly those matches it; the answer the gateway writes parses back to the probe's
    /// MessageID with those types.
    public static func discoveryProbe(_ start: UnsafeRawPointer, _ count: Int) {
        let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
        guard let probe = try? WSDiscovery.parseProbe(bytes) else { return }
        precondition(probe.types.allSatisfy(Self.isLocalName), "a Type that is not a QName")
        precondition(WSDiscovery.matches(probe.types, probe.types), "a probe does not match its own types")
        let match = WSDiscovery.Match(
            endpoint: "urn:uuid:00000000-0000-0000-0000-000000000001",
            types: [.networkVideoTransmitter, .device],
            scopes: ["onvif://www.onvif.org/name/fuzz"],
            xAddrs: ["http://192.0.2.1/onvif/device_service"]
        )
        let answer = WSDiscovery.probeMatches(messageID: "urn:uuid:1", relatesTo: probe.messageID, matches: [match])
        let again = try? WSDiscovery.parseProbeMatches(Array(answer.utf8))
        precondition(again?.relatesTo == probe.messageID, "unanswerable Probe")
        precondition(again?.matches == [match], "the gateway's own match did not survive its writer")
    }

    /// ProbeMatches from anything on the camera network, as `camgw discover` reads them. Properties: bounded
    /// (at most 64 matches, 64 scopes and addresses each), every match has an endpoint, every resolved Type is a
    /// QName's parts.
    public static func discoveryProbeMatches(_ start: UnsafeRawPointer, _ count: Int) {
        let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
        guard let (_, matches) = try? WSDiscovery.parseProbeMatches(bytes) else { return }
        precondition(matches.count <= 64, "unbounded matches")
        for match in matches {
            precondition(!match.endpoint.isEmpty, "a match without an endpoint")
            precondition(match.scopes.count <= 64 && match.xAddrs.count <= 64, "unbounded scopes")
            precondition(
                match.types.count <= 32 && match.types.allSatisfy(Self.isLocalName),
                "a Type that is not a QName"
            )
            _ = match.scope("name")
            _ = match.scope("hardware")
        }
    }

    private static func isLocalName(_ name: WSDiscovery.QName) -> Bool {
        !name.name.isEmpty && !name.name.contains(":") && !name.name.contains(where: \.isWhitespace)
    }
}
