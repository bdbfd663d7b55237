import NIOCore

/// A thin `ByteToMessageDecoder` around ``RTSPMessageParser``: all protocol decisions are the parser's.
/// A parse error is thrown into the pipeline as an ``RTSPError``; the handler after it decides what to answer.
public struct RTSPMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RTSPFrame

    private var parser: RTSPMessageParser

    public init(limits: RTSPLimits = .default) {
        self.parser = RTSPMessageParser(limits: limits)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try self.parser.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A half-received message at EOF is dropped: there is nobody left to answer.
        try self.decode(context: context, buffer: &buffer)
    }
}

/// Writes ``RTSPFrame``s. Used for control messages; the relay's data path writes `$` headers and payload slices
/// itself, without this encoder's copy.
public struct RTSPMessageEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RTSPFrame

    public init() {}

    public func encode(data: RTSPFrame, out: inout ByteBuffer) throws {
        RTSPMessageSerializer.write(data, into: &out)
    }
}
