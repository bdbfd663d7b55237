/// The SDP the gateway serves for a stream, written from the camera's parsed description (protocol break): only
/// what a player needs survives (media type, payload types, `rtpmap`, `fmtp`, `framerate`, bandwidth), controls
/// are the gateway's own (`trackID=N`), and the origin is the gateway's. Vendor attributes, camera addresses,
/// `Media_header` blobs and everything else the camera wrote are dropped.
public enum GatewaySDP {
    static let keptAttributes: Set<String> = ["rtpmap", "fmtp", "framerate", "x-dimensions"]

    public static func make(
        from camera: SessionDescription,
        tracks: [RTSPClientStateMachine.Track],
        sessionName: String,
        sessionID: String,
        backchannel: Bool = false
    ) -> SessionDescription {
        var media: [SessionDescription.Media] = []
        // The backchannel is described only to a reader that required it (ONVIF Streaming §5.3), `sendonly` as
        // the camera wrote it: the reader sends, the gateway receives.
        for track in tracks where backchannel || !track.isBackchannel {
            let formats = track.media.formats.filter { UInt8($0).map(track.payloadTypes.contains) ?? false }
            let attributes = track.media.attributes.filter { attribute in
                guard Self.keptAttributes.contains(attribute.name), let value = attribute.value,
                    value.utf8.count <= 2048
                else {
                    return false
                }
                // rtpmap and fmtp must be about a payload type of this media.
                if attribute.name == "rtpmap" || attribute.name == "fmtp" {
                    return formats.contains(String(value.prefix { $0 != " " }))
                }
                return true
            }
            media.append(
                SessionDescription.Media(
                    type: track.media.type,
                    port: 0,
                    proto: "RTP/AVP",
                    formats: formats,
                    connection: .init(address: "0.0.0.0"),
                    bandwidths: track.media.bandwidths.filter { $0.type == "AS" }.prefix(1).map { $0 },
                    attributes: attributes + [
                        .init("control", "trackID=\(track.index)"),
                        .init(track.isBackchannel ? "sendonly" : "recvonly"),
                    ]
                )
            )
        }
        return SessionDescription(
            origin: .init(sessionID: sessionID, sessionVersion: "1", address: "0.0.0.0"),
            sessionName: sessionName,
            timing: (0, 0),
            attributes: [.init("control", "*"), .init("range", "npt=now-")],
            media: media
        )
    }
}
