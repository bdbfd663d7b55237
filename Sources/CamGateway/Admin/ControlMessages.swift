import Foundation
import NIOCore
import ONVIF
import RTSPRelay

/// The control socket's replies: one JSON object per request.
struct ControlReply: Codable, Sendable {
    var ok: Bool
    var error: String?
    var reload: RelayReloadSummary?
    var status: GatewayStatus?
    /// The DNS decoy's record: by camera address, the names it looked up.
    var egress: [String: [DecoyServer.Lookup]]?

    static func failure(_ reason: String) -> ControlReply { ControlReply(ok: false, error: reason) }
}

/// What `camgw status` shows, per camera.
struct GatewayStatus: Codable, Sendable {
    struct Camera: Codable, Sendable {
        var name: String
        /// The device it is pulled from: a recorder's name for its channels, the camera's own otherwise.
        var device: String
        var address: String
        var mode: String
        var policy: String
        /// ONVIF calls the policy refused, by operation; nil when the camera has no virtual device.
        var onvifRefused: [String: Int]?
        var onvifAllowed: Int?
        /// The virtual device's address, while it runs.
        var onvifURL: String?
        /// ONVIF sign-in to the camera paused after repeated failures.
        var onvifCameraLoginPaused: Bool?
        /// Names the camera looked up at the DNS decoy (distinct), when the decoys run.
        var dnsNames: Int?
        /// What the egress lock dropped from the camera: distinct destinations (layer 3) and packets (all
        /// kinds). Added by `camgw status` from the kernel's sets, which only the admin can read; nil without them.
        var egressDestinations: Int?
        var egressPackets: Int?
        var streams: [Stream]
    }

    struct Stream: Codable, Sendable {
        var name: String
        var upstream: String
        var lastError: String?
        var bitsPerSecond: Int
        var reconnects: Int
        var packetsIn: Int
        var packetsOut: Int
        var dropped: [String: Int]
        var readers: [Reader]
    }

    struct Reader: Codable, Sendable {
        var address: String
        var transport: String
        var seconds: Int
        var packetsSent: Int
        var dropped: Int
    }

    var cameras: [Camera]
    /// Devices the gateway pulls from, by kind (`camera`, `recorder`): a recorder once, whatever its channels.
    var devices: [String: Int]
    var authFailures: Int

    init(
        configuration: GatewayConfiguration,
        stats: RelayStats,
        onvif: [String: ONVIFDeviceProxy.Counts] = [:],
        onvifURLs: [String: String] = [:],
        dnsLookups: [String: [DecoyServer.Lookup]]? = nil,
        now: NIODeadline = .now()
    ) {
        self.authFailures = stats.authFailures
        self.devices = configuration.devices.reduce(into: [:]) { $0[$1.kind, default: 0] += 1 }
        self.cameras = configuration.relay.cameras.map { camera in
            Camera(
                name: camera.name,
                device: configuration.device(of: camera.name),
                address: camera.host,
                mode: camera.onDemand ? "on-demand" : "always-on",
                policy: configuration.cameras[camera.name]?.policyDescription ?? "read-only",
                onvifRefused: onvif[camera.name]?.refused,
                onvifAllowed: onvif[camera.name].map { $0.allowed.values.reduce(0, +) },
                onvifURL: onvifURLs[camera.name],
                onvifCameraLoginPaused: onvif[camera.name]?.cameraLoginPaused,
                dnsNames: dnsLookups.map { $0[camera.host]?.count ?? 0 },
                streams: camera.streams.map { stream in
                    let live = stats.stream(camera.name, stream.name)
                    return Stream(
                        name: stream.name,
                        upstream: live?.upstreamState ?? "idle",
                        lastError: live?.lastError,
                        bitsPerSecond: live?.bitsPerSecondIn ?? 0,
                        reconnects: live?.reconnects ?? 0,
                        packetsIn: live?.packetsIn ?? 0,
                        packetsOut: live?.packetsOut ?? 0,
                        dropped: Dictionary(
                            uniqueKeysWithValues: (live?.dropped ?? [:]).filter { $0.value > 0 }.map {
                                ($0.key.rawValue, $0.value)
                            }
                        ),
                        readers: (live?.readers ?? []).map { reader in
                            Reader(
                                address: reader.address,
                                transport: reader.transport,
                                seconds: Int((now - reader.since).nanoseconds / 1_000_000_000),
                                packetsSent: reader.packetsSent,
                                dropped: reader.packetsDropped
                            )
                        }
                    )
                }
            )
        }
    }
}
