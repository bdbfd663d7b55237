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
            // Payload types as numbers, and rtpmap/fmtp written anew from the very lines the payload check read
            // (`rtpmap(payloadType:)`, `fmtp(payloadType:)`: the first per type): a camera's second line for a
            // type, a leading space or a `096` can no longer show the VMS another codec than the one checked.
            var seen = PayloadTypeSet()
            let formats = track.media.formats.compactMap(UInt8.init).filter { type in
                guard track.payloadTypes.contains(type), !seen.contains(type) else { return false }
                seen.insert(type)
                return true
            }.map { String($0) }
            var attributes: [SessionDescription.Attribute] = []
            for format in formats {
                if let map = track.media.rtpmap(payloadType: format) {
                    let channels = map.channels.map { "/\($0)" } ?? ""
                    attributes.append(.init("rtpmap", "\(format) \(map.encoding)/\(map.clockRate)\(channels)"))
                }
                // Only the keys the format's depacketizers read, as parsed; parameter sets only when they passed.
                let parameters = FormatParameters(format: track.format, fmtp: track.media.fmtp(payloadType: format))
                if !parameters.parameters.isEmpty {
                    attributes.append(.init("fmtp", "\(format) \(parameters.parameters.joined(separator: ";"))"))
                }
            }
            attributes += track.media.attributes.filter { attribute in
                guard Self.keptAttributes.contains(attribute.name), attribute.name != "rtpmap",
                    attribute.name != "fmtp",
                    let value = attribute.value, value.utf8.count <= 2048
                else { return false }
                return true
            }
            attributes = attributes.filter { ($0.value?.utf8.count ?? 0) <= 4096 }
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
