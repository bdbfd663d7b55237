import NIOCore

/// A snapshot of the relay for `camgw status`, metrics and tests.
public struct RelayStats: Sendable {
    public struct Stream: Sendable {
        public var path: StreamPath
        public var upstreamUp: Bool
        public var upstreamState: String
        public var lastError: String?
        public var reconnects: Int
        public var upstreamSessions: Int
        public var packetsIn: Int
        public var bytesIn: Int
        /// What the camera sent over the last second, in bits per second.
        public var bitsPerSecondIn: Int
        public var packetsOut: Int
        public var bytesOut: Int
        public var dropped: [RTPDropReason: Int]
        public var gopCachePackets: Int
        /// Packets a reader sent that went on to the camera's backchannel.
        public var backchannelPackets: Int
        /// Packets not sent to readers that could not keep up, over all readers since the stream started.
        public var readerDrops: Int
        public var readers: [Reader]
    }

    public struct Reader: Sendable {
        public var address: String
        public var transport: String
        public var since: NIODeadline
        public var packetsSent: Int
        public var bytesSent: Int
        public var packetsDropped: Int
        public var waitingForKeyframe: Bool
        /// Bytes written to the reader's connection and not yet taken by its socket.
        public var queuedBytes: Int
    }

    public var streams: [Stream]
    /// Failed VMS logins since start (wrong user, password or scheme), across all sources.
    public var authFailures: Int = 0

    public func stream(_ camera: String, _ stream: String) -> Stream? {
        self.streams.first { $0.path == StreamPath(camera: camera, stream: stream) }
    }
}
