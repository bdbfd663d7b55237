import NIOCore
import RTSPRelay

/// Feeds `input` to a fresh parser in chunks of `chunkSize` bytes, as a socket would deliver them, keeping the
/// unconsumed bytes between calls as `ByteToMessageDecoder` does. Returns every frame, and the error if one
/// was thrown.
func parseAll(
    _ input: ByteBuffer,
    chunkSize: Int? = nil,
    limits: RTSPLimits = .default
) -> (frames: [RTSPFrame], error: RTSPError?) {
    var parser = RTSPMessageParser(limits: limits)
    var pending = ByteBuffer()
    var frames: [RTSPFrame] = []
    var remaining = input
    let step = chunkSize ?? max(input.readableBytes, 1)
    while true {
        if let chunk = remaining.readSlice(length: min(step, remaining.readableBytes)), chunk.readableBytes > 0 {
            pending.writeImmutableBuffer(chunk)
        }
        do {
            while let frame = try parser.next(&pending) { frames.append(frame) }
        } catch {
            return (frames, error)
        }
        if remaining.readableBytes == 0 { return (frames, nil) }
    }
}

func parseAll(
    _ text: String,
    chunkSize: Int? = nil,
    limits: RTSPLimits = .default
) -> (frames: [RTSPFrame], error: RTSPError?) {
    parseAll(ByteBuffer(string: text), chunkSize: chunkSize, limits: limits)
}

extension RTSPFrame {
    var response: RTSPResponse? {
        if case .response(let response) = self { return response }
        return nil
    }

    var request: RTSPRequest? {
        if case .request(let request) = self { return request }
        return nil
    }

    var interleaved: InterleavedFrame? {
        if case .interleaved(let frame) = self { return frame }
        return nil
    }
}
