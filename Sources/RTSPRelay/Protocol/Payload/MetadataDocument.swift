import NIOCore

/// What the relay needs from the ONVIF side for a `vnd.onvif.metadata` track: each document the camera sent
/// (the payloads of its packets up to the marker, ONVIF Streaming §5.1.2.1.1) parsed by the hardened XML parser
/// and written anew, as the SOAP side does with camera answers. The relay does not parse XML itself: the parser
/// and its limits live in the ONVIF module (`MetadataStreamRewriter.rewrite`), which the daemon hands the relay
/// (``Relay/init``). Without one, a metadata track is an unchecked format, left out unless the camera's
/// `allow_unchecked_codecs` names it. The filter returns the document as the gateway writes it, or nil to drop it.
public typealias MetadataDocumentFilter = @Sendable ([UInt8]) -> [UInt8]?

/// The packets of one metadata document, held until the one with the marker: consecutive sequence numbers,
/// bounded in packets and bytes, so that a camera cannot hold memory with a document that never ends.
struct MetadataDocumentRun {
    static let maxPackets = 1024
    static let maxBytes = 256 * 1024

    var open = false
    var nextSequence: UInt16 = 0
    var packets = 0
    var bytes = 0

    mutating func check(payloadLength: Int, sequence: UInt16, marker: Bool) -> PayloadGuard.Verdict {
        // A document whose packets stop (a gap, a lost marker) is dropped whole; this packet starts the next.
        let broken = self.open && self.nextSequence != sequence
        if broken || !self.open { (self.packets, self.bytes) = (0, 0) }
        self.packets += 1
        self.bytes += payloadLength
        guard self.packets <= Self.maxPackets, self.bytes <= Self.maxBytes else {
            self = MetadataDocumentRun()
            return .init(action: .drop(.badMetadata), discardHeld: true)
        }
        if marker {
            self = MetadataDocumentRun()
            return .init(action: .document, discardHeld: broken)
        }
        self.open = true
        self.nextSequence = sequence &+ 1
        return .init(action: .hold, discardHeld: broken)
    }
}

/// The payloads of a metadata document so far, copied out of their reads (a slice would keep a whole read buffer
/// alive for as long as the camera keeps the document open), and the headers of its packets: their numbers and
/// timestamps are what the rewritten packets go out under. Bounded by ``MetadataDocumentRun``.
struct HeldDocument {
    private(set) var bytes = ByteBuffer()
    private(set) var parts: [RTPHeader] = []

    mutating func hold(_ packet: ByteBuffer, header: RTPHeader) {
        if let payload = packet.getSlice(at: packet.readerIndex + header.headerLength, length: header.payloadLength) {
            self.bytes.writeImmutableBuffer(payload)
        }
        self.parts.append(header)
    }

    /// How a rewritten document of `rewritten` bytes goes out, when the camera sent `received` bytes in `packets`
    /// packets: the payload size of each packet (about the camera's own, larger if the document grew, never past
    /// `maxPacketSize` with the gateway's 12-byte header) and how many packets; nil when it needs more packets
    /// than the camera used (there are no sequence numbers for them).
    static func packetization(
        received: Int,
        packets: Int,
        rewritten: Int,
        maxPacketSize: Int
    ) -> (size: Int, count: Int)? {
        guard packets > 0, rewritten > 0, maxPacketSize > 12 else { return nil }
        let camera = max(1, (received + packets - 1) / packets)
        let size = min(max(camera, (rewritten + packets - 1) / packets), maxPacketSize - 12)
        let count = (rewritten + size - 1) / size
        return count <= packets ? (size, count) : nil
    }

    mutating func clear() {
        self.bytes.clear()
        self.parts.removeAll(keepingCapacity: true)
    }
}
