import NIOCore

/// The nonces a server issued in its Digest challenges (RFC 7616 §3.3, §5.4): each challenge gets a fresh random
/// one, each lives `lifetime`, and a nonce is accepted only with a nonce count above the last it was used with
/// (or, without `qop`, once). So a sniffed `Authorization` header is good for nothing: not on another
/// connection, not again later.
///
/// Bounded to `capacity`: past it the nonce that expires first goes. Forgetting an issued nonce can only make a
/// client get `stale=true` and retry, never make a used one valid again, because a nonce the store does not hold
/// is refused.
public struct DigestNonces: Sendable {
    public enum Use: Hashable, Sendable {
        case accepted
        /// The password was right but the nonce is expired or unknown (e.g. issued before a restart): challenge
        /// again with `stale=true`.
        case stale
        /// The same nonce with a count not above its last one, or a second use without `qop`: a replay.
        case replayed
    }

    struct Entry {
        var expires: NIODeadline
        /// The highest nonce count accepted so far; nil before the first use.
        var lastCount: UInt32?
        /// Counts accepted within 64 below the highest: a client on parallel connections may send nc=3 before
        /// nc=2, and neither is a replay.
        var recent: Set<UInt32> = []
    }

    public let lifetime: TimeAmount
    public let capacity: Int
    private var entries: [String: Entry] = [:]

    public init(lifetime: TimeAmount = .minutes(5), capacity: Int = 4096) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    public var count: Int { self.entries.count }

    /// A new nonce for a challenge: 128 random bits, hex.
    public mutating func issue(now: NIODeadline) -> String {
        if self.entries.count >= self.capacity {
            self.entries = self.entries.filter { $0.value.expires > now }
            // Unused nonces go first (a flood of challenges only churns those), then the oldest used ones.
            while self.entries.count >= self.capacity,
                let first = self.entries.min(by: { a, b in
                    (a.value.lastCount == nil ? 0 : 1, a.value.expires) < (
                        b.value.lastCount == nil ? 0 : 1, b.value.expires
                    )
                })
            {
                self.entries[first.key] = nil
            }
        }
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        self.entries[nonce] = Entry(expires: now + self.lifetime, lastCount: nil)
        return nonce
    }

    /// Records a use of `nonce` by a response that proved the password. `count`: the `nc` parameter (8 hex
    /// digits) when the client used `qop`, nil otherwise.
    public mutating func use(_ nonce: String, count: String?, now: NIODeadline) -> Use {
        guard var entry = self.entries[nonce], entry.expires > now else {
            self.entries[nonce] = nil
            return .stale
        }
        if let count {
            let highest = entry.lastCount ?? 0
            guard count.utf8.count == 8, let value = UInt32(count, radix: 16), value > 0,
                value > highest || (highest - value < 64 && !entry.recent.contains(value))
            else {
                return .replayed
            }
            let top = max(highest, value)
            entry.lastCount = top
            entry.recent.insert(value)
            entry.recent = entry.recent.filter { top - $0 < 64 }
            self.entries[nonce] = entry
            return .accepted
        }
        // RFC 2069 style (no qop): the response does not change between requests, so the nonce is single-use.
        guard entry.lastCount == nil else { return .replayed }
        entry.lastCount = 0
        self.entries[nonce] = entry
        return .accepted
    }
}
