/// A session description (RFC 8866), as far as RTSP streaming uses it.
///
/// This is the model in the middle of the protocol break: camera SDP is parsed into it by ``SDPParser`` and the
/// gateway's SDP is written from it by ``SDPWriter``; no camera text goes through unparsed.
public struct SessionDescription: Hashable, Sendable {
    public struct Origin: Hashable, Sendable {
        public var username: String
        public var sessionID: String
        public var sessionVersion: String
        public var networkType: String
        public var addressType: String
        public var address: String

        public init(
            username: String = "-",
            sessionID: String,
            sessionVersion: String,
            networkType: String = "IN",
            addressType: String = "IP4",
            address: String
        ) {
            self.username = username
            self.sessionID = sessionID
            self.sessionVersion = sessionVersion
            self.networkType = networkType
            self.addressType = addressType
            self.address = address
        }
    }

    public struct Connection: Hashable, Sendable {
        public var networkType: String
        public var addressType: String
        public var address: String

        public init(networkType: String = "IN", addressType: String = "IP4", address: String) {
            self.networkType = networkType
            self.addressType = addressType
            self.address = address
        }
    }

    public struct Bandwidth: Hashable, Sendable {
        /// `AS`, `CT`, `TIAS`, ...
        public var type: String
        public var kbps: UInt64

        public init(type: String, kbps: UInt64) {
            self.type = type
            self.kbps = kbps
        }
    }

    public struct Attribute: Hashable, Sendable {
        public var name: String
        public var value: String?

        public init(_ name: String, _ value: String? = nil) {
            self.name = name
            self.value = value
        }
    }

    public struct Media: Hashable, Sendable {
        /// `video`, `audio`, `application`, ...
        public var type: String
        public var port: UInt16
        public var portCount: UInt16?
        /// `RTP/AVP`, ...
        public var proto: String
        /// Payload types for RTP profiles.
        public var formats: [String]
        public var information: String?
        public var connection: Connection?
        public var bandwidths: [Bandwidth]
        public var attributes: [Attribute]

        public init(
            type: String,
            port: UInt16 = 0,
            portCount: UInt16? = nil,
            proto: String = "RTP/AVP",
            formats: [String],
            information: String? = nil,
            connection: Connection? = nil,
            bandwidths: [Bandwidth] = [],
            attributes: [Attribute] = []
        ) {
            self.type = type
            self.port = port
            self.portCount = portCount
            self.proto = proto
            self.formats = formats
            self.information = information
            self.connection = connection
            self.bandwidths = bandwidths
            self.attributes = attributes
        }

        /// The value of the first attribute of that name.
        public func attribute(_ name: String) -> String? {
            self.attributes.first { $0.name == name }?.value
        }

        /// `a=control:` of this media.
        public var control: String? { self.attribute("control") }

        /// `a=rtpmap:` for a payload type: encoding name, clock rate and optional channel count.
        public func rtpmap(payloadType: String) -> (encoding: String, clockRate: UInt32, channels: Int?)? {
            for attribute in self.attributes where attribute.name == "rtpmap" {
                guard let value = attribute.value else { continue }
                let parts = value.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0] == payloadType else { continue }
                let fields = parts[1].trimmingASCIIWhitespace().split(separator: "/")
                guard fields.count >= 2, let rate = UInt32(fields[1]) else { return nil }
                return (String(fields[0]), rate, fields.count > 2 ? Int(fields[2]) : nil)
            }
            return nil
        }

        /// `a=fmtp:` parameters for a payload type, names lower-cased.
        public func fmtp(payloadType: String) -> [String: String] {
            for attribute in self.attributes where attribute.name == "fmtp" {
                guard let value = attribute.value else { continue }
                let parts = value.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0] == payloadType else { continue }
                var result: [String: String] = [:]
                for param in HeaderParameters.split(parts[1], on: ";") {
                    let (key, value) = HeaderParameters.keyValue(param)
                    result[key.lowercased()] = value.map(String.init) ?? ""
                }
                return result
            }
            return [:]
        }
    }

    public var origin: Origin
    public var sessionName: String
    public var information: String?
    public var connection: Connection?
    public var bandwidths: [Bandwidth]
    /// `t=` start and stop; `0 0` for a live stream.
    public var timing: (start: UInt64, stop: UInt64) {
        get { (self.timingStart, self.timingStop) }
        set { (self.timingStart, self.timingStop) = newValue }
    }
    public var attributes: [Attribute]
    public var media: [Media]

    private var timingStart: UInt64
    private var timingStop: UInt64

    public init(
        origin: Origin,
        sessionName: String,
        information: String? = nil,
        connection: Connection? = nil,
        bandwidths: [Bandwidth] = [],
        timing: (start: UInt64, stop: UInt64) = (0, 0),
        attributes: [Attribute] = [],
        media: [Media] = []
    ) {
        self.origin = origin
        self.sessionName = sessionName
        self.information = information
        self.connection = connection
        self.bandwidths = bandwidths
        self.timingStart = timing.start
        self.timingStop = timing.stop
        self.attributes = attributes
        self.media = media
    }

    public func attribute(_ name: String) -> String? {
        self.attributes.first { $0.name == name }?.value
    }
}
