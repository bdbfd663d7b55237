import ONVIF

/// The demo camera's own ONVIF answers (the simulator without fixture files): one H.264 profile whose stream URI
/// is the simulator's RTSP stream, written as a camera would.
enum DemoONVIFAnswers {
    static func response(
        to operation: SOAPRequest.Operation,
        host: String,
        port: Int,
        rtspURL: String
    ) -> XMLElement? {
        let tt = ONVIFNamespace.schema
        let base = "http://\(host):\(port)"
        func text(_ namespace: String, _ name: String, _ value: String) -> XMLElement {
            SOAPMessage.text(namespace, name, value)
        }
        func element(_ namespace: String, _ name: String, _ children: [XMLElement]) -> XMLElement {
            SOAPMessage.element(namespace, name, children)
        }
        func attributed(_ element: XMLElement, _ attributes: [(String, String)]) -> XMLElement {
            var element = element
            element.attributes = attributes.map { .init(namespace: nil, name: $0.0, value: $0.1) }
            return element
        }
        let response = { (namespace: String, children: [XMLElement]) in
            element(namespace, operation.name + "Response", children)
        }
        switch (operation.namespace, operation.name) {
        case (ONVIFNamespace.device, "GetDeviceInformation"):
            return response(
                ONVIFNamespace.device,
                [
                    text(ONVIFNamespace.device, "Manufacturer", "CamGateway"),
                    text(ONVIFNamespace.device, "Model", "Demo camera"),
                    text(ONVIFNamespace.device, "FirmwareVersion", "1.0"),
                    text(ONVIFNamespace.device, "SerialNumber", "DEMO0001"),
                    text(ONVIFNamespace.device, "HardwareId", "demo"),
                ]
            )
        case (ONVIFNamespace.device, "GetServices"):
            func service(_ namespace: String, _ path: String) -> XMLElement {
                element(
                    ONVIFNamespace.device,
                    "Service",
                    [
                        text(ONVIFNamespace.device, "Namespace", namespace),
                        text(ONVIFNamespace.device, "XAddr", base + path),
                        element(ONVIFNamespace.device, "Version", [text(tt, "Major", "2"), text(tt, "Minor", "60")]),
                    ]
                )
            }
            return response(
                ONVIFNamespace.device,
                [
                    service(ONVIFNamespace.device, "/onvif/device_service"),
                    service(ONVIFNamespace.media, "/onvif/Media"),
                ]
            )
        case (ONVIFNamespace.device, "GetCapabilities"):
            return response(
                ONVIFNamespace.device,
                [
                    element(
                        ONVIFNamespace.device,
                        "Capabilities",
                        [
                            element(tt, "Device", [text(tt, "XAddr", base + "/onvif/device_service")]),
                            element(
                                tt,
                                "Media",
                                [
                                    text(tt, "XAddr", base + "/onvif/Media"),
                                    element(
                                        tt,
                                        "StreamingCapabilities",
                                        [
                                            text(tt, "RTPMulticast", "false"), text(tt, "RTP_TCP", "true"),
                                            text(tt, "RTP_RTSP_TCP", "true"),
                                        ]
                                    ),
                                ]
                            ),
                        ]
                    )
                ]
            )
        case (ONVIFNamespace.media, "GetServiceCapabilities"):
            // What Home Assistant reads before it offers snapshots.
            var capabilities = XMLElement(namespace: ONVIFNamespace.media, name: "Capabilities")
            capabilities.attributes = [
                .init(namespace: nil, name: "SnapshotUri", value: "true"),
                .init(namespace: nil, name: "Rotation", value: "false"),
            ]
            var profiles = XMLElement(namespace: ONVIFNamespace.media, name: "ProfileCapabilities")
            profiles.attributes = [.init(namespace: nil, name: "MaximumNumberOfProfiles", value: "1")]
            var streaming = XMLElement(namespace: ONVIFNamespace.media, name: "StreamingCapabilities")
            streaming.attributes = [
                .init(namespace: nil, name: "RTPMulticast", value: "false"),
                .init(namespace: nil, name: "RTP_TCP", value: "true"),
                .init(namespace: nil, name: "RTP_RTSP_TCP", value: "true"),
            ]
            capabilities.children = [.element(profiles), .element(streaming)]
            return response(ONVIFNamespace.media, [capabilities])
        case (ONVIFNamespace.media, "GetProfiles"), (ONVIFNamespace.media, "GetProfile"):
            let source = attributed(
                element(
                    tt,
                    "VideoSourceConfiguration",
                    [
                        text(tt, "Name", "VideoSource_1"), text(tt, "UseCount", "1"),
                        text(tt, "SourceToken", "VideoSource_1"),
                        attributed(
                            XMLElement(namespace: tt, name: "Bounds"),
                            [("x", "0"), ("y", "0"), ("width", "640"), ("height", "360")]
                        ),
                    ]
                ),
                [("token", "VideoSourceConfiguration_1")]
            )
            let encoder = attributed(
                element(
                    tt,
                    "VideoEncoderConfiguration",
                    [
                        text(tt, "Name", "VideoEncoder_1"), text(tt, "UseCount", "1"), text(tt, "Encoding", "H264"),
                        element(tt, "Resolution", [text(tt, "Width", "640"), text(tt, "Height", "360")]),
                        text(tt, "Quality", "5"),
                        element(
                            tt,
                            "RateControl",
                            [
                                text(tt, "FrameRateLimit", "25"), text(tt, "EncodingInterval", "1"),
                                text(tt, "BitrateLimit", "400"),
                            ]
                        ),
                        element(tt, "H264", [text(tt, "GovLength", "50"), text(tt, "H264Profile", "Baseline")]),
                        element(
                            tt,
                            "Multicast",
                            [
                                element(tt, "Address", [text(tt, "Type", "IPv4"), text(tt, "IPv4Address", "0.0.0.0")]),
                                text(tt, "Port", "0"), text(tt, "TTL", "0"), text(tt, "AutoStart", "false"),
                            ]
                        ),
                        text(tt, "SessionTimeout", "PT60S"),
                    ]
                ),
                [("token", "VideoEncoderConfiguration_1")]
            )
            // GetProfiles lists `Profiles`; GetProfile answers the one as `Profile`.
            let profile = attributed(
                element(
                    ONVIFNamespace.media,
                    operation.name == "GetProfile" ? "Profile" : "Profiles",
                    [text(tt, "Name", "mainStream"), source, encoder]
                ),
                [("token", "Profile_1"), ("fixed", "true")]
            )
            return response(ONVIFNamespace.media, [profile])
        case (ONVIFNamespace.media, "GetStreamUri"), (ONVIFNamespace.media, "GetSnapshotUri"):
            let uri = operation.name == "GetStreamUri" ? rtspURL : base + "/onvif-http/snapshot?Profile_1"
            return response(
                ONVIFNamespace.media,
                [
                    element(
                        ONVIFNamespace.media,
                        "MediaUri",
                        [
                            text(tt, "Uri", uri), text(tt, "InvalidAfterConnect", "false"),
                            text(tt, "InvalidAfterReboot", "false"), text(tt, "Timeout", "PT0S"),
                        ]
                    )
                ]
            )
        default:
            return nil
        }
    }
}
