/// An RTSP status code with its reason phrase (RFC 2326 §7.1.1, RFC 7826 §17).
public struct RTSPStatus: Hashable, Sendable, CustomStringConvertible {
    public let code: Int
    public let reason: String

    public init(code: Int, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// A status with the standard reason phrase for its code. Reason phrases from peers are never echoed: the
    /// gateway writes its own.
    public init(code: Int) {
        self.init(code: code, reason: Self.standardReasons[code] ?? "Status \(code)")
    }

    public var isSuccess: Bool { (200..<300).contains(self.code) }
    public var isRedirect: Bool { (300..<400).contains(self.code) }

    public var description: String { "\(self.code) \(self.reason)" }

    public static let ok = RTSPStatus(code: 200)
    public static let badRequest = RTSPStatus(code: 400)
    public static let unauthorized = RTSPStatus(code: 401)
    public static let forbidden = RTSPStatus(code: 403)
    public static let notFound = RTSPStatus(code: 404)
    public static let methodNotAllowed = RTSPStatus(code: 405)
    public static let requestEntityTooLarge = RTSPStatus(code: 413)
    public static let requestURITooLong = RTSPStatus(code: 414)
    public static let unsupportedMediaType = RTSPStatus(code: 415)
    public static let requestHeaderFieldsTooLarge = RTSPStatus(code: 431)
    public static let notEnoughBandwidth = RTSPStatus(code: 453)
    public static let sessionNotFound = RTSPStatus(code: 454)
    public static let methodNotValidInThisState = RTSPStatus(code: 455)
    public static let unsupportedTransport = RTSPStatus(code: 461)
    public static let internalServerError = RTSPStatus(code: 500)
    public static let notImplemented = RTSPStatus(code: 501)
    public static let badGateway = RTSPStatus(code: 502)
    public static let serviceUnavailable = RTSPStatus(code: 503)
    public static let gatewayTimeout = RTSPStatus(code: 504)
    public static let rtspVersionNotSupported = RTSPStatus(code: 505)
    public static let optionNotSupported = RTSPStatus(code: 551)

    private static let standardReasons: [Int: String] = [
        100: "Continue", 200: "OK", 201: "Created", 250: "Low on Storage Space",
        300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 303: "See Other",
        305: "Use Proxy", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
        404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
        408: "Request Timeout", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
        413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
        431: "Request Header Fields Too Large", 451: "Parameter Not Understood", 452: "Conference Not Found",
        453: "Not Enough Bandwidth", 454: "Session Not Found", 455: "Method Not Valid in This State",
        456: "Header Field Not Valid for Resource", 457: "Invalid Range", 458: "Parameter Is Read-Only",
        459: "Aggregate Operation Not Allowed", 460: "Only Aggregate Operation Allowed",
        461: "Unsupported Transport", 462: "Destination Unreachable", 500: "Internal Server Error",
        501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
        505: "RTSP Version Not Supported", 551: "Option Not Supported",
    ]
}
