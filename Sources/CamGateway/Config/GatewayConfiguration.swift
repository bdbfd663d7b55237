import RTSPRelay

/// Everything one configuration file says: the relay's part, the gateway's own settings per camera (for the
/// ONVIF proxy and the firewall), and the admin endpoints.
struct GatewayConfiguration: Sendable {
    var relay: RelayConfiguration
    var cameras: [String: CameraSettings] = [:]
    var admin = AdminSettings()
    var onvif = ONVIFSettings()
    /// `[appliance]`: the camera-side interface the egress lock guards; nil when not configured.
    var appliance: ApplianceSettings?
    /// WS-UsernameToken needs the password itself: per user, from `onvif_password_file`.
    var onvifPasswords: [String: String] = [:]
    /// `[[recorder]]`: NVRs whose channels are in `relay.cameras` as cameras of their own, in file order.
    var recorders: [RecorderSettings] = []

    /// The device a camera is pulled from: its recorder's name, or its own.
    func device(of camera: String) -> String { self.cameras[camera]?.recorder ?? camera }

    /// One row per device: a recorder once, whatever its channel count; a camera on its own.
    var devices: [(name: String, kind: String, cameras: [String])] {
        var rows: [(name: String, kind: String, cameras: [String])] = []
        var recorderRow: [String: Int] = [:]
        for camera in self.relay.cameras {
            if let recorder = self.cameras[camera.name]?.recorder {
                if let row = recorderRow[recorder] {
                    rows[row].cameras.append(camera.name)
                } else {
                    recorderRow[recorder] = rows.count
                    rows.append((recorder, "recorder", [camera.name]))
                }
            } else {
                rows.append((camera.name, "camera", [camera.name]))
            }
        }
        return rows
    }
}

/// `[[recorder]]`: an NVR — one address, one MAC, one set of credentials, one ONVIF endpoint — whose channels the
/// gateway serves as cameras of their own.
struct RecorderSettings: Sendable, Hashable {
    enum Style: String, Sendable, Hashable, CaseIterable {
        /// `/Streaming/Channels/<channel><0k>`: 101, 102 for channel 1's main and sub stream.
        case hikvision
        /// `/cam/realmonitor?channel=<channel>&subtype=<k-1>`.
        case dahua
    }

    var name: String
    var address: String
    var channels: [Int]
    /// The gateway cameras, one per channel, in the order of `channels`.
    var cameras: [String]
}

/// `[appliance]`: the two-interface layout the firewall is rendered for.
struct ApplianceSettings: Sendable, Hashable {
    /// The interface facing the cameras (e.g. `cam0`).
    var cameraInterface: String
    /// The gateway's IPv4 address on it: the only address cameras may talk to (its relay pulls and decoys).
    var cameraSideAddress: String
    /// Where dropped attempts are logged (rate-limited), for the egress report's reader.
    var nflogGroup = 1
    /// The DNS decoy's answer: NXDOMAIN, or (learn mode) the gateway's own address, to see what a camera does next.
    var dnsLearnMode = false
    /// The DNS and NTP decoys (on the camera-side address, ports 53 and 123; 0 picks free ones, for tests).
    var decoyDNSPort = 53
    var decoyNTPPort = 123
}

/// `[onvif]`: the VMS side of the virtual devices.
struct ONVIFSettings: Sendable, Hashable {
    /// The VMS-side address; nil: the RTSP server's.
    var listen: String?
    /// Configuration writes VMSes make while enrolling: a success that changes nothing (true), or refused.
    var fakeEnrollmentWrites = true
    /// The gateway's IPv4 address on the VMS network: WS-Discovery answers there, and nowhere else. nil: off.
    var discoveryInterface: String?
    /// Path mode: every virtual device also at `/onvif/<camera>/device_service` on this one port. nil: off.
    var pathModePort: Int?
    /// ONVIF reads (identity, capabilities, profiles, stream and snapshot URIs) without credentials. Its own
    /// setting, not `[server] allow_anonymous`: anonymous video must not open ONVIF, and even this never extends to
    /// PTZ, events or writes, which always need a VMS user.
    var allowAnonymousReads = false
    /// Connections to the virtual devices from one address (IPv6: one /64), all devices together; a VMS keeps one
    /// or two per camera.
    var maxConnectionsPerSource = 256
}

/// Per-camera settings that are not the relay's.
struct CameraSettings: Sendable, Hashable, Codable {
    /// What the VMS may do to the camera beyond reading it; nothing is read-only.
    enum Grant: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        case ptz
        case events

        static func < (lhs: Grant, rhs: Grant) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The camera's MAC, lower-case and colon-separated: the firewall binds its address to it.
    var mac: String?
    /// The camera's own ONVIF (HTTP) port, when it is not 80.
    var onvifPort: Int?
    /// The VMS-side port of this camera's virtual ONVIF device; nil: no ONVIF for this camera (0: a free port).
    var gatewayONVIFPort: Int?
    var policy: Set<Grant> = []
    /// A recorder's channel: the recorder's name and the channel's number on it.
    var recorder: String?
    var channel: Int?
    /// The recorder's video source token this channel's virtual ONVIF device shows the profiles of; nil: the
    /// channel-th distinct source in the recorder's GetProfiles answer.
    var videoSource: String?

    var policyDescription: String {
        self.policy.isEmpty ? "read-only" : self.policy.sorted().map(\.rawValue).joined(separator: ",")
    }

    /// `00:11:22:AA:BB:CC`, `00-11-22-aa-bb-cc` or `001122aabbcc`, as `00:11:22:aa:bb:cc`; nil when not a MAC.
    static func normalizedMAC(_ text: String) -> String? {
        let hex = text.lowercased().filter { $0 != ":" && $0 != "-" }
        guard hex.utf8.count == 12, GatewayConfig.isLowerHex(hex) else { return nil }
        let separators = text.filter { $0 == ":" || $0 == "-" }.count
        guard separators == 0 || separators == 5 else { return nil }
        var pairs: [Substring] = []
        var rest = Substring(hex)
        while !rest.isEmpty {
            pairs.append(rest.prefix(2))
            rest = rest.dropFirst(2)
        }
        return pairs.joined(separator: ":")
    }
}

/// `[admin]`: where the daemon listens for the CLI and for Prometheus.
struct AdminSettings: Sendable, Hashable {
    /// The control socket (mode 0660): `camgw` edits ask the daemon to reload through it; `camgw status` reads it.
    var socketPath = "/run/camgw/control.sock"
    /// The group of the admins, given the socket; nil keeps the daemon's own group.
    var socketGroup: String?
    /// Metrics on localhost by default: they name cameras and readers' addresses.
    var metricsHost = "127.0.0.1"
    /// 0 picks a free port (tests); nil turns the endpoint off.
    var metricsPort: Int? = 9464
}
