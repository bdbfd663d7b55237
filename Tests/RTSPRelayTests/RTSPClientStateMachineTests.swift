import NIOCore
import RTSPRelay
import TestSupport
import Testing

/// The upstream client state machine driven by real camera replies, without sockets.
@Suite struct RTSPClientStateMachineTests {
    /// The configured camera address: documentation range, never the address inside the fixtures.
    static let configuredURL = RTSPURL(host: "198.51.100.7", port: 554, pathAndQuery: "/Streaming/Channels/101")

    /// A fixture reply, with its CSeq set to the request's as the real camera would have.
    static func reply(_ fixture: String, to action: RTSPClientStateMachine.Action) throws -> RTSPResponse {
        guard case .send(let request) = action else {
            Issue.record("expected a request, got \(action)")
            throw TestFailure()
        }
        var response = try #require(parseAll(try Fixtures.bytes("rtsp/\(fixture)")).frames.first?.response)
        response.headers.replaceOrAdd(name: RTSPHeaders.cseq, value: String(try #require(request.cseq)))
        return response
    }

    static func request(_ action: RTSPClientStateMachine.Action) -> RTSPRequest? {
        if case .send(let request) = action { return request }
        return nil
    }

    @Test func hikvisionSessionWithAbsoluteControlURLs() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL, rewritesMetadata: true))
        let options = machine.connected()
        #expect(Self.request(options)?.method == .options)
        let describe = machine.received(try Self.reply("retina_dahua_options.txt", to: options))
        #expect(Self.request(describe)?.method == .describe)
        #expect(Self.request(describe)?.uri == "rtsp://198.51.100.7:554/Streaming/Channels/101")

        let setup = machine.received(try Self.reply("retina_hikvision_describe.txt", to: describe))
        let setupRequest = try #require(Self.request(setup))
        #expect(setupRequest.method == .setup)
        // The camera's absolute URL names 192.168.5.106; only its path and query are kept.
        #expect(
            setupRequest.uri
                == "rtsp://198.51.100.7:554/Streaming/Channels/101/trackID=1?transportmode=unicast&profile=Profile_1"
        )
        #expect(setupRequest.headers[RTSPHeaders.transport] == "RTP/AVP/TCP;unicast;interleaved=0-1")

        let second = machine.received(try Self.reply("retina_hikvision_setup.txt", to: setup))
        let secondRequest = try #require(Self.request(second))
        #expect(
            secondRequest.uri
                == "rtsp://198.51.100.7:554/Streaming/Channels/101/trackID=3?transportmode=unicast&profile=Profile_1"
        )
        #expect(secondRequest.headers[RTSPHeaders.session] == "708345999")
        #expect(secondRequest.headers[RTSPHeaders.transport] == "RTP/AVP/TCP;unicast;interleaved=2-3")

        // The fixture confirms channels 0-1 again for the second track: a camera reusing a channel is refused.
        #expect(
            machine.received(try Self.reply("retina_hikvision_setup.txt", to: second))
                == .fail("camera reused an interleaved channel")
        )
    }

    /// Two H.264 payload types, each with its own sprop: the check knows both SPSs (a reader may decode either),
    /// not only the first payload type's.
    @Test func everyKeptPayloadTypesParameterSetsSeedTheCheck() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL))
        let options = machine.connected()
        let describe = machine.received(try Self.reply("retina_dahua_options.txt", to: options))
        var response = try Self.reply("retina_hikvision_describe.txt", to: describe)
        let sdp = """
            v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\n\
            a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAHqwsaoLA9puCgIKgAAADACAAAAMD0IAA,aO4xshsA\r\n\
            a=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1;sprop-parameter-sets=Z2QAM6wVFKAyAOP5f/AAEAAWyAAAH0AAB1MAIA==\r\n\
            a=control:trackID=1\r\n
            """
        response.body = ByteBuffer(string: sdp)
        response.headers.replaceOrAdd(name: RTSPHeaders.contentLength, value: String(sdp.utf8.count))
        _ = machine.received(response)
        let track = try #require(machine.tracks.first)
        #expect(track.formatParameters.parameterSets.count == 3)
    }

    /// A relay without the ONVIF side's document filter cannot check metadata: the Dahua metadata track is left
    /// out (two SETUPs, not three) and named among the refused formats.
    @Test func metadataWithoutADocumentFilterIsUnchecked() throws {
        let url = RTSPURL(host: "198.51.100.8", port: 554, pathAndQuery: "/cam/realmonitor?channel=1&subtype=1")
        var machine = RTSPClientStateMachine(configuration: .init(url: url))
        let options = machine.connected()
        let describe = machine.received(try Self.reply("retina_dahua_options.txt", to: options))
        var next = machine.received(try Self.reply("retina_dahua_describe_h264_aac_onvif.txt", to: describe))
        var setups = 0
        while let request = Self.request(next), request.method == .setup {
            setups += 1
            var response = try Self.reply("retina_dahua_setup.txt", to: next)
            response.headers.replaceOrAdd(
                name: RTSPHeaders.transport,
                value: "RTP/AVP/TCP;unicast;interleaved=\(2 * setups - 2)-\(2 * setups - 1)"
            )
            next = machine.received(response)
        }
        #expect(setups == 2)
        #expect(machine.refusedFormats == ["VND.ONVIF.METADATA"])
    }

    @Test func dahuaContentBaseWithSlashAfterQuery() throws {
        let url = RTSPURL(host: "198.51.100.8", port: 554, pathAndQuery: "/cam/realmonitor?channel=1&subtype=1")
        var machine = RTSPClientStateMachine(configuration: .init(url: url, rewritesMetadata: true))
        let options = machine.connected()
        let describe = machine.received(try Self.reply("retina_dahua_options.txt", to: options))
        let setup = machine.received(try Self.reply("retina_dahua_describe_h264_aac_onvif.txt", to: describe))
        // ffmpeg's rule, which Dahua relies on: the control is appended to the base as written, after its query.
        #expect(
            Self.request(setup)?.uri
                == "rtsp://198.51.100.8:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif/trackID=0"
        )
        var next = machine.received(try Self.reply("retina_dahua_setup.txt", to: setup))
        #expect(Self.request(next)?.uri.hasSuffix("proto=Onvif/trackID=1") == true)
        #expect(Self.request(next)?.headers[RTSPHeaders.session] == "634214675641")
        // Answer the other two SETUPs with consistent channels, then PLAY.
        for channels in ["2-3", "4-5"] {
            var response = try Self.reply("retina_dahua_setup.txt", to: next)
            response.headers.replaceOrAdd(
                name: RTSPHeaders.transport,
                value: "RTP/AVP/TCP;unicast;interleaved=\(channels)"
            )
            next = machine.received(response)
        }
        let play = try #require(Self.request(next))
        #expect(play.method == .play)
        #expect(play.headers[RTSPHeaders.session] == "634214675641")
        let playing = machine.received(try Self.reply("retina_dahua_play.txt", to: next))
        guard case .playing(_, let tracks, let keepAlive) = playing else {
            Issue.record("expected playing, got \(playing)")
            return
        }
        #expect(tracks.map(\.rtpChannel) == [0, 2, 4])
        #expect(tracks.map(\.codec) == [.h264, nil, nil])
        #expect(tracks.map(\.clockRate) == [90000, 48000, 90000])
        #expect(keepAlive == .seconds(24))  // 40 % of the 60 s timeout
        // Dahua lists GET_PARAMETER in Public: the keep-alive uses it, with the session.
        let keep = try #require(Self.request(machine.keepAliveDue()))
        #expect(keep.method == .getParameter)
        #expect(keep.headers[RTSPHeaders.session] == "634214675641")
        // A second keep-alive while the first is unanswered: the camera is gone.
        if case .fail = machine.keepAliveDue() {} else { Issue.record("unanswered keep-alive not detected") }
    }

    @Test func keepAliveFallsBackToOptions() throws {
        var machine = try Self.playingSimpleCamera(publicMethods: "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
        #expect(Self.request(machine.keepAliveDue())?.method == .options)
        let teardown = try #require(Self.request(machine.stop()))
        #expect(teardown.method == .teardown)
        #expect(teardown.headers[RTSPHeaders.session] == "42")
    }

    static func playingSimpleCamera(publicMethods: String) throws -> RTSPClientStateMachine {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL))
        let options = machine.connected()
        let describe = machine.received(RTSPResponse(status: .ok, headers: ["CSeq": "1", "Public": publicMethods]))
        #expect(Self.request(describe) != nil && Self.request(options) != nil)
        let sdp =
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"
        let setup = machine.received(
            RTSPResponse(
                status: .ok,
                headers: ["CSeq": "2", "Content-Type": "application/sdp"],
                body: ByteBuffer(string: sdp)
            )
        )
        #expect(Self.request(setup)?.uri == "rtsp://198.51.100.7:554/Streaming/Channels/101/track1")
        let play = machine.received(
            RTSPResponse(
                status: .ok,
                headers: ["CSeq": "3", "Session": "42;timeout=30", "Transport": "RTP/AVP/TCP;interleaved=0-1"]
            )
        )
        #expect(Self.request(play)?.method == .play)
        guard case .playing = machine.received(RTSPResponse(status: .ok, headers: ["CSeq": "4"])) else {
            throw TestFailure()
        }
        return machine
    }

    @Test func answersTheDigestChallengeOnceThenGivesUp() throws {
        var machine = RTSPClientStateMachine(
            configuration: .init(url: Self.configuredURL, username: "admin", password: "12345")
        )
        let options = machine.connected()
        let retried = machine.received(try Self.reply("retina_longse_unauthorized.txt", to: options))
        let request = try #require(Self.request(retried))
        #expect(request.method == .options)
        let authorization = try #require(request.headers[RTSPHeaders.authorization])
        #expect(authorization.hasPrefix("Digest "))
        #expect(authorization.contains("realm=\"Surveillance Server\""))
        #expect(machine.authenticationScheme == .digest(.md5))
        // Refused again with the credentials: stop, do not lock the camera's account by retrying.
        let refused = machine.received(try Self.reply("retina_longse_unauthorized.txt", to: retried))
        #expect(refused == .fail("camera refused the credentials for OPTIONS"))
    }

    /// A username with a control character (refused by `camgw check`, but the library may be given one): the
    /// camera gets no header it could be split by, and the session fails instead of trapping.
    @Test func aUsernameThatCannotBeAHeaderIsNeverSent() throws {
        var machine = RTSPClientStateMachine(
            configuration: .init(url: Self.configuredURL, username: "ad\u{1}min\r\nX-Injected: 1", password: "12345")
        )
        let options = machine.connected()
        let retried = machine.received(try Self.reply("retina_longse_unauthorized.txt", to: options))
        let request = try #require(Self.request(retried))
        #expect(request.headers[RTSPHeaders.authorization] == nil)
        #expect(!request.headers.contains("X-Injected"))
        let refused = machine.received(try Self.reply("retina_longse_unauthorized.txt", to: retried))
        #expect(refused == .fail("camera refused the credentials for OPTIONS"))
    }

    @Test func withoutCredentialsA401Fails() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL))
        let options = machine.connected()
        #expect(
            machine.received(try Self.reply("retina_longse_unauthorized.txt", to: options))
                == .fail("camera requires credentials and none are configured")
        )
    }

    @Test func redirectsAreRefused() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL))
        _ = machine.connected()
        let action = machine.received(
            RTSPResponse(status: RTSPStatus(code: 302), headers: ["CSeq": "1", "Location": "rtsp://203.0.113.66/evil"])
        )
        guard case .fail(let reason) = action else {
            Issue.record("redirect not refused: \(action)")
            return
        }
        #expect(reason.contains("redirect"))
    }

    @Test func staleAndForeignResponsesAreIgnored() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL))
        _ = machine.connected()
        #expect(machine.received(RTSPResponse(status: .ok, headers: ["CSeq": "99"])) == .none)
        #expect(Self.request(machine.received(RTSPResponse(status: .ok, headers: ["CSeq": "1"])))?.method == .describe)
    }

    @Test func badSDPAndMissingSessionFail() throws {
        var machine = RTSPClientStateMachine(configuration: .init(url: Self.configuredURL))
        _ = machine.connected()
        _ = machine.received(RTSPResponse(status: .ok, headers: ["CSeq": "1"]))
        let bad = machine.received(
            RTSPResponse(
                status: .ok,
                headers: ["CSeq": "2", "Content-Type": "application/sdp"],
                body: ByteBuffer(string: "garbage")
            )
        )
        guard case .fail(let reason) = bad else {
            Issue.record("bad SDP accepted")
            return
        }
        #expect(reason.contains("SDP"))
    }
}

struct TestFailure: Error {}
