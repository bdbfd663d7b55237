import NIOCore

/// H.264 §7.4.1 and H.265 §7.4.2: inside a NAL unit the byte-aligned sequences 00 00 00, 00 00 01 and 00 00 02
/// never occur (an encoder escapes them with 03).
///
/// Why the gateway checks it: a depacketizer writes each NAL after a start code (FFmpeg's `rtpdec_h264` hands the
/// decoder an Annex B stream), so a 00 00 01 inside a slice's bytes starts a second NAL unit that no NAL check
/// saw: an SPS, an SEI or a forbidden type smuggled inside an allowed unit. Fragments of one NAL are scanned as
/// one run of bytes (`zeros` carries the zeros that ended the previous fragment), so the sequence cannot be split
/// across two packets either. Zeros that end a NAL (the spec forbids them too) are let through: some cameras leave
/// the zero byte of a four-byte start code on the NAL before it, and to an Annex B reader they are only a longer
/// start code, nothing it would parse.
enum StartCodeEmulation {
    /// Whether `start..<end` of `p` continues a NAL unit without a start code. `zeros` is the count (0 to 2) of
    /// 00 bytes that ended the part before (0 for a new NAL); on return, the count that ends this part.
    static func isClean(_ p: ByteBuffer, start: Int, end: Int, zeros: inout Int) -> Bool {
        guard start < end else { return true }
        let base = p.readerIndex
        return p.withUnsafeReadableBytes { raw -> Bool in
            let from = start - base
            let to = end - base
            guard from >= 0, to <= raw.count else { return false }
            // The first two bytes may complete a sequence that began in the part before.
            var count = zeros
            var i = from
            while i < min(from + 2, to) {
                let byte = raw[i]
                if count >= 2, byte <= 2 { return false }
                count = byte == 0 ? count + 1 : 0
                i += 1
            }
            // Inside: a byte above 2 at i + 2 rules out a sequence starting at i, i + 1 or i + 2, so most of the
            // bytes are never read.
            i = from
            while i + 2 < to {
                if raw[i + 2] > 2 {
                    i += 3
                } else if raw[i + 1] != 0 {
                    i += 2
                } else if raw[i] != 0 {
                    i += 1
                } else {
                    return false
                }
            }
            if to - from > 2 {
                count = raw[to - 1] != 0 ? 0 : raw[to - 2] != 0 ? 1 : 2
            }
            zeros = min(count, 2)
            return true
        }
    }

    /// A whole NAL unit (or the last part of one: `zeros` carried in).
    static func isClean(_ p: ByteBuffer, start: Int, end: Int, endingWith zeros: Int = 0) -> Bool {
        var zeros = zeros
        return self.isClean(p, start: start, end: self.trimmingTrailingZeros(p, start: start, end: end), zeros: &zeros)
    }

    /// Zeros that run to the end of a NAL are trailing zero bytes to an Annex B reader (they join the next start
    /// code), not a start code inside the NAL.
    static func trimmingTrailingZeros(_ p: ByteBuffer, start: Int, end: Int) -> Int {
        var last = end
        while last > start, p.getInteger(at: last - 1, as: UInt8.self) == 0 { last -= 1 }
        return last
    }
}
