import ArgumentParser
import RTSPRelay

#if canImport(Glibc)
import Glibc
#endif

/// `camgw hash-password`: the `[[user]]` entry for a VMS account. The password comes from standard input, never
/// the command line (where `ps` and the shell history would keep it), and only its Digest HA1s are printed.
struct HashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print a [[user]] entry (Digest HA1s) for a VMS account; the password is read from stdin.",
        discussion: """
            Example:
              printf '%s' "$VMS_PASSWORD" | camgw hash-password --user vms --stream lobby/main >> /etc/camgw/gateway.toml
            """
    )

    @Option(help: "The user name the VMS logs in with.")
    var user: String

    @Option(help: "The realm the gateway announces ([server] realm).")
    var realm = "CamGateway"

    @Option(help: "A stream the user may read (camera/stream, camera/* or *); repeatable.")
    var stream: [String] = []

    func validate() throws {
        guard StreamPath.isName(self.user) else {
            throw ValidationError("--user must be 1–64 characters of A–Z a–z 0–9 . _ -")
        }
    }

    func run() throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("no password on standard input")
        }
        let user = ReaderAccessPolicy.User.withPassword(self.user, line, realm: self.realm, streams: self.stream)
        let streams = (self.stream.isEmpty ? ["*"] : self.stream).map { "\"\($0)\"" }.joined(separator: ", ")
        print(
            """
            [[user]]
            name = "\(user.name)"
            ha1_md5 = "\(user.ha1MD5 ?? "")"
            ha1_sha256 = "\(user.ha1SHA256 ?? "")"
            streams = [\(streams)]
            """
        )
    }
}
