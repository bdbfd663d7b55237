import NIOCore
import RTSPRelay
import Testing

@Suite struct RTSPParserMalformedTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [UInt8]
        var code: RTSPError.Code
        var status: Int
        var testDescription: String { self.name }

        init(_ name: String, _ input: String, _ code: RTSPError.Code, _ status: Int) {
            self.init(name, Array(input.utf8), code, status)
        }

        init(_ name: String, _ input: [UInt8], _ code: RTSPError.Code, _ status: Int) {
            self.name = name
            self.input = input
            self.code = code
            self.status = status
        }
    }

    static let cases: [Case] = [
        Case("repeated CSeq", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nCSeq: 2\r\n\r\n", .repeatedHeader, 400),
        Case(
            "repeated equal Content-Length",
            "ANNOUNCE rtsp://c/ RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab",
            .repeatedHeader,
            400
        ),
        Case(
            "repeated Session",
            "PLAY rtsp://c/ RTSP/1.0\r\nCSeq: 1\r\nSession: a\r\nSession: b\r\n\r\n",
            .repeatedHeader,
            400
        ),
        Case(
            "negative Content-Length",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n",
            .invalidContentLength,
            400
        ),
        Case(
            "Content-Length with sign",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: +5\r\n\r\n",
            .invalidContentLength,
            400
        ),
        Case(
            "Content-Length not a number",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 12ab\r\n\r\n",
            .invalidContentLength,
            400
        ),
        Case(
            "huge Content-Length",
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
            .bodyTooLarge,
            413
        ),
        Case(
            "NUL in header value",
            Array("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: a".utf8) + [0] + Array("b\r\n\r\n".utf8),
            .malformedHeader,
            400
        ),
        Case(
            "NUL in request line",
            Array("OPTIONS *".utf8) + [0] + Array(" RTSP/1.0\r\nCSeq: 1\r\n\r\n".utf8),
            .malformedStartLine,
            400
        ),
        Case("CSeq overflow", "OPTIONS * RTSP/1.0\r\nCSeq: 4294967296123\r\n\r\n", .invalidCSeq, 400),
        Case("CSeq not a number", "OPTIONS * RTSP/1.0\r\nCSeq: one\r\n\r\n", .invalidCSeq, 400),
        Case("CSeq negative", "OPTIONS * RTSP/1.0\r\nCSeq: -1\r\n\r\n", .invalidCSeq, 400),
        Case("missing CSeq", "OPTIONS * RTSP/1.0\r\nUser-Agent: x\r\n\r\n", .missingCSeq, 400),
        Case(
            "$ frame inside a header block",
            Array("RTSP/1.0 200 OK\r\nCSeq: 1\r\n".utf8) + [0x24, 0, 0, 4, 1, 2, 3, 4] + Array("\r\n\r\n".utf8),
            .malformedHeader,
            400
        ),
        Case(
            "obsolete line folding",
            "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: a\r\n  continued\r\n\r\n",
            .malformedHeader,
            400
        ),
        Case("header without colon", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nBroken header\r\n\r\n", .malformedHeader, 400),
        Case("space before colon", "OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n", .malformedHeader, 400),
        Case("RTSP/2.0 request", "OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", .unsupportedVersion, 505),
        Case("HTTP request on the RTSP port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", .unsupportedVersion, 505),
        Case("RTSP/2.0 response", "RTSP/2.0 200 OK\r\nCSeq: 1\r\n\r\n", .unsupportedVersion, 505),
        Case("status code of four digits", "RTSP/1.0 2000 OK\r\nCSeq: 1\r\n\r\n", .malformedStartLine, 400),
        Case("status code out of range", "RTSP/1.0 999 OK\r\nCSeq: 1\r\n\r\n", .malformedStartLine, 400),
        Case("request line with two parts", "OPTIONS RTSP/1.0\r\nCSeq: 1\r\n\r\n", .malformedStartLine, 400),
        Case("method that is not a token", "OPT(IONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n", .malformedStartLine, 400),
        Case("CR without LF between messages", "\rOPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n", .malformedStartLine, 400),
    ]

    @Test(arguments: cases)
    func refused(_ testCase: Case) {
        for chunkSize in [nil, 1] as [Int?] {
            let result = parseAll(ByteBuffer(bytes: testCase.input), chunkSize: chunkSize)
            #expect(result.frames.isEmpty)
            #expect(result.error?.code == testCase.code, "chunk size \(String(describing: chunkSize))")
            #expect(result.error?.status.code == testCase.status)
            #expect(result.error?.closesConnection == true)
        }
    }

    /// After an error the parser stays failed: the stream's framing cannot be trusted again.
    @Test func staysFailed() {
        var parser = RTSPMessageParser()
        var buffer = ByteBuffer(string: "OPTIONS * RTSP/1.0\r\nCSeq: x\r\n\r\n")
        #expect(throws: RTSPError.self) { try parser.next(&buffer) }
        var good = ByteBuffer(string: "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        #expect(throws: RTSPError.self) { try parser.next(&good) }
    }

    @Test func errorResponseCarriesTheCSeqOnceKnown() {
        var parser = RTSPMessageParser()
        var buffer = ByteBuffer(string: "OPTIONS * RTSP/1.0\r\nCSeq: 41\r\nContent-Length: -1\r\n\r\n")
        #expect(throws: RTSPError.self) { try parser.next(&buffer) }
        #expect(parser.currentCSeq == 41)
    }

    /// `$` frames of length 0 and 0xFFFF are well-formed framing; judging their content is the RTP check's job.
    @Test func zeroAndMaximumLengthFrames() {
        var input = ByteBuffer()
        input.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(3), UInt16(0))
        input.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(1), UInt16(0xFFFF))
        input.writeRepeatingByte(7, count: 0xFFFF)
        input.writeString("RTSP/1.0 200 OK\r\nCSeq: 9\r\n\r\n")
        for chunkSize in [nil, 1000, 1] as [Int?] {
            let result = parseAll(input, chunkSize: chunkSize)
            #expect(result.error == nil)
            #expect(result.frames.count == 3)
            #expect(result.frames[0].interleaved == InterleavedFrame(channel: 3, payload: ByteBuffer()))
            #expect(result.frames[1].interleaved?.channel == 1)
            #expect(result.frames[1].interleaved?.payload.readableBytes == 0xFFFF)
            #expect(result.frames[2].response?.cseq == 9)
        }
    }

    @Test func toleratesBareLineFeedsAndPaddedValues() throws {
        let result = parseAll("RTSP/1.0 200 OK\nCSeq:   5   \nSession:\t12345678 ;timeout=30\n\n", chunkSize: 2)
        let response = try #require(result.frames.first?.response)
        #expect(response.cseq == 5)
        #expect(
            try RTSPSessionHeader.parse(try #require(response.headers[RTSPHeaders.session]))
                == .init(id: "12345678", timeout: 30)
        )
    }

    @Test func responseWithoutReasonPhrase() throws {
        let response = try #require(parseAll("RTSP/1.0 200\r\nCSeq: 1\r\n\r\n").frames.first?.response)
        #expect(response.status.code == 200)
    }
}

@Suite struct RTSPInterleavedZeroCopyTests {
    /// A `$` frame's payload is a view into the buffer it arrived in, not a copy.
    @Test func payloadSharesTheInputStorage() throws {
        var input = ByteBufferAllocator().buffer(capacity: 2048)
        input.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(0), UInt16(1000))
        input.writeRepeatingByte(0x5A, count: 1000)
        input.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(1), UInt16(28))
        input.writeRepeatingByte(0x5B, count: 28)
        let inputBase = input.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var parser = RTSPMessageParser()
        let first = try #require(try parser.next(&input)?.interleaved)
        let second = try #require(try parser.next(&input)?.interleaved)
        #expect(first.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == inputBase + 4)
        #expect(second.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == inputBase + 1008)
        #expect(second.channel == 1)
    }

    /// RTP and RTCP frames and a response, mixed on one connection, come out in order whatever the split.
    @Test func mixedStreamDemultiplexes() {
        var input = ByteBuffer()
        input.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(0), UInt16(3))
        input.writeBytes([1, 2, 3])
        input.writeString("RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Length: 5\r\n\r\nhello")
        input.writeMultipleIntegers(UInt8(ascii: "$"), UInt8(1), UInt16(2))
        input.writeBytes([9, 9])
        input.writeString("SET_PARAMETER rtsp://c/ RTSP/1.0\r\nCSeq: 5\r\n\r\n")
        let whole = parseAll(input)
        #expect(whole.error == nil)
        #expect(whole.frames.count == 4)
        #expect(whole.frames[1].response.map { String(buffer: $0.body) } == "hello")
        #expect(whole.frames[3].request?.method == .setParameter)
        for size in 1...9 {
            #expect(parseAll(input, chunkSize: size).frames == whole.frames)
        }
    }
}
