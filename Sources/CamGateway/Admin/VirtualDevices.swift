import Logging
import NIOConcurrencyHelpers
import NIOCore
import ONVIF
import RTSPRelay

/// The running virtual ONVIF devices and the WS-Discovery responder, brought in line with each configuration:
/// a device whose camera (or whose settings, users or policy) changed restarts, a new one starts, a removed one
/// stops (Bye on WS-Discovery), the others keep serving.
final class VirtualDevices: Sendable {
    /// Everything a device is made from: when it changes, the device restarts.
    struct Spec: Hashable {
        var camera: RelayConfiguration.Camera
        var settings: CameraSettings
        var host: String
        var port: Int
        var rtspPort: Int
        var access: ReaderAccessPolicy
        var onvifPasswords: [String: String]
        var fakeEnrollmentWrites: Bool
        var anonymousReads: Bool
    }

    struct Running {
        var spec: Spec
        var proxy: ONVIFDeviceProxy
        var channel: any Channel
        var url: String
    }

    /// What a recorder's shared profile cache signs in with: when it changes, the cache is made anew.
    private struct RecorderKey: Hashable {
        var host: String
        var port: Int
        var username: String?
        var password: String?
    }

    private struct State {
        var devices: [String: Running] = [:]
        var recorders: [String: (key: RecorderKey, channels: RecorderChannels)] = [:]
        var router: (host: String, port: Int, channel: any Channel)?
        var discovery: (interface: String, matches: [WSDiscovery.Match], responder: DiscoveryResponder)?
    }

    private let state = NIOLockedValueBox(State())
    let logger: Logger
    /// Shared with the RTSP server: a failed ONVIF login counts against the same source as a failed RTSP one.
    let loginFailures: LoginFailureGate
    /// Every device's port and the path-mode port share it (fixed at start; a reload does not change it).
    let connections: ConnectionBudget

    init(logger: Logger, loginFailures: LoginFailureGate, connections: ConnectionBudget) {
        self.logger = logger
        self.loginFailures = loginFailures
        self.connections = connections
    }

    var proxies: [String: ONVIFDeviceProxy] { self.state.withLockedValue { $0.devices.mapValues(\.proxy) } }
    var urls: [String: String] { self.state.withLockedValue { $0.devices.mapValues(\.url) } }

    /// Starts, stops and restarts devices to match `configuration`; returns the URLs of the devices started.
    @discardableResult
    func apply(_ configuration: GatewayConfiguration, rtspPort: Int) async -> [(camera: String, url: String)] {
        var wanted: [String: Spec] = [:]
        for camera in configuration.relay.cameras {
            guard let settings = configuration.cameras[camera.name], let port = settings.gatewayONVIFPort else {
                continue
            }
            wanted[camera.name] = Spec(
                camera: camera,
                settings: settings,
                host: configuration.onvif.listen ?? configuration.relay.listenHost,
                port: port,
                rtspPort: rtspPort,
                access: configuration.relay.access,
                onvifPasswords: configuration.onvifPasswords,
                fakeEnrollmentWrites: configuration.onvif.fakeEnrollmentWrites,
                anonymousReads: configuration.onvif.allowAnonymousReads
            )
        }
        let current = self.state.withLockedValue { $0.devices }
        for (name, running) in current where wanted[name] != running.spec {
            try? await running.channel.close()
            _ = self.state.withLockedValue { $0.devices.removeValue(forKey: name) }
            self.logger.info("virtual ONVIF device stopped", metadata: ["camera": "\(name)"])
        }
        var started: [(String, String)] = []
        for (name, spec) in wanted.sorted(by: { $0.key < $1.key }) where current[name]?.spec != spec {
            do {
                let running = try await self.start(spec)
                self.state.withLockedValue { $0.devices[name] = running }
                started.append((name, running.url))
            } catch {
                self.logger.error(
                    "virtual ONVIF device not started",
                    metadata: ["camera": "\(name)", "port": "\(spec.port)", "error": "\(error)"]
                )
            }
        }
        await self.applyDiscovery(configuration.onvif.discoveryInterface)
        if let url = await self.applyRouter(
            host: configuration.onvif.listen ?? configuration.relay.listenHost,
            port: configuration.onvif.pathModePort
        ) {
            started.append(("*", url))
        }
        return started
    }

    func stop() async {
        let (devices, discovery, router) = self.state.withLockedValue { state in
            defer {
                state.devices = [:]
                state.recorders = [:]
                state.discovery = nil
                state.router = nil
            }
            return (Array(state.devices.values), state.discovery, state.router)
        }
        try? await router?.channel.close()
        await discovery?.responder.stop()
        for device in devices { try? await device.channel.close() }
    }

    private func start(_ spec: Spec) async throws -> Running {
        let camera = spec.camera
        let cameraPort = spec.settings.onvifPort ?? 80
        let client = ONVIFCameraClient(
            configuration: .init(
                host: camera.host,
                port: cameraPort,
                username: camera.username,
                password: camera.password
            ),
            logger: self.logger
        )
        var configuration = ONVIFDeviceProxy.Configuration(
            cameraName: camera.name,
            policy: ONVIFPolicy(
                ptz: spec.settings.policy.contains(.ptz),
                events: spec.settings.policy.contains(.events),
                fakeEnrollmentWrites: spec.fakeEnrollmentWrites
            ),
            streams: camera.streams.map { ($0.path, $0.name) },
            rtspPort: spec.rtspPort,
            realm: spec.access.realm,
            users: spec.access.users.map { user in
                ONVIFDeviceProxy.User(
                    name: user.name,
                    ha1MD5: user.ha1MD5,
                    ha1SHA256: user.ha1SHA256,
                    onvifPassword: spec.onvifPasswords[user.name],
                    streams: user.streams,
                    sources: user.sources
                )
            },
            cameraHosts: [camera.host, "\(camera.host):\(cameraPort)", "\(camera.host):\(camera.port)"]
        )
        configuration.allowAnonymous = spec.anonymousReads
        configuration.loginFailures = self.loginFailures
        if let recorder = spec.settings.recorder, let number = spec.settings.channel {
            let key = RecorderKey(
                host: camera.host,
                port: cameraPort,
                username: camera.username,
                password: camera.password
            )
            let channels = self.state.withLockedValue { state in
                if let shared = state.recorders[recorder], shared.key == key { return shared.channels }
                let channels = RecorderChannels(
                    name: recorder,
                    client: ONVIFCameraClient(
                        configuration: .init(
                            host: key.host,
                            port: key.port,
                            username: key.username,
                            password: key.password
                        ),
                        logger: self.logger
                    ),
                    logger: self.logger
                )
                state.recorders[recorder] = (key, channels)
                return channels
            }
            configuration.channel = (
                channels, spec.settings.videoSource.map(ChannelView.Selector.videoSource) ?? .number(number)
            )
        }
        let proxy = ONVIFDeviceProxy(configuration: configuration, client: client, logger: self.logger)
        let channel = try await ONVIFHTTPServer.start(
            host: spec.host,
            port: spec.port,
            proxy: proxy,
            budget: self.connections
        )
        let shown = spec.host == "0.0.0.0" ? "127.0.0.1" : spec.host
        let url =
            "http://\(shown.contains(":") ? "[\(shown)]" : shown):\(channel.localAddress?.port ?? spec.port)/onvif/device_service"
        self.logger.info("virtual ONVIF device started", metadata: ["camera": "\(camera.name)", "url": "\(url)"])
        return Running(spec: spec, proxy: proxy, channel: channel, url: url)
    }

    /// Path mode's shared port, (re)started when its address changes; devices are looked up per request. Returns
    /// the URL pattern when it starts.
    private func applyRouter(host: String, port: Int?) async -> String? {
        let current = self.state.withLockedValue { $0.router }
        if let current, current.host == host, current.port == port { return nil }
        if let current {
            try? await current.channel.close()
            self.state.withLockedValue { $0.router = nil }
        }
        guard let port else { return nil }
        do {
            let channel = try await ONVIFHTTPServer.startRouter(host: host, port: port, budget: self.connections) {
                [weak self] name in
                self?.state.withLockedValue { $0.devices[name]?.proxy }
            }
            self.state.withLockedValue { $0.router = (host, port, channel) }
            let shown = host == "0.0.0.0" ? "127.0.0.1" : host
            let url =
                "http://\(shown.contains(":") ? "[\(shown)]" : shown):\(channel.localAddress?.port ?? port)/onvif/<camera>/device_service"
            self.logger.info("virtual ONVIF devices in path mode", metadata: ["url": "\(url)"])
            return url
        } catch {
            self.logger.error("ONVIF path mode not started", metadata: ["port": "\(port)", "error": "\(error)"])
            return nil
        }
    }

    /// WS-Discovery for the running devices, restarted (Bye, then Hello) when the set changes.
    private func applyDiscovery(_ interface: String?) async {
        let matches: [WSDiscovery.Match] = self.state.withLockedValue { state in
            guard let interface else { return [] }
            return state.devices.values.sorted { $0.spec.camera.name < $1.spec.camera.name }.map { running in
                WSDiscovery.Match(
                    endpoint: running.proxy.device.uuid,
                    types: [.networkVideoTransmitter, .device],
                    scopes: LocalAnswers.scopes(running.proxy.device),
                    xAddrs: [
                        "http://\(interface):\(running.channel.localAddress?.port ?? running.spec.port)/onvif/device_service"
                    ]
                )
            }
        }
        let current = self.state.withLockedValue { $0.discovery }
        if let current, current.interface == interface, current.matches == matches { return }
        if let current {
            await current.responder.stop()
            self.state.withLockedValue { $0.discovery = nil }
        }
        guard let interface, !matches.isEmpty else { return }
        do {
            let responder = try await DiscoveryResponder.start(
                interfaceAddress: interface,
                devices: matches,
                logger: self.logger
            )
            self.state.withLockedValue { $0.discovery = (interface, matches, responder) }
        } catch {
            self.logger.error("WS-Discovery not started", metadata: ["interface": "\(interface)", "error": "\(error)"])
        }
    }
}
