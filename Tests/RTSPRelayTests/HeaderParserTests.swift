import RTSPRelay
import Testing

@Suite struct TransportHeaderTests {
    @Test func interleavedTCP() throws {
        let t = try RTSPTransport.parseList("RTP/AVP/TCP;unicast;interleaved=2-3")[0]
        #expect(t.lowerTransport == .tcp)
        #expect(t.interleaved?.rtp == 2 && t.interleaved?.rtcp == 3)
        #expect(t.headerValue == "RTP/AVP/TCP;unicast;interleaved=2-3")
    }

    @Test func singleInterleavedChannelImpliesTheNext() throws {
        let t = try RTSPTransport.parseList("RTP/AVP/TCP;interleaved=4")[0]
        #expect(t.interleaved?.rtp == 4 && t.interleaved?.rtcp == 5)
        #expect(throws: RTSPError.self) { try RTSPTransport.parseList("RTP/AVP/TCP;interleaved=255") }
    }

    @Test func udpPorts() throws {
        let t = try RTSPTransport.parseList("RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971")[0]
        #expect(t.lowerTransport == .udp)
        #expect(t.clientPort == .init(first: 5000, last: 5001))
        #expect(t.serverPort == .init(first: 6970, last: 6971))
        #expect(
            try RTSPTransport.parseList("RTP/AVP/UDP;unicast;client_port=5000")[0].clientPort
                == .init(first: 5000, last: 5000)
        )
    }

    @Test(arguments: [
        "RTP/AVP;unicast;client_port=0-1",
        "RTP/AVP;unicast;client_port=5000-0",
        "RTP/AVP;unicast;client_port=70000-70001",
        "RTP/AVP;unicast;client_port=5001-5000",
        "RTP/AVP;unicast;client_port=abc",
        "RTP/AVP;unicast;client_port=",
        "RTP/AVP;unicast;client_port",
        "RTP/AVP;unicast;server_port=-1",
        "RTP/AVP;unicast;client_port=123456",
        "RTP/AVP/TCP;interleaved=0-300",
        "RTP/AVP/TCP;interleaved=x",
        "RTP/AVP;ssrc=123456789",
        "RTP/AVP;ssrc=xyz",
        "RTP/AVP;ssrc=",
        "RAW/RAW/UDP;unicast",
        "RTP/AVP/SCTP;unicast",
        "",
    ])
    func badValuesAreRefused(_ value: String) {
        #expect(throws: RTSPError.self) { try RTSPTransport.parseList(value) }
    }

    @Test func ssrcForms() throws {
        #expect(try RTSPTransport.parseList("RTP/AVP/TCP;ssrc=4cacc3d1")[0].ssrc == 0x4CAC_C3D1)
        #expect(try RTSPTransport.parseList("RTP/AVP/TCP;ssrc=30A98EE7")[0].ssrc == 0x30A9_8EE7)
        #expect(try RTSPTransport.parseList("RTP/AVP/TCP;ssrc= d6d6627")[0].ssrc == 0x0D6D_6627)
        #expect(try RTSPTransport.parseList("RTP/AVP/TCP;ssrc=00000001")[0].ssrc == 1)
        #expect(try RTSPTransport.parseList("RTP/AVP/TCP;ssrc=1")[0].headerValue.contains("ssrc=00000001"))
    }

    @Test func alternativesAndQuotedMode() throws {
        let list = try RTSPTransport.parseList(
            "RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"play\", RTP/AVP;unicast;client_port=4588-4589"
        )
        #expect(list.count == 2)
        #expect(list[0].mode == "PLAY")
        #expect(list[1].clientPort?.first == 4588)
    }

    /// `destination` is kept so a server can refuse it; it must never be silently obeyed or dropped.
    @Test func destinationIsVisible() throws {
        let t = try RTSPTransport.parseList("RTP/AVP;unicast;destination=203.0.113.9;client_port=5000-5001")[0]
        #expect(t.destination == "203.0.113.9")
    }
}

@Suite struct SessionHeaderTests {
    @Test func paddedWithTimeout() throws {
        #expect(try RTSPSessionHeader.parse("       708345999;timeout=60") == .init(id: "708345999", timeout: 60))
        #expect(try RTSPSessionHeader.parse("634214675641 ; timeout = 60") == .init(id: "634214675641", timeout: 60))
        #expect(try RTSPSessionHeader.parse("abc$-_.+XYZ") == .init(id: "abc$-_.+XYZ"))
        #expect(RTSPSessionHeader(id: "42", timeout: 30).headerValue == "42;timeout=30")
    }

    @Test(arguments: [
        "", ";timeout=60", "id;timeout=abc", "id;timeout=", "bad id", "id\"quote", String(repeating: "a", count: 129),
    ])
    func refused(_ value: String) {
        #expect(throws: RTSPError.self) { try RTSPSessionHeader.parse(value) }
    }
}

@Suite struct RTPInfoHeaderTests {
    @Test func roundTrips() throws {
        let info = RTPInfo(entries: [
            .init(url: "rtsp://gw/cam/main/trackID=0", seq: 1, rtptime: 2),
            .init(url: "rtsp://gw/cam/main/trackID=1", seq: 65535, rtptime: 4_294_967_295),
        ])
        #expect(try RTPInfo.parse(info.headerValue) == info)
    }

    @Test func urlWithSemicolonAndComma() throws {
        let info = try RTPInfo.parse("url=rtsp://c/a;b,c/track1;seq=5;rtptime=6,url=rtsp://c/track2;seq=7")
        #expect(info.entries.map(\.url) == ["rtsp://c/a;b,c/track1", "rtsp://c/track2"])
        #expect(info.entries.map(\.seq) == [5, 7])
    }

    @Test(arguments: ["", "seq=1", "url=x;seq=65536", "url=x;seq=-1", "url=x;rtptime=4294967296", "url=x;rtptime=abc"])
    func refused(_ value: String) {
        #expect(throws: RTSPError.self) { try RTPInfo.parse(value) }
    }
}

@Suite struct RangeHeaderTests {
    @Test func nptForms() throws {
        #expect(try RTSPRange.parse("npt=0.000000-") == .npt(start: .seconds(milliseconds: 0), end: nil))
        #expect(try RTSPRange.parse("npt=now-") == .npt(start: .now, end: nil))
        #expect(
            try RTSPRange.parse("npt=1.5-20")
                == .npt(start: .seconds(milliseconds: 1500), end: .seconds(milliseconds: 20000))
        )
        #expect(try RTSPRange.parse("npt=01:02:03.25-") == .npt(start: .seconds(milliseconds: 3_723_250), end: nil))
        #expect(try RTSPRange.parse("npt=-5") == .npt(start: nil, end: .seconds(milliseconds: 5000)))
        #expect(RTSPRange.npt(start: .seconds(milliseconds: 1500), end: nil).headerValue == "npt=1.500-")
        #expect(try RTSPRange.parse("clock=20210505T215117Z-") == .clock(start: "20210505T215117Z", end: nil))
    }

    @Test(arguments: ["", "npt=", "npt=-", "npt=abc-", "smpte=10:07:00-10:07:33:05.01", "clock=yesterday-", "npt=1:2-"])
    func refused(_ value: String) {
        #expect(throws: RTSPError.self) { try RTSPRange.parse(value) }
    }
}

@Suite struct MethodListAndCSeqTests {
    @Test func publicList() {
        #expect(
            RTSPMethodList.parse("OPTIONS, DESCRIBE,setup ,PLAY,  ,bad method, PLAY") == [
                .options, .describe, .setup, .play,
            ]
        )
        #expect(RTSPMethodList.headerValue([.options, .getParameter]) == "OPTIONS, GET_PARAMETER")
    }

    @Test func cseqOnMessages() {
        #expect(RTSPResponse(status: .ok, headers: ["CSeq": " 7 "]).cseq == 7)
        #expect(RTSPResponse(status: .ok, headers: ["CSeq": "999999999"]).cseq == 999_999_999)
        #expect(RTSPResponse(status: .ok, headers: ["CSeq": "1234567890"]).cseq == nil)
    }
}

@Suite struct RTSPURLTests {
    @Test func parts() throws {
        let url = try #require(
            RTSPURL("rtsp://admin:p%40ss@192.0.2.10:554/Streaming/Channels/101?transportmode=unicast")
        )
        #expect(url.user == "admin")
        #expect(url.password == "p@ss")
        #expect(url.host == "192.0.2.10")
        #expect(url.port == 554)
        #expect(url.path == "/Streaming/Channels/101")
        #expect(url.pathAndQuery == "/Streaming/Channels/101?transportmode=unicast")
        #expect(url.description == "rtsp://192.0.2.10:554/Streaming/Channels/101?transportmode=unicast")
        let v6 = try #require(RTSPURL("rtsps://[2001:db8::1]:8322/cam"))
        #expect(v6.host == "2001:db8::1")
        #expect(v6.description == "rtsps://[2001:db8::1]:8322/cam")
    }

    @Test(arguments: [
        "http://x/", "rtsp://", "rtsp://:554/", "rtsp://h:0/", "rtsp://h:99999/", "rtsp://h/a b", "rtsp://[::1/x",
        // Found by FuzzHeaders: U+070F joined the `:` after it into one Character, so the host swallowed the
        // port, and the URL written back parsed as another.
        "rtsp://]d\u{070F}:554/x", "rtsp://h\u{070F}:554/", "rtsp://caméra/", "rtsp://a]b/", "rtsp://[a]b]/",
    ])
    func refused(_ text: String) {
        #expect(RTSPURL(text) == nil)
    }
}
