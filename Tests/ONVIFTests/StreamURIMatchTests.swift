import Testing

@testable import ONVIF

/// A camera's GetStreamUri answer becomes the gateway URL of the stream it names: Dahua's streams share one path
/// and differ only in the query, so the sub stream's profile must not get the main stream's URL.
@Suite struct StreamURIMatchTests {
    static func rewriter(_ streams: [(String, String)]) -> ResponseRewriter {
        ResponseRewriter(
            gatewayBaseURL: "http://198.51.100.1:8001",
            streamURLs: streams,
            policy: ONVIFPolicy(),
            device: VirtualDevice(cameraName: "xvr-03"),
            cameraHosts: ["192.0.2.30"],
            gatewayHost: "198.51.100.1"
        )
    }

    @Test func dahuaSubStreamGetsTheSubURL() throws {
        let rewriter = Self.rewriter([
            ("/cam/realmonitor?channel=3&subtype=0", "rtsp://198.51.100.1:8554/xvr-03/main"),
            ("/cam/realmonitor?channel=3&subtype=1", "rtsp://198.51.100.1:8554/xvr-03/sub"),
        ])
        #expect(
            try rewriter.gatewayStreamURL(
                for: "rtsp://192.0.2.30:554/cam/realmonitor?channel=3&subtype=1&unicast=true&proto=Onvif"
            ) == "rtsp://198.51.100.1:8554/xvr-03/sub"
        )
        #expect(
            try rewriter.gatewayStreamURL(for: "rtsp://192.0.2.30/cam/realmonitor?subtype=0&channel=3")
                == "rtsp://198.51.100.1:8554/xvr-03/main"
        )
        // Another channel's stream on the same path is none of this camera's.
        #expect(throws: SOAPFault.self) {
            try rewriter.gatewayStreamURL(for: "rtsp://192.0.2.30/cam/realmonitor?channel=4&subtype=0")
        }
    }

    @Test func aCameraThatAddsItsOwnQueryStillMatchesItsOnePath() throws {
        let rewriter = Self.rewriter([("/Streaming/Channels/101", "rtsp://198.51.100.1:8554/lobby/main")])
        #expect(
            try rewriter.gatewayStreamURL(for: "rtsp://192.0.2.10/Streaming/Channels/101?transportmode=unicast")
                == "rtsp://198.51.100.1:8554/lobby/main"
        )
    }
}
