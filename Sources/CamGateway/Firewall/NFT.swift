import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `nft` executable, run by the admin commands and the egress unit (never by the daemon, which has no
/// CAP_NET_ADMIN).
///
/// Spawned with posix_spawn and reaped with waitpid rather than through Foundation's `Process`: under the egress
/// unit's sandbox (deploy/systemd/camgw-egress.service) `Process` never noticed nft's exit and waited forever,
/// which the systemd test showed. Here the child's exit is the end of its output pipes and one waitpid.
enum NFT {
    static let defaultPath = "/usr/sbin/nft"

    struct Result {
        var status: Int32
        var output: Data
        var errors: String

        /// The `nftables` array of a `-j` listing; empty when the output is not one.
        var objects: [[String: Any]] {
            let root = try? JSONSerialization.jsonObject(with: self.output) as? [String: Any]
            return root?["nftables"] as? [[String: Any]] ?? []
        }
    }

    /// The gateway's own tables, the only ones `camgw` reads or writes.
    static let gatewayTables = ["inet camgw", "netdev camgw_l2"]

    /// Both gateway tables as `nft -j` listing objects, and nft's message for each that could not be listed (not
    /// loaded: "No such file or directory"; no CAP_NET_ADMIN: "Operation not permitted").
    static func listGatewayTables(
        executable: String = defaultPath
    ) -> (objects: [[String: Any]], failures: [String: String]) {
        var objects: [[String: Any]] = []
        var failures: [String: String] = [:]
        for table in self.gatewayTables {
            let words = table.split(separator: " ").map(String.init)
            guard let listing = self.run(["-j", "list", "table"] + words, executable: executable) else {
                failures[table] = "cannot run \(executable)"
                continue
            }
            if listing.status == 0 { objects += listing.objects } else { failures[table] = listing.errors }
        }
        return (objects, failures)
    }

    /// Runs nft with these arguments (and this standard input); nil when it cannot be started.
    static func run(_ arguments: [String], input: String? = nil, executable: String = defaultPath) -> Result? {
        guard let input0 = Self.pipe() else { return nil }
        guard let output = Self.pipe() else {
            for descriptor in input0 { close(descriptor) }
            return nil
        }
        guard let errors = Self.pipe() else {
            for descriptor in input0 + output { close(descriptor) }
            return nil
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The copies on 0, 1 and 2 survive exec; every pipe descriptor itself is close-on-exec.
        posix_spawn_file_actions_adddup2(&actions, input0[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        for descriptor in [input0[0], output[1], errors[1]] { close(descriptor) }
        guard spawned == 0 else {
            for descriptor in [input0[1], output[0], errors[0]] { close(descriptor) }
            return nil
        }
        if let input {
            // nft reads its whole input before it answers; a write to an nft that died fails (EPIPE), not kills.
            signal(SIGPIPE, SIG_IGN)
            var bytes = Array(input.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { write(input0[1], $0.baseAddress, $0.count) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { break }
                bytes = bytes.dropFirst(written)
            }
        }
        close(input0[1])
        let (standardOutput, standardError) = Self.drain(output[0], errors[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        // Exited: its code; killed by a signal: 128 + the signal, as a shell reports it.
        let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(
            status: code,
            output: standardOutput,
            errors: String(decoding: standardError, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }

    /// A pipe whose two descriptors close on exec (`pipe2` is not visible from Swift's Glibc module).
    private static func pipe() -> [Int32]? {
        var descriptors: [Int32] = [-1, -1]
        guard Glibc.pipe(&descriptors) == 0 else { return nil }
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        return descriptors
    }

    /// Both pipes read to their end together (a listing larger than a pipe's buffer must not block nft while it
    /// also writes an error), then closed.
    private static func drain(_ first: Int32, _ second: Int32) -> (Data, Data) {
        var data = [Data(), Data()]
        var descriptors = [
            pollfd(fd: first, events: Int16(POLLIN), revents: 0), pollfd(fd: second, events: Int16(POLLIN), revents: 0),
        ]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while descriptors.contains(where: { $0.fd >= 0 }) {
            guard poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 || errno == EINTR else { break }
            for index in descriptors.indices where descriptors[index].fd >= 0 && descriptors[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(descriptors[index].fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    data[index].append(contentsOf: buffer[0..<count])
                } else if count == 0 || errno != EINTR {
                    close(descriptors[index].fd)
                    descriptors[index].fd = -1  // poll skips negative descriptors
                }
            }
        }
        for descriptor in descriptors where descriptor.fd >= 0 { close(descriptor.fd) }
        return (data[0], data[1])
    }
}
