import NIOCore

/// Reads the bits of a NAL unit's payload (its RBSP) with the emulation-prevention bytes (`00 00 03`) skipped, as
/// H.264 §7.3.1 and H.265 §7.3.1.1 define them, without copying the NAL. Every read is bounded: a value that would
/// run past the end of the NAL is `nil`, so an exp-Golomb code that never ends inside the NAL cannot be read.
struct RBSPReader {
    private let buffer: ByteBuffer
    private let end: Int
    /// The next byte of the NAL to load into `current`.
    private var next: Int
    private var current: UInt8 = 0
    private var bitsLeft = 0
    private var zeros = 0
    private let escaped: Bool
    /// Bits read so far (emulation-prevention bytes not counted).
    private(set) var consumed = 0

    /// `start` is the first byte after the NAL header. `escaped: false` reads plain bits (an AAC AU-header
    /// section has no emulation prevention).
    init(_ buffer: ByteBuffer, start: Int, end: Int, escaped: Bool = true) {
        self.buffer = buffer
        self.next = start
        self.end = end
        self.escaped = escaped
    }

    private mutating func load() -> Bool {
        guard self.next < self.end, var byte = self.buffer.getInteger(at: self.next, as: UInt8.self) else {
            return false
        }
        self.next += 1
        if self.escaped && self.zeros >= 2 && byte == 3 {
            guard self.next < self.end, let after = self.buffer.getInteger(at: self.next, as: UInt8.self) else {
                return false
            }
            byte = after
            self.next += 1
            self.zeros = 0
        }
        self.zeros = byte == 0 ? self.zeros + 1 : 0
        self.current = byte
        self.bitsLeft = 8
        return true
    }

    mutating func bit() -> UInt32? {
        if self.bitsLeft == 0, !self.load() { return nil }
        self.bitsLeft -= 1
        self.consumed += 1
        return UInt32((self.current >> UInt8(self.bitsLeft)) & 1)
    }

    mutating func bits(_ count: Int) -> UInt32? {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let bit = self.bit() else { return nil }
            value = value << 1 | bit
        }
        return value
    }

    mutating func flag() -> Bool? { self.bit().map { $0 == 1 } }

    mutating func skip(_ count: Int) -> Bool {
        for _ in 0..<count where self.bit() == nil { return false }
        return true
    }

    /// ue(v): at most 31 leading zeros, so every value fits 32 bits; longer codes are invalid in both standards.
    mutating func ue() -> UInt32? {
        var leadingZeros = 0
        while true {
            guard let bit = self.bit() else { return nil }
            if bit == 1 { break }
            leadingZeros += 1
            if leadingZeros > 31 { return nil }
        }
        guard let rest = self.bits(leadingZeros) else { return nil }
        return UInt32((UInt64(1) << UInt64(leadingZeros)) - 1 + UInt64(rest))
    }

    /// se(v), as a 64-bit value so that the full ue range maps without overflow.
    mutating func se() -> Int64? {
        guard let code = self.ue() else { return nil }
        let magnitude = (Int64(code) + 1) / 2
        return code % 2 == 1 ? magnitude : -magnitude
    }

    /// ue(v) no larger than `limit`.
    mutating func ue(max limit: UInt32) -> UInt32? {
        guard let value = self.ue(), value <= limit else { return nil }
        return value
    }

    /// se(v) within `range`.
    mutating func se(in range: ClosedRange<Int64>) -> Int64? {
        guard let value = self.se(), range.contains(value) else { return nil }
        return value
    }

    /// The RBSP trailing bits (a 1, then zeros to the byte boundary) end the NAL, allowing only zero bytes after
    /// them (`cabac_zero_words` and trailing zeros): nothing the parser did not read can hide behind a valid header.
    mutating func endsWithTrailingBits() -> Bool {
        guard self.bit() == 1 else { return false }
        while self.bitsLeft > 0 {
            guard self.bit() == 0 else { return false }
        }
        while self.next < self.end {
            guard let byte = self.buffer.getInteger(at: self.next, as: UInt8.self), byte == 0 else { return false }
            self.next += 1
        }
        return true
    }

    /// Whether unread RBSP data remains before the trailing bits (`more_rbsp_data()`, H.264 §7.2): the stop bit is
    /// the last 1 of the NAL, so there is data when a 1 comes before it.
    func moreData() -> Bool {
        var last = self.end - 1
        while last >= self.next, self.buffer.getInteger(at: last, as: UInt8.self) == 0 { last -= 1 }
        let remaining = self.bitsLeft > 0 ? self.current & UInt8((1 << self.bitsLeft) - 1) : 0
        guard last >= self.next else { return remaining & (remaining &- 1) != 0 }
        if remaining != 0 { return true }
        for index in self.next..<last where self.buffer.getInteger(at: index, as: UInt8.self) != 0 { return true }
        let stopByte = self.buffer.getInteger(at: last, as: UInt8.self) ?? 0
        return stopByte & (stopByte &- 1) != 0
    }
}
