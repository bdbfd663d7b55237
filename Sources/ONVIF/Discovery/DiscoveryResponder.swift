import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RTSPRelay

/// WS-Discovery on the VMS side only: joins 239.255.255.250 on the VMS-side interface and nowhere else, ignores
/// anything that arrives on another interface (the camera side above all), answers a matching Probe after a
/// random 0–500 ms (WS-Discovery §3.1.3, so that many devices do not answer at once), within a rate limit, and
/// announces each virtual device with Hello when it starts and Bye when it stops.
public final class DiscoveryResponder: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let devices: [WSDiscovery.Match]
    let logger: Logger
    private let channel: any Channel
    private let group: SocketAddress

    private init(devices: [WSDiscovery.Match], channel: any Channel, group: SocketAddress, logger: Logger) {
        self.devices = devices
        self.channel = channel
        self.group = group
        self.logger = logger
    }

    /// Listens on `interfaceAddress` (the gateway's IPv4 address on the VMS network) and says Hello.
    public static func start(
        interfaceAddress: String,
        devices: [WSDiscovery.Match],
        port: Int = WSDiscovery.port,
        logger: Logger
    ) async throws -> DiscoveryResponder {
        guard
            let device = try System.enumerateDevices().first(where: {
                $0.address?.ipAddress == interfaceAddress && $0.address?.protocol == .inet
            })
        else { throw Failure(description: "no interface has the address \(interfaceAddress)") }
        let group = try SocketAddress(ipAddress: WSDiscovery.multicastAddress, port: port)
        let limiter = NIOLockedValueBox(Limiter())
        let handlerDevices = devices
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.receivePacketInfo, value: true)
            // IP_MULTICAST_ALL off (Linux): only the group joined here, on this interface, is delivered to us,
            // not every group another socket of the host joined.
            .channelOption(ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: 49)), value: 0)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ProbeHandler(
                            devices: handlerDevices,
                            interfaceIndex: device.interfaceIndex,
                            limiter: limiter,
                            logger: logger
                        )
                    )
                }
            }
            .bind(host: "0.0.0.0", port: port)
            .get()
        guard let multicast = channel as? any MulticastChannel, let options = channel as? any SocketOptionProvider,
            case .v4(let local) = try SocketAddress(ipAddress: interfaceAddress, port: 0)
        else {
            try? await channel.close()
            throw Failure(description: "no multicast on this channel")
        }
        try await multicast.joinGroup(group, device: device).get()
        try await options.setIPMulticastIF(local.address.sin_addr).get()
        try await options.setIPMulticastTTL(1).get()
        let responder = DiscoveryResponder(devices: devices, channel: channel, group: group, logger: logger)
        try await responder.announce(hello: true)
        logger.info(
            "WS-Discovery answering",
            metadata: ["interface": "\(interfaceAddress)", "devices": "\(devices.count)"]
        )
        return responder
    }

    /// Bye for each device, then stops.
    public func stop() async {
        try? await self.announce(hello: false)
        try? await self.channel.close()
    }

    private func announce(hello: Bool) async throws {
        for device in self.devices {
            let message = WSDiscovery.announcement(
                hello: hello,
                messageID: "urn:uuid:" + UUID().uuidString.lowercased(),
                match: device
            )
            try await self.channel.writeAndFlush(
                AddressedEnvelope(remoteAddress: self.group, data: ByteBuffer(string: message))
            )
        }
    }
}

/// At most 20 answers a second, bursts of 40, and 4 a second to one source: a flood of probes cannot turn the
/// gateway into an amplifier.
struct Limiter {
    var total = PacketRateLimiter(rate: 20, burst: 40)
    var perSource: [String: PacketRateLimiter] = [:]

    mutating func admit(_ source: String, now: NIODeadline) -> Bool {
        if self.perSource.count > 1024 { self.perSource.removeAll() }
        var bucket = self.perSource[source] ?? PacketRateLimiter(rate: 4, burst: 4)
        defer { self.perSource[source] = bucket }
        return bucket.admit(now: now) && self.total.admit(now: now)
    }
}

final class ProbeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let devices: [WSDiscovery.Match]
    let interfaceIndex: Int
    let limiter: NIOLockedValueBox<Limiter>
    let logger: Logger

    init(devices: [WSDiscovery.Match], interfaceIndex: Int, limiter: NIOLockedValueBox<Limiter>, logger: Logger) {
        self.devices = devices
        self.interfaceIndex = interfaceIndex
        self.limiter = limiter
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        // Only what came in on the VMS-side interface: a probe from the camera network goes unanswered.
        guard envelope.metadata?.packetInfo?.interfaceIndex == self.interfaceIndex,
            envelope.data.readableBytes <= 16 * 1024,
            let probe = try? WSDiscovery.parseProbe(Array(envelope.data.readableBytesView))
        else { return }
        let matches = self.devices.filter { device in
            WSDiscovery.matches(probe.types, device.types)
                && probe.scopes.allSatisfy { scope in device.scopes.contains { $0.hasPrefix(scope) } }
        }
        guard !matches.isEmpty else { return }
        let source = envelope.remoteAddress
        guard self.limiter.withLockedValue({ $0.admit(source.ipAddress ?? "", now: .now()) }) else { return }
        let answer = WSDiscovery.probeMatches(
            messageID: "urn:uuid:" + UUID().uuidString.lowercased(),
            relatesTo: probe.messageID,
            matches: matches
        )
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .milliseconds(Int64.random(in: 0...500))) {
            channel.writeAndFlush(
                AddressedEnvelope(remoteAddress: source, data: ByteBuffer(string: answer)),
                promise: nil
            )
        }
    }
}
