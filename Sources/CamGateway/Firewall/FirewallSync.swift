import Foundation

/// After an allowlist edit, the loaded egress lock's per-camera set elements are brought in line with the file in
/// one nft transaction, without reloading the ruleset: what the cameras tried stays counted, and no packet meets a
/// half-loaded ruleset. The loaded elements are read back from the kernel rather than assumed from the old file,
/// so an earlier edit that could not update the sets is repaired by the next one.
enum FirewallSync {
    enum Outcome: Equatable {
        /// No `[appliance]`, no nft, or no egress lock loaded on this machine: nothing to update.
        case notLoaded
        case unchanged
        case updated([String])
        /// The lock is loaded but could not be read or changed (no CAP_NET_ADMIN): it is out of date.
        case failed(String)
    }

    static func afterEdit(text: String, configPath: String, nft: String = NFT.defaultPath) -> Outcome {
        guard let configuration = try? GatewayConfig.parse(text, file: configPath, readSecrets: false),
            configuration.appliance != nil, let wanted = try? FirewallElements(configuration)
        else { return .notLoaded }
        // Without nftables on this machine there is no lock to keep current.
        guard FileManager.default.isExecutableFile(atPath: nft) else { return .notLoaded }
        let loaded = NFT.listGatewayTables(executable: nft)
        if let failure = loaded.failures.values.first(where: { !$0.contains("No such file or directory") }) {
            return .failed(failure)
        }
        guard loaded.failures.isEmpty else { return .notLoaded }
        let commands = wanted.update(from: FirewallElements.loaded(fromJSON: loaded.objects))
        guard !commands.isEmpty else { return .unchanged }
        guard let result = NFT.run(["-f", "-"], input: commands.joined(separator: "\n") + "\n", executable: nft) else {
            return .failed("cannot run \(nft)")
        }
        return result.status == 0 ? .updated(commands) : .failed(result.errors)
    }

    /// What the admin reads after an edit; true when the lock is out of date.
    static func report(_ outcome: Outcome) -> Bool {
        switch outcome {
        case .notLoaded, .unchanged:
            return false
        case .updated(let commands):
            print("egress lock updated in place (\(commands.count) set change(s)); its counts are kept")
            return false
        case .failed(let reason):
            printError(
                "camgw: saved, but the loaded egress lock was not updated (\(reason)): run `camgw firewall apply` as root"
            )
            return true
        }
    }
}
