/// The bounds the RTSP parser enforces. Every limit is checked before memory of that size is committed, and each is
/// tested at the limit and one past it.
///
/// RFC 2326 sets no limits of its own; the defaults are those of common RTSP servers and HTTP servers (whose header
/// grammar RTSP borrows, RFC 2326 §4), with headroom for the longest camera replies we have seen.
public struct RTSPLimits: Hashable, Sendable {
    /// Request line or status line, excluding the line ending. URLs with a long ONVIF query string stay well under
    /// 1 KiB; past this a request gets 414 (RFC 2326 §11.3.x "Request-URI Too Large").
    public var maxStartLineLength: Int = 4096
    /// One header line, excluding the line ending (431, RFC 6585 §5).
    public var maxHeaderLineLength: Int = 4096
    /// Header lines in one message (431). Cameras send fewer than 15.
    public var maxHeaderCount: Int = 64
    /// All header lines of one message together, line endings included (431).
    public var maxHeaderBytes: Int = 16 * 1024
    /// Message body, set by Content-Length only (RTSP has no chunked encoding, RFC 2326 §4.3). SDP from cameras is
    /// under 4 KiB; 413 past this.
    public var maxBodySize: Int = 64 * 1024
    /// Payload of one interleaved `$` frame (RFC 2326 §10.12). The wire format caps it at 65 535; a relay may set it
    /// lower to its RTP maximum.
    public var maxInterleavedFrameSize: Int = 0xFFFF
    /// Empty lines tolerated between messages (some clients send a stray CRLF after a body).
    public var maxEmptyLinesBetweenMessages: Int = 8

    public init() {}

    public static let `default` = RTSPLimits()
}
