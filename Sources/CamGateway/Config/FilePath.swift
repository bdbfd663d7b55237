/// Path arithmetic the configuration needs, on plain strings: Foundation's `deletingLastPathComponent` on Linux
/// traps on a one-character name ("a", "a/"), and `--config a` is what an admin in /etc/camgw types.
enum FilePath {
    /// The directory part of `path`: "" for a bare name, "/" for a file in the root; trailing slashes ignored.
    static func directory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        var directory = trimmed[..<slash]
        while directory.hasSuffix("/") { directory = directory.dropLast() }
        return directory.isEmpty && path.hasPrefix("/") ? "/" : String(directory)
    }
}
