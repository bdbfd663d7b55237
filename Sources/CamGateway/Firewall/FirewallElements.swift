import NIOCore
import RTSPRelay

/// The per-camera part of the egress lock: the elements of its four sets, the only part of the ruleset an
/// allowlist edit changes. The ruleset is rendered from them, and after an edit only they are updated in the
/// kernel (`delete element` / `add element` in one transaction), so the counts of what cameras tried survive.
///
/// Elements are kept in nft's own notation (`192.0.2.10 . tcp . 554`), which is also what a listing of the loaded
/// sets gives back, so the loaded and the wanted elements compare as text.
struct FirewallElements: Equatable, Sendable {
    /// One of the sets, by where it lives.
    enum SetName: String, CaseIterable, Sendable {
        case cameras
        case cameraServices = "camera_services"
        case udpCameras = "udp_cameras"
        case cameraMACs = "camera_macs"

        var table: String { self == .cameraMACs ? "netdev camgw_l2" : "inet camgw" }

        var type: String {
            switch self {
            case .cameras, .udpCameras: "ipv4_addr"
            case .cameraServices: "ipv4_addr . inet_proto . inet_service"
            case .cameraMACs: "ipv4_addr . ether_addr"
            }
        }
    }

    var elements: [SetName: [String]] = [:]

    subscript(set: SetName) -> [String] { self.elements[set] ?? [] }

    /// Why a camera cannot be in the egress lock: nil when it can. The configuration refuses such a camera when an
    /// `[appliance]` is set, so a ruleset is always renderable from a valid file.
    static func problem(camera: RelayConfiguration.Camera, settings: CameraSettings?) -> String? {
        guard case .v4 = try? SocketAddress(ipAddress: camera.host, port: 0) else {
            return "camera '\(camera.name)': the egress lock needs an IPv4 address, not '\(camera.host)'"
        }
        guard settings?.mac != nil else {
            if let recorder = settings?.recorder {
                return "recorder '\(recorder)' has no mac; the egress lock binds its address to one "
                    + "(camgw camera set \(recorder) --mac …)"
            }
            return "camera '\(camera.name)' has no mac; the egress lock binds its address to one "
                + "(camgw camera set \(camera.name) --mac …)"
        }
        return nil
    }

    init(elements: [SetName: [String]]) {
        self.elements = elements
    }

    init(_ configuration: GatewayConfiguration) throws(FirewallRuleset.Problem) {
        var cameras: [String] = []
        var services: [String] = []
        var udp: [String] = []
        var macs: [String] = []
        for camera in configuration.relay.cameras.sorted(by: { $0.name < $1.name }) {
            let settings = configuration.cameras[camera.name] ?? CameraSettings()
            if let problem = Self.problem(camera: camera, settings: settings) {
                throw FirewallRuleset.Problem(description: problem)
            }
            cameras.append(camera.host)
            // RTSP, and ONVIF when the camera is served as a virtual device.
            services.append("\(camera.host) . tcp . \(camera.port)")
            if settings.gatewayONVIFPort != nil {
                services.append("\(camera.host) . tcp . \(settings.onvifPort ?? 80)")
            }
            // Cameras pulled over UDP send RTP from the ports their SETUP answer names, to the gateway's high ports.
            if camera.transport == .udp { udp.append(camera.host) }
            macs.append("\(camera.host) . \(settings.mac ?? "")")
        }
        func unique(_ list: [String]) -> [String] {
            var seen = Set<String>()
            return list.filter { seen.insert($0).inserted }
        }
        self.elements = [
            .cameras: unique(cameras), .cameraServices: unique(services), .udpCameras: unique(udp),
            .cameraMACs: unique(macs),
        ]
    }

    /// The nft commands that turn the loaded elements into these, one transaction for `nft -f`: deletions first
    /// (an element that moves, such as a camera's new MAC, is deleted and added in the same transaction). Empty
    /// when nothing differs.
    func update(from loaded: FirewallElements) -> [String] {
        var commands: [String] = []
        for set in SetName.allCases {
            let wanted = Set(self[set])
            let stale = loaded[set].filter { !wanted.contains($0) }
            if !stale.isEmpty {
                commands.append("delete element \(set.table) \(set.rawValue) { \(stale.joined(separator: ", ")) }")
            }
        }
        for set in SetName.allCases {
            let present = Set(loaded[set])
            let missing = self[set].filter { !present.contains($0) }
            if !missing.isEmpty {
                commands.append("add element \(set.table) \(set.rawValue) { \(missing.joined(separator: ", ")) }")
            }
        }
        return commands
    }

    /// The elements in `nft -j list table …` output (both tables' listings may be passed): concatenations joined
    /// with ` . `, as nft writes them.
    static func loaded(fromJSON objects: [[String: Any]]) -> FirewallElements {
        var result = FirewallElements(elements: [:])
        for object in objects {
            guard let set = object["set"] as? [String: Any], let name = set["name"] as? String,
                let which = SetName(rawValue: name), let family = set["family"] as? String,
                which.table.hasPrefix(family + " ")
            else { continue }
            let elements = (set["elem"] as? [Any]) ?? []
            result.elements[which, default: []] += elements.compactMap { element -> String? in
                if let concat = (element as? [String: Any])?["concat"] as? [Any] {
                    return concat.map { "\($0)" }.joined(separator: " . ")
                }
                return element is String || element is Int ? "\(element)" : nil
            }
        }
        return result
    }
}
