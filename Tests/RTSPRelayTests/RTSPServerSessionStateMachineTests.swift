import NIOCore
import RTSPRelay
import Testing

@Suite struct RTSPServerSessionStateMachineTests {
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let url = "rtsp://127.0.0.1:8554/lobby/main"

    static func request(
        _ method: RTSPMethod,
        _ uri: String = url,
        cseq: Int,
        _ headers: [(String, String)] = []
    ) -> RTSPRequest {
        var request = RTSPRequest(method: method, uri: uri)
        request.headers.add(name: "CSeq", value: String(cseq))
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return request
    }

    static func response(_ action: RTSPServerSessionStateMachine.Action) -> RTSPResponse? {
        if case .respond(let response) = action { return response }
        return nil
    }

    static func machine(sessionID: String = "S1") -> RTSPServerSessionStateMachine {
        RTSPServerSessionStateMachine(now: t0, makeSessionID: { sessionID })
    }

    /// SETUP then PLAY on one connection, returning the machine.
    static func playing(_ id: String = "S1") -> RTSPServerSessionStateMachine {
        var machine = Self.machine(sessionID: id)
        let setup = machine.received(
            Self.request(.setup, url + "/trackID=0", cseq: 1, [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")]),
            now: t0
        )
        #expect(
            setup
                == .setup(
                    StreamPath(camera: "lobby", stream: "main"),
                    track: 0,
                    transport: .tcp,
                    backchannel: false,
                    cseq: 1
                )
        )
        _ = machine.setupCompleted(.success(2), cseq: 1)
        let play = machine.received(Self.request(.play, cseq: 2, [("Session", id)]), now: t0)
        #expect(
            play
                == .play(
                    StreamPath(camera: "lobby", stream: "main"),
                    tracks: [.init(track: 0, rtpChannel: 0, rtcpChannel: 1)],
                    cseq: 2
                )
        )
        _ = machine.playCompleted(.success(nil), cseq: 2)
        #expect(machine.isPlaying)
        return machine
    }

    @Test func optionsListsWhatWeServe() {
        var machine = Self.machine()
        let response = Self.response(machine.received(Self.request(.options, "*", cseq: 7), now: Self.t0))
        #expect(response?.status == .ok)
        #expect(response?.cseq == 7)
        #expect(
            response?.headers["Public"]
                == "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
        )
    }

    @Test func describeOfUnknownShapeIs404() {
        var machine = Self.machine()
        #expect(
            Self.response(machine.received(Self.request(.describe, "rtsp://h/onlyone", cseq: 1), now: Self.t0))?.status
                == .notFound
        )
        #expect(
            Self.response(machine.received(Self.request(.describe, "rtsp://h/a/b/c/d", cseq: 2), now: Self.t0))?.status
                == .notFound
        )
        #expect(
            Self.response(machine.received(Self.request(.describe, "rtsp://h/a%00/b", cseq: 3), now: Self.t0))?.status
                == .notFound
        )
        #expect(
            machine.received(Self.request(.describe, cseq: 4), now: Self.t0)
                == .describe(StreamPath(camera: "lobby", stream: "main"), backchannel: false, cseq: 4)
        )
    }

    @Test func describeCompletedWritesOurSDP() {
        var machine = Self.machine()
        let response = Self.response(machine.describeCompleted(.success(("v=0\r\n", "rtsp://gw/lobby/main")), cseq: 3))
        #expect(response?.headers["Content-Base"] == "rtsp://gw/lobby/main/")
        #expect(response?.headers["Content-Type"] == "application/sdp")
        #expect(
            Self.response(machine.describeCompleted(.failure(.serviceUnavailable), cseq: 3))?.status
                == .serviceUnavailable
        )
    }

    @Test func setupAssignsChannelsAndSession() {
        var machine = Self.machine()
        _ = machine.received(
            Self.request(
                .setup,
                Self.url + "/trackID=1",
                cseq: 1,
                [("Transport", "RTP/AVP/TCP;unicast;interleaved=4-5")]
            ),
            now: Self.t0
        )
        let first = Self.response(machine.setupCompleted(.success(2), cseq: 1))
        #expect(first?.headers["Session"] == "S1;timeout=60")
        #expect(first?.headers["Transport"] == "RTP/AVP/TCP;unicast;interleaved=4-5;mode=\"PLAY\"")
        // A second track asking for channels already taken gets free ones.
        _ = machine.received(
            Self.request(
                .setup,
                Self.url + "/trackID=0",
                cseq: 2,
                [("Transport", "RTP/AVP/TCP;interleaved=4-5"), ("Session", "S1")]
            ),
            now: Self.t0
        )
        let second = Self.response(machine.setupCompleted(.success(2), cseq: 2))
        #expect(second?.headers["Transport"] == "RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY\"")
        // A track the stream does not have.
        _ = machine.received(
            Self.request(.setup, Self.url + "/trackID=5", cseq: 3, [("Transport", "RTP/AVP/TCP"), ("Session", "S1")]),
            now: Self.t0
        )
        #expect(Self.response(machine.setupCompleted(.success(2), cseq: 3))?.status == .notFound)
    }

    /// A multicast reader gets the stream's group, whatever destination it proposed, and cannot mix transports.
    @Test func multicastSetupAnswersTheGatewaysGroup() {
        var machine = Self.machine()
        let action = machine.received(
            Self.request(
                .setup,
                Self.url + "/trackID=0",
                cseq: 1,
                [("Transport", "RTP/AVP;multicast;destination=203.0.113.9;port=7000-7001")]
            ),
            now: Self.t0
        )
        #expect(
            action
                == .setup(
                    StreamPath(camera: "lobby", stream: "main"),
                    track: 0,
                    transport: .multicast,
                    backchannel: false,
                    cseq: 1
                )
        )
        let group = RTSPServerSessionStateMachine.MulticastGroup(
            address: "239.255.0.7",
            ports: .init(first: 5004, last: 5005),
            ttl: 2
        )
        let response = Self.response(machine.setupCompleted(.success(2), cseq: 1, multicast: group))
        #expect(response?.headers["Transport"] == "RTP/AVP;multicast;destination=239.255.0.7;port=5004-5005;ttl=2")
        let session = response?.headers["Session"].flatMap { try? RTSPSessionHeader.parse($0).id } ?? ""
        let mixed = Self.response(
            machine.received(
                Self.request(
                    .setup,
                    Self.url + "/trackID=1",
                    cseq: 2,
                    [("Transport", "RTP/AVP/TCP;unicast;interleaved=2-3"), ("Session", session)]
                ),
                now: Self.t0
            )
        )
        #expect(mixed?.status == .unsupportedTransport)
        // A stream without a group: 461, not a silent unicast.
        var other = Self.machine()
        _ = other.received(
            Self.request(.setup, Self.url, cseq: 1, [("Transport", "RTP/AVP;multicast")]),
            now: Self.t0
        )
        #expect(Self.response(other.setupCompleted(.success(1), cseq: 1))?.status == .unsupportedTransport)
    }

    @Test(arguments: [
        "RTP/AVP;unicast", "RTP/AVP/TCP;multicast", "RTP/AVP/TCP;unicast;destination=203.0.113.5",
        "RTP/AVP;unicast;client_port=5000-5001;destination=203.0.113.5", "RTP/SAVP;unicast;client_port=5000-5001",
        "bogus",
    ])
    func unsupportedTransports(_ transport: String) {
        var machine = Self.machine()
        let response = Self.response(
            machine.received(Self.request(.setup, Self.url, cseq: 1, [("Transport", transport)]), now: Self.t0)
        )
        #expect(response?.status == .unsupportedTransport)
    }

    /// A session id is bound to the connection that created it: another connection replaying it gets 454.
    @Test func udpSetupAnswersWithServerPorts() {
        var machine = Self.machine()
        let action = machine.received(
            Self.request(
                .setup,
                Self.url + "/trackID=0",
                cseq: 1,
                [("Transport", "RTP/AVP;unicast;client_port=5000-5001")]
            ),
            now: Self.t0
        )
        #expect(
            action
                == .setup(
                    StreamPath(camera: "lobby", stream: "main"),
                    track: 0,
                    transport: .udp(clientPorts: .init(first: 5000, last: 5001)),
                    backchannel: false,
                    cseq: 1
                )
        )
        let response = Self.response(
            machine.setupCompleted(.success(2), cseq: 1, serverPorts: .init(first: 30000, last: 30001))
        )
        #expect(response?.headers["Transport"] == "RTP/AVP;unicast;client_port=5000-5001;server_port=30000-30001")
        // TCP and UDP do not mix in one session.
        let mixed = Self.response(
            machine.received(
                Self.request(
                    .setup,
                    Self.url + "/trackID=1",
                    cseq: 2,
                    [("Transport", "RTP/AVP/TCP;interleaved=2-3"), ("Session", "S1")]
                ),
                now: Self.t0
            )
        )
        #expect(mixed?.status == .unsupportedTransport)
    }

    @Test func sessionReplayOnAnotherConnection() {
        _ = Self.playing("S1")
        var other = Self.machine(sessionID: "S2")
        for method in [RTSPMethod.play, .teardown, .pause, .getParameter] {
            #expect(
                Self.response(other.received(Self.request(method, cseq: 1, [("Session", "S1")]), now: Self.t0))?.status
                    == .sessionNotFound
            )
        }
    }

    @Test func keepAlivesAreAlwaysAnswered() {
        var machine = Self.playing()
        let bare = Self.response(machine.received(Self.request(.getParameter, cseq: 3), now: Self.t0))
        #expect(bare?.status == .ok)
        let withSession = Self.response(
            machine.received(Self.request(.setParameter, cseq: 4, [("Session", "S1")]), now: Self.t0)
        )
        #expect(withSession?.status == .ok)
        #expect(withSession?.headers["Session"] == "S1")
    }

    @Test func sessionTimesOutWithoutActivity() {
        var machine = Self.playing()
        #expect(machine.timerFired(now: Self.t0 + .seconds(59)) == .none)
        machine.receivedData(now: Self.t0 + .seconds(50))  // an RTCP receiver report keeps it alive
        #expect(machine.timerFired(now: Self.t0 + .seconds(100)) == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(111)) == .close)
        // Once: the handler closes the connection; a timer that fires again gets nothing more to do.
        #expect(machine.timerFired(now: Self.t0 + .seconds(112)) == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(500)) == .none)
    }

    /// Who: anyone on the VMS network, without credentials. A connection without a session is closed 10 s after
    /// it opened however many OPTIONS it sends; with a session it lives by the session timeout; after TEARDOWN the
    /// 10 s start again.
    @Test func aConnectionWithoutASessionIsClosedAfterTenSecondsWhateverItSends() {
        var idle = Self.machine()
        for second in 1...9 {
            _ = idle.received(Self.request(.options, "*", cseq: second), now: Self.t0 + .seconds(Int64(second)))
        }
        #expect(idle.timerFired(now: Self.t0 + .seconds(10)) == .none)
        #expect(idle.timerFired(now: Self.t0 + .seconds(11)) == .close)

        var player = Self.playing()
        #expect(player.timerFired(now: Self.t0 + .seconds(30)) == .none)
        let teardown = player.received(
            Self.request(.teardown, cseq: 9, [("Session", "S1")]),
            now: Self.t0 + .seconds(40)
        )
        guard case .teardown = teardown else {
            Issue.record("TEARDOWN: \(teardown)")
            return
        }
        #expect(player.timerFired(now: Self.t0 + .seconds(50)) == .none)
        #expect(player.timerFired(now: Self.t0 + .seconds(51)) == .close)
    }

    /// A DESCRIBE that waits 14 s on a slow camera is not cut by the sessionless close, and the reader then has
    /// its 10 s to SETUP.
    @Test func aDescribeWaitingOnTheCameraKeepsTheConnection() {
        var machine = Self.machine()
        _ = machine.received(Self.request(.describe, cseq: 1), now: Self.t0 + .seconds(1))
        #expect(machine.timerFired(now: Self.t0 + .seconds(14)) == .none)
        _ = machine.describeCompleted(.success(("v=0\r\n", Self.url)), cseq: 1)
        #expect(machine.timerFired(now: Self.t0 + .seconds(15)) == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(25)) == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(26)) == .close)
    }

    /// Who: anyone on the VMS network where anonymous access is allowed. A DESCRIBE every 9 s — of a stream that
    /// does not exist, or of one that does — buys no more time than the one fresh window a VMS needs.
    @Test func repeatedDescribesDoNotKeepAConnectionWithoutASession() {
        var missing = Self.machine()
        for second: Int64 in [1, 9] {
            _ = missing.received(Self.request(.describe, cseq: Int(second)), now: Self.t0 + .seconds(second))
            _ = missing.describeCompleted(.failure(.notFound), cseq: UInt32(second))
            #expect(missing.timerFired(now: Self.t0 + .seconds(second)) == .none)
        }
        #expect(missing.timerFired(now: Self.t0 + .seconds(11)) == .close)

        var existing = Self.machine()
        var closedAt: Int?
        for second in 1...40 {
            if second % 9 == 0 {
                _ = existing.received(Self.request(.describe, cseq: second), now: Self.t0 + .seconds(Int64(second)))
                _ = existing.describeCompleted(.success(("v=0\r\n", Self.url)), cseq: UInt32(second))
            }
            if existing.timerFired(now: Self.t0 + .seconds(Int64(second))) == .close {
                closedAt = second
                break
            }
        }
        #expect(closedAt == 20, "one fresh window after the first DESCRIBE answered at 9 s: \(closedAt ?? -1)")
    }

    /// A SETUP waiting on its stream is not cut off by the sessionless close either.
    @Test func aSetupWaitingOnTheStreamKeepsTheConnection() {
        var machine = Self.machine()
        let setup = machine.received(
            Self.request(
                .setup,
                Self.url + "/trackID=0",
                cseq: 1,
                [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")]
            ),
            now: Self.t0 + .seconds(5)
        )
        guard case .setup = setup else {
            Issue.record("SETUP: \(setup)")
            return
        }
        #expect(machine.timerFired(now: Self.t0 + .seconds(14)) == .none)
    }

    /// Before PLAY, `$` frames are not activity: a connection that sends only those times out like an idle one.
    @Test func interleavedFramesBeforePlayDoNotKeepAConnectionOpen() {
        var machine = Self.machine()
        for second in stride(from: 10, through: 60, by: 10) {
            machine.receivedData(now: Self.t0 + .seconds(Int64(second)))
        }
        #expect(machine.timerFired(now: Self.t0 + .seconds(61)) == .close)
    }

    @Test func stateRules() {
        var machine = Self.machine()
        #expect(
            Self.response(machine.received(Self.request(.play, cseq: 1), now: Self.t0))?.status
                == .methodNotValidInThisState
        )
        #expect(
            Self.response(machine.received(Self.request(.pause, cseq: 2), now: Self.t0))?.status
                == .methodNotValidInThisState
        )
        let announce = Self.response(machine.received(Self.request(.announce, cseq: 3), now: Self.t0))
        #expect(announce?.status == .methodNotAllowed)
        #expect(announce?.headers["Allow"]?.contains("DESCRIBE") == true)
        let unknown = Self.response(machine.received(Self.request(RTSPMethod("FROB"), cseq: 4), now: Self.t0))
        #expect(unknown?.status == .notImplemented)
        #expect(unknown?.headers["Public"] != nil)

        var playing = Self.playing()
        #expect(
            Self.response(
                playing.received(
                    Self.request(
                        .setup,
                        Self.url + "/trackID=1",
                        cseq: 5,
                        [("Transport", "RTP/AVP/TCP"), ("Session", "S1")]
                    ),
                    now: Self.t0
                )
            )?.status == .methodNotValidInThisState
        )
        #expect(
            Self.response(
                playing.received(
                    Self.request(
                        .setup,
                        "rtsp://h/other/main",
                        cseq: 6,
                        [("Transport", "RTP/AVP/TCP"), ("Session", "S1")]
                    ),
                    now: Self.t0
                )
            )?.status.code == 459
        )
        guard case .pause = playing.received(Self.request(.pause, cseq: 7, [("Session", "S1")]), now: Self.t0) else {
            Issue.record("PAUSE refused")
            return
        }
        guard
            case .teardown(_, let response) = playing.received(
                Self.request(.teardown, cseq: 8, [("Session", "S1")]),
                now: Self.t0
            )
        else {
            Issue.record("TEARDOWN refused")
            return
        }
        #expect(response.status == .ok)
        #expect(playing.sessionID == nil)
    }

    @Test func playResponseCarriesRTPInfo() {
        var machine = Self.machine()
        _ = machine.received(
            Self.request(.setup, Self.url + "/trackID=0", cseq: 1, [("Transport", "RTP/AVP/TCP")]),
            now: Self.t0
        )
        _ = machine.setupCompleted(.success(1), cseq: 1)
        _ = machine.received(Self.request(.play, cseq: 2, [("Session", "S1")]), now: Self.t0)
        let info = RTPInfo(entries: [.init(url: Self.url + "/trackID=0", seq: 10, rtptime: 20)])
        let response = Self.response(machine.playCompleted(.success(info), cseq: 2))
        #expect(response?.headers["RTP-Info"] == info.headerValue)
        #expect(response?.headers["Range"] == "npt=now-")
    }
}
