import Dispatch
import Foundation
import Logging
import RTSPRelay

/// The addresses trusted for each VMS user (``LoginFailureGate``), kept across restarts: without them, one
/// attacker failing on purpose after a restart would keep the VMS out until it signed in from somewhere
/// trusted — which after a restart is nowhere.
///
/// Where: `$STATE_DIRECTORY` (systemd's `StateDirectory=camgw`, /var/lib/camgw), else beside the configuration;
/// the demo keeps nothing. The file is the daemon's own (0600), written atomically off the relay's loop.
struct LoginTrustFile: Sendable {
    static let name = "login-trust.json"
    let path: String
    private let queue = DispatchQueue(label: "camgw.login-trust")

    init?(configPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let directory = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !directory.isEmpty {
            self.path = String(directory) + "/" + Self.name
        } else if let configPath {
            let directory = FilePath.directory(of: configPath)
            self.path = (directory.isEmpty ? "." : directory) + "/" + Self.name
        } else {
            return nil
        }
    }

    /// The most the file can hold: 4096 users × 16 addresses, a few hundred bytes each.
    static let maxBytes = 16 << 20

    /// What was saved, for the configured `users` only; nothing (and a warning) when the file is missing,
    /// oversized or not what the gateway writes. The gate bounds what it takes per user and in users.
    func load(users: Set<String>, logger: Logger) -> [LoginFailureGate.Trust] {
        guard FileManager.default.fileExists(atPath: self.path) else { return [] }
        do {
            let size = try FileManager.default.attributesOfItem(atPath: self.path)[.size] as? Int ?? 0
            guard size <= Self.maxBytes else {
                throw AtomicFile.Failure(description: "\(size) bytes, more than the gateway ever writes")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: self.path))
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            let trusts = try decoder.decode([LoginFailureGate.Trust].self, from: data).filter {
                users.contains($0.user) && !$0.address.contains("/") && CIDR($0.address) != nil
            }
            logger.info(
                "trusted VMS addresses restored",
                metadata: ["count": "\(trusts.count)", "file": "\(self.path)"]
            )
            return trusts
        } catch {
            logger.warning(
                "trusted VMS addresses not restored: the file is not what the gateway wrote",
                metadata: ["file": "\(self.path)", "error": "\(error)"]
            )
            return []
        }
    }

    func save(_ trusts: [LoginFailureGate.Trust], logger: Logger) {
        let path = self.path
        self.queue.async {
            // A write the daemon died in (a container's pid 1 comes back with the same pid) leaves a temporary
            // file that would refuse every later save; the queue is the only writer.
            unlink("\(path).tmp-\(getpid())")
            do {
                let encoder = JSONEncoder()
                encoder.dateEncodingStrategy = .secondsSince1970
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                let text = String(decoding: try encoder.encode(trusts), as: UTF8.self) + "\n"
                try AtomicFile.write(text, to: path, mode: 0o600, keepBackup: false)
            } catch {
                logger.warning("trusted VMS addresses not saved", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }
}
