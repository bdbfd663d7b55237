/// What a configuration reload did, by camera name.
public struct RelayReloadSummary: Sendable, Hashable, Codable {
    public var added: [String] = []
    public var removed: [String] = []
    /// Restarted: their camera session and readers were closed and the new settings started.
    public var changed: [String] = []
    /// Untouched: the same camera session, the same readers, not a packet lost.
    public var unchanged: [String] = []

    public init() {}

    mutating func sort() {
        self.added.sort()
        self.removed.sort()
        self.changed.sort()
        self.unchanged.sort()
    }
}

/// A configuration the running relay refuses whole; the one it runs stays.
public struct RelayReloadError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { self.reason }
}
