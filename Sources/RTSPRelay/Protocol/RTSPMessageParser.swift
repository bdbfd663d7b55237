import NIOCore

/// An incremental parser for an RTSP connection's byte stream: requests, responses and interleaved `$` frames,
/// in any order and in any split of bytes.
///
/// Feed it the connection's unconsumed bytes (the `ByteToMessageDecoder` contract: the same buffer again with more
/// bytes appended). It returns `nil` until a whole frame is there and never consumes part of one, so feeding a
/// message byte by byte yields the same frames as feeding it at once. Interleaved payloads and bodies are
/// `readSlice`s of the input: no copy.
///
/// Every limit in ``RTSPLimits`` is checked as soon as it is exceeded, before waiting for more bytes. After an
/// error the parser stays failed: the stream's framing can no longer be trusted.
public struct RTSPMessageParser: Sendable {
    public let limits: RTSPLimits
    private var state: State = .idle(emptyLines: 0)

    /// The CSeq of the message in progress, once its header has been read: an error response carries it so that
    /// the peer can match the error to its request.
    public private(set) var currentCSeq: UInt32?

    public init(limits: RTSPLimits = .default) {
        self.limits = limits
    }

    private enum State: Sendable {
        case idle(emptyLines: Int)
        case head(Head)
        case body(Head, length: Int)
        case failed(RTSPError)
    }

    private enum StartLine: Sendable {
        case request(method: RTSPMethod, uri: String, version: RTSPVersion)
        case response(version: RTSPVersion, status: RTSPStatus)
    }

    /// What is known of a message whose head is still arriving. Offsets are relative to the buffer's reader index,
    /// which does not move until the head is complete.
    private struct Head: Sendable {
        var startLine: StartLine?
        var headers = RTSPHeaders()
        /// Bytes of the head already split into lines.
        var consumed = 0
        /// Bytes of the current, unterminated line already known to hold no LF.
        var scanned = 0
        var headerBytes = 0
        var contentLength: Int?
        var seenSingletons: Set<String> = []
    }

    /// Returns the next complete frame, or `nil` when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) throws(RTSPError) -> RTSPFrame? {
        do {
            return try self.step(&buffer)
        } catch {
            var error = error
            error.cseq = self.currentCSeq
            self.state = .failed(error)
            throw error
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws(RTSPError) -> RTSPFrame? {
        while true {
            switch self.state {
            case .failed(let error):
                throw error

            case .idle(let emptyLines):
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                switch first {
                case UInt8(ascii: "$"):
                    return try self.interleavedFrame(&buffer)
                case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    guard emptyLines < self.limits.maxEmptyLinesBetweenMessages else {
                        throw RTSPError(.malformedStartLine, "too many empty lines between messages")
                    }
                    if first == UInt8(ascii: "\r") {
                        guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else {
                            return nil
                        }
                        guard second == UInt8(ascii: "\n") else {
                            throw RTSPError(.malformedStartLine, "CR without LF between messages")
                        }
                        buffer.moveReaderIndex(forwardBy: 2)
                    } else {
                        buffer.moveReaderIndex(forwardBy: 1)
                    }
                    self.state = .idle(emptyLines: emptyLines + 1)
                default:
                    self.currentCSeq = nil
                    self.state = .head(Head())
                }

            case .head(var head):
                self.state = .idle(emptyLines: 0)  // so that `head` is mutated in place, not copied on write
                guard try self.readHeadLines(&head, buffer) else {
                    self.state = .head(head)
                    return nil
                }
                if case .request = head.startLine, self.currentCSeq == nil {
                    throw RTSPError(.missingCSeq, "request without CSeq")
                }
                buffer.moveReaderIndex(forwardBy: head.consumed)
                self.state = .body(head, length: head.contentLength ?? 0)

            case .body(let head, let length):
                guard let body = buffer.readSlice(length: length) else { return nil }
                self.state = .idle(emptyLines: 0)
                return Self.frame(head, body: body)
            }
        }
    }

    /// How many more bytes the frame at the start of `buffer` needs, when the framing says so: for a `$` frame
    /// once its 4-byte header is there (or the bytes missing from that header), for a body being read. `nil` while
    /// a message head is arriving (its end is found by scanning, not by a count).
    public func bytesMissing(in buffer: ByteBuffer) -> Int? {
        switch self.state {
        case .idle:
            guard buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "$") else { return nil }
            guard let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else {
                return 4 - buffer.readableBytes
            }
            return max(0, 4 + Int(length) - buffer.readableBytes)
        case .body(_, let length):
            return max(0, length - buffer.readableBytes)
        case .head, .failed:
            return nil
        }
    }

    // MARK: Interleaved frames

    private mutating func interleavedFrame(_ buffer: inout ByteBuffer) throws(RTSPError) -> RTSPFrame? {
        guard
            let (_, channel, length) = buffer.getMultipleIntegers(
                at: buffer.readerIndex,
                as: (UInt8, UInt8, UInt16).self
            )
        else { return nil }
        guard Int(length) <= self.limits.maxInterleavedFrameSize else {
            throw RTSPError(.frameTooLarge, "interleaved frame of \(length) bytes on channel \(channel)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let payload = buffer.readSlice(length: Int(length))!
        self.state = .idle(emptyLines: 0)
        return .interleaved(InterleavedFrame(channel: channel, payload: payload))
    }

    // MARK: Head

    /// Splits the head into lines as far as they have arrived; true once the empty line that ends it was read.
    private mutating func readHeadLines(_ head: inout Head, _ buffer: ByteBuffer) throws(RTSPError) -> Bool {
        let base = buffer.readerIndex
        while true {
            let lineStart = base + head.consumed
            let searchStart = lineStart + head.scanned
            let end = buffer.writerIndex
            let lineLimit = head.startLine == nil ? self.limits.maxStartLineLength : self.limits.maxHeaderLineLength

            guard let lf = buffer.readableBytesView[searchStart..<end].firstIndex(of: UInt8(ascii: "\n")) else {
                // An unterminated line is judged now, not when its end finally arrives (slow loris).
                head.scanned = end - lineStart
                let pending = end - lineStart
                if pending > lineLimit + 1 {  // +1: its CR may already be here
                    throw self.lineTooLong(head, buffer: buffer, at: lineStart, length: pending)
                }
                if head.startLine != nil, head.headerBytes + pending > self.limits.maxHeaderBytes {
                    throw RTSPError(.headersTooLarge, "header block exceeds \(self.limits.maxHeaderBytes) bytes")
                }
                return false
            }

            var lineEnd = lf
            if lineEnd > lineStart, buffer.getInteger(at: lineEnd - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                lineEnd -= 1
            }
            let lineLength = lineEnd - lineStart
            let terminatedLength = lf + 1 - lineStart
            if lineLength > lineLimit {
                throw self.lineTooLong(head, buffer: buffer, at: lineStart, length: lineLength)
            }
            let line = buffer.readableBytesView[lineStart..<lineEnd]
            head.consumed += terminatedLength
            head.scanned = 0

            if head.startLine == nil {
                head.startLine = try Self.parseStartLine(line)
                continue
            }
            if lineLength == 0 {
                return true
            }
            guard head.headers.count < self.limits.maxHeaderCount else {
                throw RTSPError(.tooManyHeaders, "more than \(self.limits.maxHeaderCount) header lines")
            }
            head.headerBytes += terminatedLength
            guard head.headerBytes <= self.limits.maxHeaderBytes else {
                throw RTSPError(.headersTooLarge, "header block exceeds \(self.limits.maxHeaderBytes) bytes")
            }
            try self.parseHeaderLine(line, into: &head)
        }
    }

    private func lineTooLong(_ head: Head, buffer: ByteBuffer, at start: Int, length: Int) -> RTSPError {
        guard head.startLine == nil else {
            return RTSPError(.headerLineTooLong, "header line exceeds \(self.limits.maxHeaderLineLength) bytes")
        }
        let prefix = buffer.getString(at: start, length: min(5, length)) ?? ""
        if prefix == "RTSP/" {
            return RTSPError(.startLineTooLong, "status line exceeds \(self.limits.maxStartLineLength) bytes")
        }
        return RTSPError(.uriTooLong, "request line exceeds \(self.limits.maxStartLineLength) bytes")
    }

    private static func frame(_ head: Head, body: ByteBuffer) -> RTSPFrame {
        switch head.startLine! {
        case .request(let method, let uri, let version):
            return .request(RTSPRequest(method: method, uri: uri, version: version, headers: head.headers, body: body))
        case .response(let version, let status):
            return .response(RTSPResponse(status: status, version: version, headers: head.headers, body: body))
        }
    }

    // MARK: Lines

    private static func parseStartLine(_ line: ByteBufferView) throws(RTSPError) -> StartLine {
        guard line.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw RTSPError(.malformedStartLine, "control character in start line")
        }
        let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        let text = String(decoding: line, as: UTF8.self)
        if line.starts(with: "RTSP/".utf8) {
            guard parts.count >= 2, let version = parseVersion(parts[0]) else {
                throw RTSPError(.malformedStartLine, "bad status line '\(RTSPError.excerpt(text))'")
            }
            guard version == .v1_0 else {
                throw RTSPError(.unsupportedVersion, "\(version) is not supported")
            }
            guard parts[1].count == 3, parts[1].allSatisfy(isDigit),
                let code = Int(String(decoding: parts[1], as: UTF8.self)),
                (100...599).contains(code)
            else {
                throw RTSPError(.malformedStartLine, "bad status code in '\(RTSPError.excerpt(text))'")
            }
            let reason = parts.count == 3 ? String(decoding: parts[2], as: UTF8.self) : ""
            return .response(version: version, status: RTSPStatus(code: code, reason: reason))
        }
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, parts[0].count <= 32,
            parts[0].allSatisfy(RTSPHeaders.isTokenByte), !parts[2].contains(UInt8(ascii: " "))
        else {
            throw RTSPError(.malformedStartLine, "bad request line '\(RTSPError.excerpt(text))'")
        }
        guard parts[2].starts(with: "RTSP/".utf8), let version = parseVersion(parts[2]) else {
            throw RTSPError(
                .unsupportedVersion,
                "'\(RTSPError.excerpt(String(decoding: parts[2], as: UTF8.self)))' is not RTSP"
            )
        }
        guard version == .v1_0 else {
            throw RTSPError(.unsupportedVersion, "\(version) is not supported")
        }
        return .request(
            method: RTSPMethod(String(decoding: parts[0], as: UTF8.self)),
            uri: String(decoding: parts[1], as: UTF8.self),
            version: version
        )
    }

    /// `RTSP/<digit>.<digit>`
    private static func parseVersion(_ bytes: ByteBufferView.SubSequence) -> RTSPVersion? {
        let v = Array(bytes)
        guard v.count == 8, v.starts(with: "RTSP/".utf8), isDigit(v[5]), v[6] == UInt8(ascii: "."), isDigit(v[7])
        else { return nil }
        return RTSPVersion(major: Int(v[5] - UInt8(ascii: "0")), minor: Int(v[7] - UInt8(ascii: "0")))
    }

    private mutating func parseHeaderLine(_ line: ByteBufferView, into head: inout Head) throws(RTSPError) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw RTSPError(.malformedHeader, "header line without ':'")
        }
        let nameBytes = line[line.startIndex..<colon]
        guard !nameBytes.isEmpty, nameBytes.allSatisfy(RTSPHeaders.isTokenByte) else {
            // Also catches obsolete line folding (a line starting with whitespace), which RFC 7230 §3.2.4 lets a
            // recipient reject, and a `$` frame arriving where a header was expected.
            throw RTSPError(.malformedHeader, "invalid header name")
        }
        let valueBytes = line[(colon + 1)...]
        guard valueBytes.allSatisfy(RTSPHeaders.isValueByte) else {
            throw RTSPError(.malformedHeader, "control character in header value")
        }
        let name = String(decoding: nameBytes, as: UTF8.self)
        let value = String(String(decoding: valueBytes, as: UTF8.self).trimmingASCIIWhitespace())
        let lowered = name.lowercased()
        if RTSPHeaders.singletons.contains(lowered) {
            guard head.seenSingletons.insert(lowered).inserted else {
                throw RTSPError(.repeatedHeader, "\(name) appears more than once")
            }
        }
        switch lowered {
        case "content-length":
            head.contentLength = try self.parseContentLength(value)
        case "cseq":
            guard let cseq = parseCSeq(value) else {
                throw RTSPError(.invalidCSeq, "CSeq '\(RTSPError.excerpt(value))' is not 1 to 9 digits")
            }
            self.currentCSeq = cseq
        default:
            break
        }
        head.headers.add(name: name, value: value)
    }

    private func parseContentLength(_ value: String) throws(RTSPError) -> Int {
        guard !value.isEmpty, value.utf8.allSatisfy(isDigit) else {
            throw RTSPError(.invalidContentLength, "Content-Length '\(RTSPError.excerpt(value))'")
        }
        // Digits beyond what the limit needs are refused before conversion, so no value can overflow.
        let maxDigits = String(self.limits.maxBodySize).utf8.count
        guard value.utf8.count <= maxDigits, let length = Int(value), length <= self.limits.maxBodySize else {
            throw RTSPError(
                .bodyTooLarge,
                "Content-Length \(RTSPError.excerpt(value)) exceeds \(self.limits.maxBodySize)"
            )
        }
        return length
    }
}
