import Foundation
import TestSupport
import Testing

@testable import CamGateway

/// A one-character configuration name (`--config a` typed in /etc/camgw) trapped in Foundation's path code on
/// Linux and ended `camgw check`, every edit and the daemon before they read a line.
@Suite struct FilePathTests {
    @Test(arguments: [
        ("a", ""), ("a/", ""), ("-", ""), ("gw.toml", ""), ("etc/gw.toml", "etc"), ("/gw.toml", "/"),
        ("/etc/camgw/gw.toml", "/etc/camgw"), ("/etc//camgw//gw.toml", "/etc//camgw"), ("/", "/"), ("", ""),
        ("x/a/", "x"), ("//a", "/"),
    ])
    func directoryOf(_ path: String, _ directory: String) {
        #expect(FilePath.directory(of: path) == directory)
    }

    @Test func checkAndEditAConfigurationNamedWithOneCharacter() async throws {
        let site = try AdminCLITests.Site()
        defer { site.remove() }
        try FileManager.default.moveItem(atPath: site.config, toPath: site.directory.appendingPathComponent("g").path)
        let camgw = GatewayProcess.executable.path
        let check = try await ExternalTool.run(
            "sh",
            ["-c", "cd \"$1\" && exec \"$2\" check --config g", "sh", site.directory.path, camgw]
        )
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let add = try await ExternalTool.run(
            "sh",
            [
                "-c", "cd \"$1\" && exec \"$2\" camera add lobby --address 127.0.0.1 --stream main=/m --config g", "sh",
                site.directory.path, camgw,
            ]
        )
        #expect(add.status == 0, "\(add.stdout)\(add.stderr)")
        let text = try String(contentsOfFile: site.directory.appendingPathComponent("g").path, encoding: .utf8)
        #expect(text.contains("name = \"lobby\""))
    }
}
