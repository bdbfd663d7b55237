import Foundation

/// A network namespace a test creates and deletes: its own loopback (and, later, veth links), so that tests can
/// use multicast and firewall rules without sending a packet anywhere outside it. Needs root (CI runs as root).
public final class NetworkNamespace: Sendable {
    public let name: String

    /// Whether this process may create namespaces: root, with iproute2 installed.
    public static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
    }

    private init(name: String) {
        self.name = name
    }

    /// A new namespace with its loopback up; with `multicastLoopback`, multicast routed to the loopback, so
    /// that a group sent to inside the namespace is heard inside it and nowhere else.
    public static func create(multicastLoopback: Bool = false) async throws -> NetworkNamespace {
        let namespace = NetworkNamespace(name: "camgw-\(UInt32.random(in: 0...UInt32.max))")
        try await namespace.ip(["netns", "add", namespace.name])
        do {
            try await namespace.ip(["-n", namespace.name, "link", "set", "lo", "up"])
            if multicastLoopback {
                try await namespace.ip(["-n", namespace.name, "link", "set", "lo", "multicast", "on"])
                try await namespace.ip(["-n", namespace.name, "route", "add", "224.0.0.0/4", "dev", "lo"])
            }
        } catch {
            await namespace.delete()
            throw error
        }
        return namespace
    }

    /// A veth pair from this namespace to `other`, each end up with its address (CIDR), and multicast routed
    /// out of this end: two hosts on one link, as a camera and the gateway are. Returns the interface names.
    @discardableResult
    public func link(
        address: String,
        to other: NetworkNamespace,
        address otherAddress: String,
        multicastRoute: Bool = true,
        name: String? = nil
    ) async throws -> (String, String) {
        let suffix = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        let mine = name ?? "gw\(suffix)"
        let theirs = "cam\(suffix)"
        try await self.ip([
            "-n", self.name, "link", "add", mine, "type", "veth", "peer", "name", theirs, "netns", other.name,
        ])
        try await self.ip(["-n", self.name, "addr", "add", address, "dev", mine])
        try await self.ip(["-n", self.name, "link", "set", mine, "up"])
        try await self.ip(["-n", other.name, "addr", "add", otherAddress, "dev", theirs])
        try await self.ip(["-n", other.name, "link", "set", theirs, "up"])
        if multicastRoute { try await self.ip(["-n", self.name, "route", "add", "224.0.0.0/4", "dev", mine]) }
        try await self.ip(["-n", other.name, "route", "add", "224.0.0.0/4", "dev", theirs])
        return (mine, theirs)
    }

    /// `ip route add default via <gateway>` inside the namespace.
    public func defaultRoute(via gateway: String) async throws {
        try await self.ip(["-n", self.name, "route", "add", "default", "via", gateway])
    }

    /// The MAC address of an interface inside the namespace.
    public func mac(of interface: String) async throws -> String {
        let result = try await ExternalTool.run(
            "/usr/sbin/ip",
            ["-n", self.name, "-br", "link", "show", interface],
            timeout: 10
        )
        guard let mac = result.stdout.split(separator: " ").first(where: { $0.split(separator: ":").count == 6 }) else {
            throw Failure(command: "ip link show \(interface)", result.stdout + result.stderr)
        }
        return String(mac)
    }

    /// Kills what still runs inside and deletes the namespace.
    public func delete() async {
        if let pids = try? await ExternalTool.run("/usr/sbin/ip", ["netns", "pids", self.name], timeout: 10) {
            for pid in pids.stdout.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        _ = try? await ExternalTool.run("/usr/sbin/ip", ["netns", "delete", self.name], timeout: 10)
    }

    /// Runs `tool` inside the namespace.
    public func run(_ tool: String, _ arguments: [String], timeout: Double = 30) async throws -> ExternalTool.Result {
        try await ExternalTool.run("/usr/sbin/ip", ["netns", "exec", self.name, tool] + arguments, timeout: timeout)
    }

    private func ip(_ arguments: [String]) async throws {
        let result = try await ExternalTool.run("/usr/sbin/ip", arguments, timeout: 10)
        guard result.status == 0 else {
            throw Failure(command: "ip " + arguments.joined(separator: " "), result.stderr)
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var command: String
        public var stderr: String
        public init(command: String, _ stderr: String) {
            self.command = command
            self.stderr = stderr
        }
        public var description: String { "\(self.command): \(self.stderr)" }
    }
}
