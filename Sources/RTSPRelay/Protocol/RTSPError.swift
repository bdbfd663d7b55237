/// An error of the RTSP protocol core.
///
/// A struct over a private enum, in the style of `NIOSSHError`: callers match on ``code``, and new codes can be
/// added without breaking a caller's `switch`. ``status`` is the response a server sends for the error (when it is
/// a peer's fault), and ``closesConnection`` says whether the byte stream can still be trusted afterwards.
public struct RTSPError: Error, Hashable, Sendable {
    public var code: Code
    /// Human-readable diagnostics: what was wrong and, where there is one, the offending value (truncated).
    public var detail: String
    /// The CSeq of the message the error was found in, when its header had been read: the error response
    /// carries it so the peer can match it to its request.
    public var cseq: UInt32?

    @inline(never)
    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// The status a server answers with when a peer sent this.
    public var status: RTSPStatus { self.code.status }

    /// Parse errors desynchronise the framing of the stream: nothing after them can be trusted, so the connection is
    /// closed once the status has been sent.
    public var closesConnection: Bool { self.code.closesConnection }

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case startLineTooLong
            case uriTooLong
            case headerLineTooLong
            case tooManyHeaders
            case headersTooLarge
            case bodyTooLarge
            case frameTooLarge
            case malformedStartLine
            case malformedHeader
            case unsupportedVersion
            case invalidContentLength
            case repeatedHeader
            case invalidCSeq
            case missingCSeq
            case invalidHeaderValue
            case sdpInvalid
            case sdpLimitExceeded
            case authenticationUnsupported
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A response status line longer than ``RTSPLimits/maxStartLineLength``.
        public static let startLineTooLong = Code(.startLineTooLong)
        /// A request line longer than ``RTSPLimits/maxStartLineLength``: 414.
        public static let uriTooLong = Code(.uriTooLong)
        /// One header line longer than ``RTSPLimits/maxHeaderLineLength``: 431.
        public static let headerLineTooLong = Code(.headerLineTooLong)
        /// More than ``RTSPLimits/maxHeaderCount`` header lines: 431.
        public static let tooManyHeaders = Code(.tooManyHeaders)
        /// The header block exceeds ``RTSPLimits/maxHeaderBytes``: 431.
        public static let headersTooLarge = Code(.headersTooLarge)
        /// Content-Length above ``RTSPLimits/maxBodySize`` (or too many digits to be a size): 413.
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// An interleaved `$` frame longer than ``RTSPLimits/maxInterleavedFrameSize``: 413.
        public static let frameTooLarge = Code(.frameTooLarge)
        public static let malformedStartLine = Code(.malformedStartLine)
        public static let malformedHeader = Code(.malformedHeader)
        /// Any protocol version but RTSP/1.0: 505.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// Content-Length that is not a plain non-negative decimal number.
        public static let invalidContentLength = Code(.invalidContentLength)
        /// A header that may appear once (CSeq, Content-Length, Session, ...) appeared again.
        public static let repeatedHeader = Code(.repeatedHeader)
        /// CSeq that is not 1 to 9 decimal digits (RFC 7826 §18.20).
        public static let invalidCSeq = Code(.invalidCSeq)
        /// A request without CSeq (RFC 2326 §12.17 makes it mandatory).
        public static let missingCSeq = Code(.missingCSeq)
        /// A structured header (Transport, Session, RTP-Info, Range, ...) whose value does not parse.
        public static let invalidHeaderValue = Code(.invalidHeaderValue)
        public static let sdpInvalid = Code(.sdpInvalid)
        /// An SDP line, attribute count or media count above ``SDPLimits``.
        public static let sdpLimitExceeded = Code(.sdpLimitExceeded)
        /// The peer offered no authentication scheme we can answer.
        public static let authenticationUnsupported = Code(.authenticationUnsupported)

        public var status: RTSPStatus {
            switch self.base {
            case .uriTooLong: .requestURITooLong
            case .headerLineTooLong, .tooManyHeaders, .headersTooLarge: .requestHeaderFieldsTooLarge
            case .bodyTooLarge, .frameTooLarge: .requestEntityTooLarge
            case .unsupportedVersion: .rtspVersionNotSupported
            case .startLineTooLong, .malformedStartLine, .malformedHeader, .invalidContentLength, .repeatedHeader,
                .invalidCSeq, .missingCSeq, .invalidHeaderValue, .sdpInvalid, .sdpLimitExceeded:
                .badRequest
            case .authenticationUnsupported: .unauthorized
            }
        }

        public var closesConnection: Bool {
            switch self.base {
            case .invalidHeaderValue, .sdpInvalid, .sdpLimitExceeded, .authenticationUnsupported: false
            default: true
            }
        }

        public var description: String { String(describing: self.base) }
    }
}

extension RTSPError: CustomStringConvertible {
    public var description: String { "RTSPError.\(self.code): \(self.detail)" }
}

extension RTSPError {
    /// Shortens a peer-supplied value for a diagnostic, so that an error message can never carry a whole hostile
    /// header into a log line.
    static func excerpt(_ value: some StringProtocol, limit: Int = 64) -> String {
        HeaderText.excerpt(value, limit: limit)
    }
}
