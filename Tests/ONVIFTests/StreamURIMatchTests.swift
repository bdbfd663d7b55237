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

    /// A camera that says it cannot stream over TCP: the gateway can, and says so in both forms.
    @Test func streamingOverTCPIsWhatTheGatewayOffers() throws {
        let answer = try HardenedXMLParser.parse(
            Array(
                """
                <tds:GetCapabilitiesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" \
                xmlns:tt="http://www.onvif.org/ver10/schema"><tds:Capabilities><tt:Media>\
                <tt:XAddr>http://192.0.2.30/onvif/Media</tt:XAddr><tt:StreamingCapabilities>\
                <tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>false</tt:RTP_TCP>\
                <tt:RTP_RTSP_TCP>false</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>\
                </tds:Capabilities></tds:GetCapabilitiesResponse>
                """.utf8
            ),
            limits: .cameraResponse
        )
        let rewritten = try Self.rewriter([]).rewrite(
            answer,
            operation: .init(ONVIFNamespace.device, "GetCapabilities"),
            profileToken: nil
        ).body
        let text = XMLWriter.document(rewritten)
        #expect(text.contains("RTP_TCP>true<") && text.contains("RTP_RTSP_TCP>true<"), "\(text)")
        let service = try HardenedXMLParser.parse(
            Array(
                """
                <trt:GetServiceCapabilitiesResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl">\
                <trt:Capabilities><trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="false" \
                RTP_RTSP_TCP="false"/></trt:Capabilities></trt:GetServiceCapabilitiesResponse>
                """.utf8
            ),
            limits: .cameraResponse
        )
        let capabilities = try Self.rewriter([]).rewrite(
            service,
            operation: .init(ONVIFNamespace.media, "GetServiceCapabilities"),
            profileToken: nil
        ).body
        let streaming = try #require(capabilities.elements.first?.elements.first)
        #expect(streaming.attribute("RTP_TCP") == "true" && streaming.attribute("RTP_RTSP_TCP") == "true")
    }
}
