import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ONVIF

/// `camgw discover`: one WS-Discovery probe on the camera network, on request only (the gateway never listens
/// or answers on that side), and the candidates it finds with the command that would add each.
struct DiscoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discover",
        abstract: "Probe the camera network for ONVIF cameras (WS-Discovery) and print how to add each.",
        discussion: """
            The probe goes out of --interface only (the gateway's address on the camera network), to \
            239.255.255.250:3702 with TTL 1, twice; answers are read for --timeout seconds.

            Example:
              camgw discover --interface 192.0.2.1
            """
    )

    @Option(help: "The gateway's IPv4 address on the camera network: the probe leaves from there.")
    var interface: String

    @Option(help: "Seconds to wait for answers.")
    var timeout: Double = 3

    @Flag(help: "JSON, for scripts.")
    var json = false

    struct Candidate: Codable {
        var address: String
        var endpoint: String
        var name: String?
        var hardware: String?
        /// `camera`, or `recorder` (an NVR or DVR: one device, several channels).
        var kind: String
        /// A recorder's channel count, when its model number says it.
        var channels: Int?
        var xAddrs: [String]
        var command: String
    }

    func validate() throws {
        guard case .v4 = try? SocketAddress(ipAddress: self.interface, port: 0) else {
            throw ValidationError("--interface must be an IPv4 address of this host")
        }
        guard (0.2...30).contains(self.timeout) else { throw ValidationError("--timeout must be 0.2–30 s") }
    }

    func run() async throws {
        let messageID = "urn:uuid:" + UUID().uuidString.lowercased()
        let found = NIOLockedValueBox<[String: (String, WSDiscovery.Match)]>([:])
        guard case .v4(let local) = try SocketAddress(ipAddress: self.interface, port: 0) else { return }
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ProbeMatchCollector(messageID: messageID, found: found)
                    )
                }
            }
            .bind(host: self.interface, port: 0)
            .get()
        if let options = channel as? any SocketOptionProvider {
            try await options.setIPMulticastIF(local.address.sin_addr).get()
            try await options.setIPMulticastTTL(1).get()
        }
        let group = try SocketAddress(ipAddress: WSDiscovery.multicastAddress, port: WSDiscovery.port)
        let probe = ByteBuffer(string: WSDiscovery.probe(messageID: messageID))
        for attempt in 0..<2 {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(200)) }
            try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: group, data: probe))
        }
        try await Task.sleep(for: .milliseconds(Int(self.timeout * 1000)))
        try await channel.close()

        let candidates = found.withLockedValue { $0 }.values.sorted { $0.0 < $1.0 }.map { address, match in
            let recorder = Self.recorder(match)
            return Candidate(
                address: address,
                endpoint: match.endpoint,
                name: match.scope("name"),
                hardware: match.scope("hardware"),
                kind: recorder == nil ? "camera" : "recorder",
                channels: recorder?.channels,
                xAddrs: match.xAddrs,
                command: Self.addCommand(address: address, match: match)
            )
        }
        if self.json { return try printJSON(candidates) }
        guard !candidates.isEmpty else {
            print("no ONVIF device answered on \(self.interface) within \(self.timeout) s")
            return
        }
        print(
            TextTable.render(
                header: ["ADDRESS", "KIND", "NAME", "HARDWARE", "ONVIF"],
                rows: candidates.map { candidate in
                    [
                        candidate.address,
                        candidate.kind == "camera"
                            ? "camera"
                            : "recorder, " + (candidate.channels.map { "\($0) channels" } ?? "channels: ask ONVIF"),
                        candidate.name ?? "-", candidate.hardware ?? "-", candidate.xAddrs.first ?? "-",
                    ]
                }
            )
        )
        print("\nTo add them (check the stream path with the camera's documentation or its ONVIF GetStreamUri):")
        for candidate in candidates { print("  " + TextTable.visible(candidate.command)) }
    }

    /// A recorder (NVR, DVR) by its model number in the scopes, with the channel count the number carries:
    /// Hikvision DS-76/77/78NN and DS-72/73NN (DVRs) end in NN channels, DS-96NN(N) too; Dahua (X/N)VR and HCVR
    /// model numbers carry it in their last two digits (NVR5216: 16), or after a dash (NVR608-64).
    static func recorder(_ match: WSDiscovery.Match) -> (style: String, channels: Int?)? {
        let text =
            ((match.scope("name") ?? "") + " " + (match.scope("hardware") ?? "") + " "
            + match.scopes.joined(separator: " "))
            .uppercased()
        func channels(_ digits: Substring) -> Int? { Int(digits).flatMap { (1...256).contains($0) ? $0 : nil } }
        if let hit = text.firstMatch(of: /DS-(?:76|77|78|72|73)(\d{2})/) { return ("hikvision", channels(hit.1)) }
        if let hit = text.firstMatch(of: /DS-96(\d{2,3})/) { return ("hikvision", channels(hit.1)) }
        if let hit = text.firstMatch(of: /(?:NVR|XVR|HCVR)\d{3}-(\d{2,3})/) { return ("dahua", channels(hit.1)) }
        if let hit = text.firstMatch(of: /(?:NVR|XVR|HCVR)\d{2}(\d{2})/) { return ("dahua", channels(hit.1)) }
        if text.contains("NVR") || text.contains("DVR") || text.contains("NETWORKVIDEORECORDER") {
            return (text.contains("DAHUA") || text.contains("DHI-") ? "dahua" : "hikvision", nil)
        }
        return nil
    }

    /// The `camgw camera add` line for a candidate: a name from its scopes and address, its ONVIF port, and the
    /// vendor's usual main-stream path where the scopes name a vendor we know; for a recorder, its style and
    /// channels (or none: `camera add` then asks its ONVIF profiles).
    static func addCommand(address: String, match: WSDiscovery.Match) -> String {
        let label = (match.scope("name") ?? "camera").lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let suffix = address.split(separator: ".").last.map(String.init) ?? "0"
        let name = String(String(label).prefix(40)) + "-" + suffix
        let vendor =
            ((match.scope("name") ?? "") + " " + (match.scope("hardware") ?? "") + " "
            + match.scopes.joined(separator: " "))
            .lowercased()
        let path: String
        if vendor.contains("hikvision") || vendor.contains("ds-2") {
            path = "/Streaming/Channels/101"
        } else if vendor.contains("dahua") || vendor.contains("ipc-h") {
            path = "/cam/realmonitor?channel=1&subtype=0"
        } else {
            path = "/PATH"
        }
        var command = "camgw camera add \(name) --address \(address)"
        if let xAddr = match.xAddrs.first, let url = URL(string: xAddr), let port = url.port, port != 80 {
            command += " --onvif-port \(port)"
        }
        if let recorder = Self.recorder(match) {
            command += " --recorder \(recorder.style)"
            if let channels = recorder.channels { command += " --channels 1-\(channels)" }
            return command + " --username USER --password-stdin"
        }
        return command + " --stream 'main=\(path)' --username USER --password-stdin"
    }
}

/// Collects the ProbeMatches that answer our probe (by RelatesTo), keyed by endpoint; everything else is ignored.
final class ProbeMatchCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let messageID: String
    let found: NIOLockedValueBox<[String: (String, WSDiscovery.Match)]>

    init(messageID: String, found: NIOLockedValueBox<[String: (String, WSDiscovery.Match)]>) {
        self.messageID = messageID
        self.found = found
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        guard envelope.data.readableBytes <= 64 * 1024,
            let (relatesTo, matches) = try? WSDiscovery.parseProbeMatches(Array(envelope.data.readableBytesView)),
            relatesTo == self.messageID
        else { return }
        let address = envelope.remoteAddress.ipAddress ?? "?"
        self.found.withLockedValue { found in
            for match in matches where found.count < 1024 { found[match.endpoint] = (address, match) }
        }
    }
}
