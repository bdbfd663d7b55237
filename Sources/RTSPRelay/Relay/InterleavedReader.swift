import NIOCore

/// Turns the reads of an upstream connection into frames whose payloads are slices of the buffers NIO read them
/// into. `ByteToMessageDecoder` would append every read to one cumulation buffer, and appending to a buffer whose
/// earlier bytes are still referenced by slices queued to readers copies the whole buffer (copy-on-write). Here
/// only the one frame that straddles two reads is copied, into a small stitch buffer that is reused as soon as
/// that frame has been written out.
struct InterleavedReader {
    private(set) var parser: RTSPMessageParser
    private var leftover = ByteBuffer()
    private var stitch: ByteBuffer

    init(limits: RTSPLimits, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.parser = RTSPMessageParser(limits: limits)
        self.stitch = allocator.buffer(capacity: 2048)
    }

    /// Calls `body` with each frame, and whether it was stitched from two reads: a stitched frame lives in the
    /// reused stitch buffer, so whoever keeps it beyond this read (the keyframe cache) must copy it.
    mutating func read(_ incoming: ByteBuffer, _ body: (RTSPFrame, _ stitched: Bool) -> Void) throws(RTSPError) {
        var rest = incoming
        if self.leftover.readableBytes > 0 {
            self.stitch.clear()  // reuses the storage unless a slice of the last stitched frame is still queued
            self.stitch.writeImmutableBuffer(self.leftover)
            self.leftover = ByteBuffer()
            while true {
                guard let missing = self.parser.bytesMissing(in: self.stitch) else {
                    // A message head: its length is unknown, so the rest of this read joins it (rare: control
                    // traffic only).
                    self.stitch.writeBuffer(&rest)
                    while let frame = try self.parser.next(&self.stitch) { body(frame, true) }
                    self.leftover = self.stitch
                    return
                }
                let take = min(missing, rest.readableBytes)
                self.stitch.writeImmutableBuffer(rest.readSlice(length: take)!)
                if missing > take {
                    self.leftover = self.stitch
                    return
                }
                if let frame = try self.parser.next(&self.stitch) {
                    body(frame, true)
                    if self.stitch.readableBytes == 0 { break }
                }
            }
        }
        while let frame = try self.parser.next(&rest) { body(frame, false) }
        self.leftover = rest
    }
}
