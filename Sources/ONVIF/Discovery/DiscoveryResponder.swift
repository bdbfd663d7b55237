import Foundation
import GatewayAuth
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// WS-Discovery on the VMS side only: joins 239.255.255.250 on the VMS-side interface and nowhere else, ignores
/// anything that arrives on another interface (the camera side above all), answers a matching Probe after a
/// random 0–500 ms (WS-Discovery §3.1.3, so that many devices do not answer at once), within a rate limit, and
/// announces each virtual device with Hello when it starts and Bye when it stops.
///
/// One ProbeMatches per device, as real cameras send: clients that read one match per datagram, or that pick a
/// device from the first match, see every device, and no answer grows past one datagram however many devices
/// there are (13 in one reply was 8.6 kB in IP fragments and cut libonvif's 8 kB buffer). Every message carries
/// `AppSequence`: this start's InstanceId and a message number that only grows.
public final class DiscoveryResponder: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let devices: [WSDiscovery.Match]
    let logger: Logger
    private let channel: any Channel
    private let group: SocketAddress
    private let sequence: MessageSequence

    private init(
        devices: [WSDiscovery.Match],
        channel: any Channel,
        group: SocketAddress,
        sequence: MessageSequence,
        logger: Logger
    ) {
        self.devices = devices
        self.channel = channel
        self.group = group
        self.sequence = sequence
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
        let sequence = MessageSequence()
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
                            sequence: sequence,
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
        let responder = DiscoveryResponder(
            devices: devices,
            channel: channel,
            group: group,
            sequence: sequence,
            logger: logger
        )
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
                match: device,
                appSequence: self.sequence.next()
            )
            try await self.channel.writeAndFlush(
                AddressedEnvelope(remoteAddress: self.group, data: ByteBuffer(string: message))
            )
        }
    }
}

/// This start's InstanceId and the message number every message takes the next of.
final class MessageSequence: Sendable {
    let instanceID = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))
    private let number = NIOLockedValueBox(0)

    func next() -> WSDiscovery.AppSequence {
        .init(
            instanceID: self.instanceID,
            messageNumber: self.number.withLockedValue {
                $0 += 1
                return $0
            }
        )
    }
}

final class ProbeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let devices: [WSDiscovery.Match]
    let interfaceIndex: Int
    let limiter: NIOLockedValueBox<Limiter>
    let sequence: MessageSequence
    let logger: Logger

    init(
        devices: [WSDiscovery.Match],
        interfaceIndex: Int,
        limiter: NIOLockedValueBox<Limiter>,
        sequence: MessageSequence,
        logger: Logger
    ) {
        self.devices = devices
        self.interfaceIndex = interfaceIndex
        self.limiter = limiter
        self.sequence = sequence
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
        let admitted = self.limiter.withLockedValue {
            $0.admit(source.ipAddress ?? "", probe: probe.messageID, wanted: matches.count, now: .now())
        }
        let channel = context.channel
        let sequence = self.sequence
        let relatesTo = probe.messageID
        // From a random device on, so that a rate-limited answer does not always leave out the same ones.
        let first = Int.random(in: 0..<matches.count)
        for match in (matches[first...] + matches[..<first]).prefix(admitted) {
            context.eventLoop.scheduleTask(in: .milliseconds(Int64.random(in: 0...500))) {
                // The message number is taken when the datagram goes, so numbers follow the order of sending.
                let answer = WSDiscovery.probeMatches(
                    messageID: "urn:uuid:" + UUID().uuidString.lowercased(),
                    relatesTo: relatesTo,
                    matches: [match],
                    appSequence: sequence.next()
                )
                channel.writeAndFlush(
                    AddressedEnvelope(remoteAddress: source, data: ByteBuffer(string: answer)),
                    promise: nil
                )
            }
        }
    }
}
