/// The header fields of one RTSP message, in order, with case-insensitive lookup (RFC 2326 §4.2).
///
/// Names and values are validated when they enter: the parser only produces tokens and values without control
/// characters, and ``add(name:value:)`` refuses CR, LF and NUL so that no value can split a message when it is
/// written again (header injection is how a hostile camera would smuggle bytes to a VMS).
public struct RTSPHeaders: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Field: Hashable, Sendable {
        public let name: String
        public let value: String
    }

    private var fields: [Field] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { self.add(name: name, value: value) }
    }

    public var count: Int { self.fields.count }

    public func makeIterator() -> IndexingIterator<[Field]> { self.fields.makeIterator() }

    /// Appends a field. A CR, LF or NUL in a name or value is a programming error: values from peers only reach
    /// here through the parser, which refuses them.
    public mutating func add(name: String, value: String) {
        precondition(Self.isToken(name), "invalid RTSP header name")
        precondition(Self.isSafeValue(value), "invalid RTSP header value")
        self.fields.append(Field(name: name, value: value))
    }

    /// Replaces every field of that name with one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        self.remove(name: name)
        self.add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        self.fields.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    /// The first value of that name, trimmed of surrounding whitespace.
    public subscript(name: String) -> String? {
        self.fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Every value of that name, in order.
    public func values(_ name: String) -> [String] {
        self.fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    // MARK: Well-known names

    public static let cseq = "CSeq"
    public static let contentLength = "Content-Length"
    public static let contentType = "Content-Type"
    public static let contentBase = "Content-Base"
    public static let contentLocation = "Content-Location"
    public static let session = "Session"
    public static let transport = "Transport"
    public static let range = "Range"
    public static let rtpInfo = "RTP-Info"
    public static let `public` = "Public"
    public static let allow = "Allow"
    public static let authorization = "Authorization"
    public static let wwwAuthenticate = "WWW-Authenticate"
    public static let server = "Server"
    public static let userAgent = "User-Agent"
    public static let accept = "Accept"
    public static let require = "Require"
    public static let unsupported = "Unsupported"
    /// The `Require` option of the ONVIF audio backchannel (ONVIF Streaming Specification §5.3).
    public static let onvifBackchannel = "www.onvif.org/ver20/backchannel"
    public static let location = "Location"

    /// Fields that may appear once per message; a repeat is refused, since two different values (two
    /// Content-Lengths above all) are how request smuggling starts.
    static let singletons: Set<String> = [
        "cseq", "content-length", "content-type", "content-base", "content-location", "session", "transport",
        "range", "rtp-info", "authorization",
    ]

    // MARK: Validation

    static func isTokenByte(_ byte: UInt8) -> Bool { HeaderText.isTokenByte(byte) }

    static func isToken(_ string: String) -> Bool {
        !string.isEmpty && string.utf8.allSatisfy(isTokenByte)
    }

    /// Visible characters, space and tab; bytes of UTF-8 sequences are allowed (obs-text), control bytes are not.
    static func isValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    static func isSafeValue(_ string: String) -> Bool {
        string.utf8.allSatisfy(isValueByte)
    }
}
