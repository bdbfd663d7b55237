import Foundation
import Logging
import NIOConcurrencyHelpers
import ONVIF
import RTSPRelay

/// The running gateway's administration: reloads (from SIGHUP or the control socket) and status. A reload reads
/// the file, validates it whole, and hands it to the relay, which changes only what changed; a file that does not
/// validate, or that the relay cannot take live, is refused whole and the running configuration stays.
final class GatewayDaemon: Sendable {
    let relay: Relay
    let configPath: String?
    let logger: Logger
    /// Command-line overrides, applied to every configuration read.
    let listen: String?
    let port: Int?
    private let current: NIOLockedValueBox<GatewayConfiguration>
    /// The camera-side decoys, when the appliance runs them.
    let decoys: DecoyServer
    /// The running virtual ONVIF devices (their call counts go into status and metrics).
    let virtualDevices: VirtualDevices
    /// The relay's bound RTSP port, once the ONVIF devices started (their stream URIs name it).
    private let rtspPort = NIOLockedValueBox<Int?>(nil)

    var onvifDevices: [String: ONVIFDeviceProxy] { self.virtualDevices.proxies }

    func startONVIF(rtspPort: Int) async -> [(camera: String, url: String)] {
        self.rtspPort.withLockedValue { $0 = rtspPort }
        return await self.virtualDevices.apply(self.configuration, rtspPort: rtspPort)
    }
    private let loginFailures: LoginFailureGate
    /// One reload at a time: a second waits for the first.
    private let reloading = NIOLockedValueBox(false)

    init(
        relay: Relay,
        configuration: GatewayConfiguration,
        configPath: String?,
        listen: String?,
        port: Int?,
        logger: Logger,
        loginFailures: LoginFailureGate,
        connections vmsSide: ConnectionBudget? = nil
    ) {
        let connections = ConnectionBudget(
            perSource: configuration.onvif.maxConnectionsPerSource,
            total: .max,
            within: vmsSide
        )
        self.relay = relay
        self.loginFailures = loginFailures
        self.configPath = configPath
        self.listen = listen
        self.port = port
        self.logger = logger
        self.current = NIOLockedValueBox(configuration)
        self.virtualDevices = VirtualDevices(
            logger: logger,
            loginFailures: loginFailures,
            connections: connections
        )
        self.decoys = DecoyServer(logger: logger)
    }

    var configuration: GatewayConfiguration { self.current.withLockedValue { $0 } }

    /// The egress lock's counts by camera, as last pushed by `camgw egress --push` (which can read the kernel's
    /// sets; this daemon cannot), and when.
    let egressCounts = NIOLockedValueBox<(counts: [String: EgressReport.Counts], at: Date)?>(nil)

    func handle(_ command: String) async -> ControlReply {
        switch command {
        case "reload": return await self.reload()
        case "status": return await self.status()
        case "ping": return ControlReply(ok: true)
        case "egress": return ControlReply(ok: true, egress: self.decoys.records)
        case _ where command.hasPrefix("egress-counts "):
            guard
                let counts = try? JSONDecoder().decode(
                    [String: EgressReport.Counts].self,
                    from: Data(command.dropFirst("egress-counts ".count).utf8)
                )
            else { return .failure("egress-counts takes a JSON object of counts by camera") }
            self.egressCounts.withLockedValue { $0 = (counts, Date()) }
            return ControlReply(ok: true)
        default: return .failure("unknown command '\(command.prefix(32))' (reload, status, egress, egress-counts)")
        }
    }

    func reload() async -> ControlReply {
        guard let path = self.configPath else { return .failure("the demo has no configuration file to reload") }
        while !self.reloading.withLockedValue({ busy in
            if busy { return false }
            busy = true
            return true
        }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        defer { self.reloading.withLockedValue { $0 = false } }
        var configuration: GatewayConfiguration
        do {
            configuration = try GatewayConfig.load(path: path)
        } catch {
            self.logger.error("reload refused: the configuration does not validate", metadata: ["problems": "\(error)"])
            return .failure("\(error)")
        }
        if let listen = self.listen { configuration.relay.listenHost = listen }
        if let port = self.port { configuration.relay.port = port }
        do {
            let summary = try await self.relay.apply(configuration.relay)
            // The files were checked when the configuration loaded; one swapped since is still reported, not
            // hidden behind "configuration reloaded".
            do {
                try await self.relay.reloadTLS()
            } catch {
                self.logger.error(
                    "TLS reload failed; the previous certificate stays in use",
                    metadata: ["error": "\(error)"]
                )
                return .failure("TLS reload failed; the previous certificate stays in use: \(error)")
            }
            let previous = self.current.withLockedValue { current in
                defer { current = configuration }
                return current
            }
            self.loginFailures.forgetTrust(of: Self.usersWithNewCredentials(from: previous, to: configuration))
            if let rtspPort = self.rtspPort.withLockedValue({ $0 }) {
                await self.virtualDevices.apply(configuration, rtspPort: rtspPort)
            }
            return ControlReply(ok: true, reload: summary)
        } catch {
            self.logger.error("reload refused; the running configuration stays", metadata: ["reason": "\(error)"])
            return .failure("\(error)")
        }
    }

    /// Users removed, or whose hashes, ONVIF password, networks or streams changed: the addresses trusted for
    /// them proved the old credentials, not these.
    static func usersWithNewCredentials(from old: GatewayConfiguration, to new: GatewayConfiguration) -> [String] {
        let kept = Dictionary(new.relay.access.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return old.relay.access.users.compactMap { user in
            kept[user.name] == user && old.onvifPasswords[user.name] == new.onvifPasswords[user.name]
                ? nil : user.name
        }
    }

    func status() async -> ControlReply {
        do {
            let stats = try await self.relay.stats()
            let counts = self.onvifDevices.mapValues(\.callCounts)
            return ControlReply(
                ok: true,
                status: GatewayStatus(
                    configuration: self.configuration,
                    stats: stats,
                    onvif: counts,
                    onvifURLs: self.virtualDevices.urls,
                    dnsLookups: self.configuration.appliance == nil ? nil : self.decoys.records
                )
            )
        } catch {
            return .failure("\(error)")
        }
    }
}
