import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One admin edit of the configuration: under the edit lock, read the file, change it, validate the whole result
/// (as the daemon would read it), write it atomically with a backup, then ask the running daemon to reload. A
/// refused edit names the reason and leaves the file byte for byte as it was.
enum ConfigEdit {
    /// A secret to store beside the configuration (mode 0640, the configuration's owner and group).
    struct Secret {
        var relativePath: String
        var value: String
    }

    static func perform(
        configPath: String,
        what: String,
        secrets: [Secret] = [],
        updatesFirewall: Bool = false,
        _ change: (inout ConfigEditor) throws(ConfigEditor.Refused) -> Void
    ) throws {
        let newText: String
        do {
            newText = try AtomicFile.withLock(of: configPath) { () throws -> String in
                let oldText: String
                if FileManager.default.fileExists(atPath: configPath) {
                    oldText = try String(contentsOfFile: configPath, encoding: .utf8)
                } else {
                    oldText = ""
                }
                var editor = try ConfigEditor(text: oldText)
                try change(&editor)
                let text = editor.text
                // The whole result, as the daemon will read it; secrets are checked for presence only, as the new
                // ones are written after this check.
                do {
                    _ = try GatewayConfig.parse(text, file: configPath, readSecrets: false)
                } catch {
                    throw ConfigEditor.Refused(description: "\(error)")
                }
                for secret in secrets { try self.writeSecret(secret, configPath: configPath) }
                try AtomicFile.write(text, to: configPath)
                return text
            }
        } catch let refused as ConfigEditor.Refused {
            printError("camgw: refused, \(configPath) unchanged: \(refused)")
            throw AdminExit.refused
        } catch let failure as AtomicFile.Failure {
            printError("camgw: \(failure)")
            throw AdminExit.busy
        }
        print("\(what) (\(configPath))")
        let firewallStale =
            updatesFirewall && FirewallSync.report(FirewallSync.afterEdit(text: newText, configPath: configPath))
        try self.notifyDaemon(configPath: configPath)
        if firewallStale { throw AdminExit.firewallStale }
    }

    /// Asks the daemon named in the file's `[admin]` to reload; a daemon that is not running is not an error.
    static func notifyDaemon(configPath: String) throws {
        let socket = (try? GatewayConfig.load(path: configPath))?.admin.socketPath ?? AdminSettings().socketPath
        let data: Data
        do {
            data = try ControlClient.request("reload", socket: socket)
        } catch .notRunning {
            print("no daemon running at \(socket): it reads the file when it starts")
            return
        } catch {
            printError("camgw: saved, but the daemon did not answer: \(error)")
            throw AdminExit.busy
        }
        guard let reply = try? JSONDecoder().decode(ControlReply.self, from: data) else {
            printError("camgw: saved, but the daemon's answer was not understood")
            throw AdminExit.busy
        }
        guard reply.ok, let summary = reply.reload else {
            printError(
                "camgw: saved, but the running daemon refused it and keeps its configuration: \(reply.error ?? "?")"
            )
            throw AdminExit.daemonRefused
        }
        var parts: [String] = []
        if !summary.added.isEmpty { parts.append("started \(summary.added.joined(separator: ", "))") }
        if !summary.removed.isEmpty { parts.append("stopped \(summary.removed.joined(separator: ", "))") }
        if !summary.changed.isEmpty { parts.append("restarted \(summary.changed.joined(separator: ", "))") }
        parts.append("\(summary.unchanged.count) camera(s) untouched")
        print("daemon reloaded: " + parts.joined(separator: "; "))
    }

    /// Writes a secret file atomically: mode 0640 in a 0750 directory, with the configuration file's owner and
    /// group (root and the service's group `camgw` on an appliance, see deploy/README.md): the daemon reads it,
    /// the admins' group and everyone else do not.
    private static func writeSecret(_ secret: Secret, configPath: String) throws {
        let directory = FilePath.directory(of: configPath)
        let path = GatewayConfig.resolve(secret.relativePath, in: directory.isEmpty ? "." : directory)
        let parent = FilePath.directory(of: path)
        try FileManager.default.createDirectory(
            atPath: parent,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750]
        )
        try AtomicFile.write(secret.value + "\n", to: path, mode: 0o640, keepBackup: true)
        var owner = stat()
        if getuid() == 0, stat(configPath, &owner) == 0 || stat(directory, &owner) == 0 {
            chown(parent, owner.st_uid, owner.st_gid)
            chown(path, owner.st_uid, owner.st_gid)
            chown(path + ".bak", owner.st_uid, owner.st_gid)
        }
    }

    /// A password from standard input (one line) or a file; never from the command line.
    static func readPassword(fromStdin: Bool, file: String?) throws -> String? {
        if fromStdin {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw refuse("--password-stdin: no password on standard input")
            }
            return line
        }
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw refuse("cannot read --password-file \(file)")
            }
            let password = text.trimmingCharacters(in: .newlines)
            guard !password.isEmpty else { throw refuse("--password-file \(file) is empty") }
            return password
        }
        return nil
    }
}
