import Foundation

/// The `nft` executable, run by the admin commands (never by the daemon, which has no CAP_NET_ADMIN).
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

    /// Runs nft with these arguments (and this standard input); nil when the executable cannot be started.
    static func run(_ arguments: [String], input: String? = nil, executable: String = defaultPath) -> Result? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        guard (try? process.run()) != nil else { return nil }
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        // Read before waiting: a listing larger than a pipe's buffer would block nft otherwise (its messages on
        // standard error are a few lines).
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            output: data,
            errors: String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
}
