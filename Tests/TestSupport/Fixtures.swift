import Foundation
import NIOCore

/// The shared fixtures (real camera replies from public sources) live beside the repository, in
/// `../shared/fixtures`; `CAMGW_FIXTURES` overrides the location.
public enum Fixtures {
    public static var root: URL {
        if let override = ProcessInfo.processInfo.environment["CAMGW_FIXTURES"] {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    /// The repository root, found from this file's path.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// Every file of a fixture folder, sorted by name.
    public static func files(in folder: String) throws -> [URL] {
        let directory = self.root.appendingPathComponent(folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        return names.map { directory.appendingPathComponent($0) }
    }

    public static func bytes(_ relativePath: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: self.root.appendingPathComponent(relativePath)))
    }

    public static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: self.root.appendingPathComponent(relativePath), encoding: .utf8)
    }
}
