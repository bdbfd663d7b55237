import ONVIF

/// A demo recorder's (NVR's) ONVIF answers: one device listing every channel's profiles — a main and a sub
/// stream per channel, each channel its own video source — as Hikvision and Dahua recorders do.
enum DemoRecorderONVIFAnswers {
    /// `Profile_<channel>0<stream>`: Hikvision's numbering, which its stream paths share.
    static func profileToken(channel: Int, stream: Int) -> String { "Profile_\(channel)0\(stream)" }

    static func response(
        to request: SOAPRequest,
        recorder: CameraSimulator.Recorder,
        host: String,
        port: Int,
        rtspBase: String
    ) -> XMLElement? {
        let tt = ONVIFNamespace.schema
        let media = ONVIFNamespace.media
        let operation = request.operation
        let base = "http://\(host):\(port)"
        func text(_ namespace: String, _ name: String, _ value: String) -> XMLElement {
            SOAPMessage.text(namespace, name, value)
        }
        func element(_ namespace: String, _ name: String, _ children: [XMLElement]) -> XMLElement {
            SOAPMessage.element(namespace, name, children)
        }
        func tokened(_ element: XMLElement, _ token: String) -> XMLElement {
            var element = element
            element.attributes = [.init(namespace: nil, name: "token", value: token)]
            return element
        }
        func sourceConfiguration(_ channel: Int, name: String = "VideoSourceConfiguration") -> XMLElement {
            tokened(
                element(
                    tt,
                    name,
                    [
                        text(tt, "Name", "VideoSourceConfig_\(channel)"), text(tt, "UseCount", "\(recorder.streams)"),
                        text(tt, "SourceToken", "VideoSource_\(channel)"),
                    ]
                ),
                "VideoSourceConfig_\(channel)"
            )
        }
        func profile(_ channel: Int, _ stream: Int, name: String) -> XMLElement {
            tokened(
                element(
                    media,
                    name,
                    [
                        text(tt, "Name", "Channel\(channel)_\(stream == 1 ? "MainStream" : "SubStream\(stream - 1)")"),
                        sourceConfiguration(channel),
                        tokened(
                            element(
                                tt,
                                "VideoEncoderConfiguration",
                                [
                                    text(tt, "Name", "VideoEncoder_\(channel)0\(stream)"),
                                    text(tt, "UseCount", "1"), text(tt, "Encoding", "H264"),
                                    element(tt, "Resolution", [text(tt, "Width", "640"), text(tt, "Height", "360")]),
                                ]
                            ),
                            "VideoEncoder_\(channel)0\(stream)"
                        ),
                    ]
                ),
                profileToken(channel: channel, stream: stream)
            )
        }
        let all = (1...max(1, recorder.channels)).flatMap { channel in
            (1...max(1, recorder.streams)).map { (channel, $0) }
        }
        let asked = request.body.elements.first { $0.name == "ProfileToken" }?.trimmedText
        // As recorders do, no token (or an empty one) means the first channel's main stream: what a channel's
        // virtual device must never let through.
        let named =
            all.first { profileToken(channel: $0.0, stream: $0.1) == asked } ?? ((asked ?? "").isEmpty ? (1, 1) : nil)
        switch (operation.namespace, operation.name) {
        case (ONVIFNamespace.device, "GetDeviceInformation"):
            return element(
                ONVIFNamespace.device,
                "GetDeviceInformationResponse",
                [
                    text(ONVIFNamespace.device, "Manufacturer", "CamGateway"),
                    text(ONVIFNamespace.device, "Model", "Demo NVR \(recorder.channels)"),
                    text(ONVIFNamespace.device, "FirmwareVersion", "1.0"),
                    text(ONVIFNamespace.device, "SerialNumber", "DEMONVR0001"),
                    text(ONVIFNamespace.device, "HardwareId", "demo-nvr"),
                ]
            )
        case (media, "GetVideoSources"):
            return element(
                media,
                "GetVideoSourcesResponse",
                (1...max(1, recorder.channels)).map { channel in
                    tokened(
                        element(
                            media,
                            "VideoSources",
                            [
                                text(tt, "Framerate", "25"),
                                element(tt, "Resolution", [text(tt, "Width", "640"), text(tt, "Height", "360")]),
                            ]
                        ),
                        "VideoSource_\(channel)"
                    )
                }
            )
        case (media, "GetVideoSourceConfigurations"):
            return element(
                media,
                "GetVideoSourceConfigurationsResponse",
                (1...max(1, recorder.channels)).map { sourceConfiguration($0, name: "Configurations") }
            )
        case (media, "GetProfiles"):
            return element(media, "GetProfilesResponse", all.map { profile($0.0, $0.1, name: "Profiles") })
        case (media, "GetProfile"):
            guard let named else { return nil }
            return element(media, "GetProfileResponse", [profile(named.0, named.1, name: "Profile")])
        case (media, "GetStreamUri"), (media, "GetSnapshotUri"):
            guard let (channel, stream) = named else { return nil }
            let uri =
                operation.name == "GetStreamUri"
                ? rtspBase + recorder.path(channel: channel, stream: stream)
                : base + "/onvif-http/snapshot?\(profileToken(channel: channel, stream: stream))"
            return element(
                media,
                operation.name + "Response",
                [
                    element(
                        media,
                        "MediaUri",
                        [
                            text(tt, "Uri", uri), text(tt, "InvalidAfterConnect", "false"),
                            text(tt, "InvalidAfterReboot", "false"), text(tt, "Timeout", "PT0S"),
                        ]
                    )
                ]
            )
        default:
            // Device-wide answers (services, capabilities) are the demo camera's.
            return DemoONVIFAnswers.response(to: operation, host: host, port: port, rtspURL: rtspBase)
        }
    }
}
