/// What the relay serves and how hard it holds on. Plain values: the config file format belongs to `camgw`.
public struct RelayConfiguration: Sendable, Hashable {
    public struct Camera: Sendable, Hashable {
        /// The name in gateway URLs: `rtsp://GATEWAY:8554/<name>/<stream>`.
        public var name: String
        /// The camera's address: the only host the gateway ever connects to for it.
        public var host: String
        public var port: Int = 554
        public var streams: [Stream]
        public var username: String?
        public var password: String?
        public var transport: RTSPClientStateMachine.LowerTransport = .tcp
        /// Pull the camera only while someone watches (closed `linger` after the last reader leaves), or always.
        public var onDemand = true
        public var linger: Duration = .seconds(10)
        /// Reach the camera over RTSPS, accepting only a certificate whose DER encoding has this SHA-256 digest.
        /// Cameras use self-signed certificates, so a pin is the only check that means anything.
        public var tlsFingerprint: [UInt8]?
        /// Relay the ONVIF audio backchannel, VMS → camera speaker. Off by default: it lets a reader make the
        /// camera play sound. TCP only, on both sides (the backchannel is interleaved on the RTSP connection).
        public var backchannel = false
        /// Answer a camera that offers only Basic over plaintext RTSP (its password then crosses the camera network
        /// in clear on every request). Off by default; over RTSPS (`tlsFingerprint`) Basic is allowed anyway.
        public var allowPlaintextBasic = false
        /// Payload formats relayed without the payload checks (upper case, as ``PayloadFormat/name``); every
        /// other unchecked format is left out of the gateway's SDP and its packets dropped.
        public var allowUncheckedCodecs: Set<String> = []
        /// SEI payload types kept (an SEI NAL is kept only if every message in it is one of these); empty: all
        /// SEI dropped.
        public var keepSEI: Set<UInt32> = []

        public init(
            name: String,
            host: String,
            port: Int = 554,
            streams: [Stream],
            username: String? = nil,
            password: String? = nil
        ) {
            self.name = name
            self.host = host
            self.port = port
            self.streams = streams
            self.username = username
            self.password = password
        }
    }

    public struct Stream: Sendable, Hashable {
        public var name: String
        /// Path and query on the camera, e.g. `/Streaming/Channels/101`.
        public var path: String
        /// Serve this stream to multicast readers too (`Transport: RTP/AVP;multicast`).
        public var multicast: Multicast?

        public init(name: String, path: String, multicast: Multicast? = nil) {
            self.name = name
            self.path = path
            self.multicast = multicast
        }
    }

    /// A stream's multicast group: track n goes to `port + 2n` (RTP) and `port + 2n + 1` (RTCP), sent once per
    /// packet however many readers listen, and only while at least one does.
    public struct Multicast: Sendable, Hashable {
        /// An IPv4 multicast address (a site's own: 239.0.0.0/8, RFC 2365).
        public var group: String
        /// Even; the first track's RTP port.
        public var port: Int
        public var ttl: UInt8
        /// The local IPv4 address to send from (the VMS-side interface); nil: the one the first multicast reader
        /// reached the gateway on.
        public var interface: String?

        public init(group: String, port: Int, ttl: UInt8 = 1, interface: String? = nil) {
            self.group = group
            self.port = port
            self.ttl = ttl
            self.interface = interface
        }
    }

    /// RTSPS for readers (RTSP over TLS, RFC 7826 §19.2): certificate chain and key files (PEM), reloaded by
    /// ``Relay/reloadTLS()``.
    public struct TLS: Sendable, Hashable {
        public var certificateChainPath: String
        public var privateKeyPath: String
        public var port: Int
        /// UDP media for RTSPS readers (in the clear beside the TLS control channel); off unless asked for.
        public var allowsUDP = false

        public init(certificateChainPath: String, privateKeyPath: String, port: Int = 8322, allowsUDP: Bool = false) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
            self.port = port
            self.allowsUDP = allowsUDP
        }
    }

    public var cameras: [Camera]
    public var tls: TLS?
    /// Who may read what. With no users and `allowAnonymous` false (the default), every read is refused.
    public var access = ReaderAccessPolicy()
    /// Concurrent connections from one source address (IPv6: one /64); past it a connection's requests get 503.
    /// 256, as for the virtual devices: a VMS recording server pulls every camera it records from one address.
    public var maxConnectionsPerSource = 256
    /// VMS-side connections in all, RTSP and ONVIF together (`[server] max_connections`); nil: from the file limit.
    public var maxConnections: Int?
    /// Failed logins from one source address per minute before it is refused outright for a while.
    public var loginFailureLimit = 10
    public var listenHost = "127.0.0.1"
    public var port = 8554
    /// Seconds a VMS session lives without a request (RFC 2326 §12.37); 60 is what VMSes expect.
    public var sessionTimeout = 60
    /// Seconds a connection may stay open without a session (before its first SETUP, or after TEARDOWN), however
    /// many requests it sends: an OPTIONS now and then must not hold a connection — and a slot of the VMS-side
    /// budget — without credentials. VMSes set up within a second of connecting.
    public var sessionlessTimeout = 10
    public var connectTimeout: Duration = .seconds(5)
    /// A camera that does not answer a request in this time is dropped and reconnected.
    public var responseTimeout: Duration = .seconds(10)
    /// No RTP from a playing camera for this long: reconnect.
    public var stallTimeout: Duration = .seconds(5)
    public var backoff = ReconnectBackoff()
    /// Largest RTP or RTCP packet forwarded; larger ones are dropped and counted.
    public var maxPacketSize = 16 * 1024
    /// Bytes a reader may have queued before it skips to the next keyframe (its socket's high water mark).
    public var readerMaxQueuedBytes = 2 * 1024 * 1024
    /// `SO_SNDBUF` of reader connections; `nil` leaves the kernel's autotuning (up to `net.ipv4.tcp_wmem`'s
    /// maximum, several MiB that a stalled reader fills before the relay notices). A fixed value makes a stuck
    /// reader visible sooner at the price of throughput over long, fast paths.
    public var readerSocketSendBuffer: Int?
    /// Server ports for UDP readers (RTP even, RTCP the next odd one); `nil` uses the kernel's ephemeral ports.
    /// A fixed range is what a firewall between the gateway and the VMS can be opened for.
    public var readerUDPPorts: ClosedRange<Int>?
    /// A reader that stays behind this long is disconnected.
    public var readerMaxBehind: Duration = .seconds(5)
    /// The keyframe cache of each video stream (for fast start) is dropped past either bound until the next
    /// keyframe.
    public var gopCacheMaxBytes = 8 * 1024 * 1024
    public var gopCacheMaxPackets = 8192
    /// Readers per stream and in all; past them PLAY gets 453.
    public var maxReadersPerStream = 64
    public var maxReaders = 512

    public init(cameras: [Camera]) {
        self.cameras = cameras
    }
}
