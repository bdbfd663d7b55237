import NIOCore
import Testing

@testable import RTSPRelay

/// The upstream reader: frames straddling reads come out whole and in order, and every frame that fits in one
/// read is a slice of that read (no copy).
@Suite struct InterleavedReaderTests {
    static func stream() -> ByteBuffer {
        var buffer = ByteBuffer()
        for n in 0..<40 {
            let length = 100 + n * 37
            buffer.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(n % 2), UInt16(length))
            buffer.writeRepeatingByte(UInt8(n), count: length)
            if n == 17 { buffer.writeString("RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nbody") }
        }
        return buffer
    }

    @Test(arguments: [1, 3, 4, 5, 97, 1000, 4096, 100_000])
    func sameFramesWhateverTheReadSize(_ readSize: Int) throws {
        let whole = parseAll(Self.stream()).frames
        #expect(whole.count == 41)
        var reader = InterleavedReader(limits: .default)
        var frames: [RTSPFrame] = []
        var stitchedCount = 0
        var zeroCopy = true
        var input = Self.stream()
        while input.readableBytes > 0 {
            let read = input.readSlice(length: min(readSize, input.readableBytes))!
            let base = read.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            try reader.read(read) { frame, stitched in
                frames.append(frame)
                if stitched {
                    stitchedCount += 1
                } else if case .interleaved(let interleaved) = frame {
                    let address = interleaved.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
                    if address < base || address >= base + UInt(read.readableBytes) { zeroCopy = false }
                }
            }
        }
        #expect(frames == whole)
        #expect(zeroCopy, "a frame inside one read was copied")
        if readSize >= 100_000 { #expect(stitchedCount == 0) }
    }

    @Test func malformedInputThrows() {
        var reader = InterleavedReader(limits: .default)
        #expect(throws: RTSPError.self) { try reader.read(ByteBuffer(string: "\u{1}garbage\r\n")) { _, _ in } }
    }
}
