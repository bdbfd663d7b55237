import NIOConcurrencyHelpers
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The failed-login limiter shared by every surface that checks the same credentials: the RTSP server and each
/// virtual ONVIF device. With one per surface, ONVIF was a free oracle for the passwords that also grant video.
///
/// Two counts. Per source — an address, IPv6 by its /64 (one host can rotate through the rest of its prefix) —
/// `limit` failures in `window` refuse that source. Per user, from any source, `userLimit` failures in
/// `userWindow` refuse that name, so the same guesses spread over many addresses stop too. The caller names a
/// user only when it is a configured one who may connect from that source: a name that can never sign in there
/// needs no count of its own (the source's count covers it), and junk names cannot push out the real ones.
///
/// Trust keeps the VMS in. The exact address that signed in as a user (the last 16 such for a day) is neither
/// refused by the user's count nor by its /64's: an attacker who fails on purpose, from anywhere (its /64
/// neighbour included), cannot lock the VMS out, and cannot borrow its trust. A trusted address has a count of
/// its own, so it cannot guess without limit either. Trust outlives a restart when the daemon keeps it
/// (``init(limit:window:userLimit:userWindow:trusted:onTrustChange:)``), or one attacker could lock the VMS out
/// after every restart.
public final class LoginFailureGate: Sendable {
    /// A sign-in to remember: this address signed in as this user, last at `at`.
    public struct Trust: Codable, Sendable, Hashable {
        public var user: String
        public var address: String
        public var at: Date

        public init(user: String, address: String, at: Date) {
            self.user = user
            self.address = address
            self.at = at
        }
    }

    private struct State {
        var sources: LoginFailureLimiter
        /// Exact IPv6 addresses (an IPv4 address is its own source key): the count of a trusted address.
        var addresses: LoginFailureLimiter
        var users: LoginFailureLimiter
        /// Per user: the exact addresses that signed in as it, with when that trust ends and when it was saved.
        /// An end, not a start: a trust restored shortly after boot cannot be dated before the uptime clock began.
        var trusted: [String: [String: (until: NIODeadline, saved: NIODeadline)]] = [:]
    }

    private let state: NIOLockedValueBox<State>
    private let onTrustChange: (@Sendable ([Trust]) -> Void)?
    static let trustedPerUser = 16
    static let trustedFor: TimeAmount = .hours(24)
    static let trustedUsers = 4096
    /// A sign-in refreshes the saved trust at most this often.
    static let saveEvery: TimeAmount = .hours(1)

    public init(
        limit: Int = 10,
        window: TimeAmount = .seconds(60),
        userLimit: Int = 30,
        userWindow: TimeAmount = .minutes(10),
        trusted: [Trust] = [],
        onTrustChange: (@Sendable ([Trust]) -> Void)? = nil
    ) {
        var state = State(
            sources: LoginFailureLimiter(limit: limit, window: window),
            addresses: LoginFailureLimiter(limit: limit, window: window),
            users: LoginFailureLimiter(limit: userLimit, window: userWindow)
        )
        let now = NIODeadline.now()
        let wallClock = Date()
        // What a restart hands back is bounded as what sign-ins build: per user, in users, and in time.
        for trust in trusted.sorted(by: { $0.at > $1.at }) {
            // Wall-clock times on disk, uptime in memory: a saved sign-in is as old as the clock says.
            let age = max(0, wallClock.timeIntervalSince(trust.at))
            let lifetime = Double(Self.trustedFor.nanoseconds) / 1e9
            guard age < lifetime, state.trusted.count < Self.trustedUsers || state.trusted[trust.user] != nil,
                state.trusted[trust.user, default: [:]].count < Self.trustedPerUser
            else { continue }
            let until = now + .nanoseconds(Int64((lifetime - age) * 1e9))
            state.trusted[trust.user, default: [:]][Self.address(trust.address)] = (until, now)
        }
        self.state = NIOLockedValueBox(state)
        self.onTrustChange = onTrustChange
    }

    /// Whether a login from `source`, claiming `user` (a configured user who may come from there), is refused
    /// unlooked-at.
    public func isLimited(_ source: String, user: String? = nil, now: NIODeadline = .now()) -> Bool {
        let key = Self.sourceKey(source)
        let address = Self.address(source)
        return self.state.withLockedValue { state in
            // A request without credentials (user nil) from an address trusted for anyone is judged by that
            // address's own count too: a /64 neighbour's failures must not cost the VMS its challenge.
            let trusted =
                user.map { state.trusted[$0]?[address].map { now < $0.until } ?? false }
                ?? state.trusted.values.contains { $0[address].map { now < $0.until } ?? false }
            if trusted {
                return key == address
                    ? state.sources.isLimited(key, now: now) : state.addresses.isLimited(address, now: now)
            }
            if state.sources.isLimited(key, now: now) { return true }
            guard let user else { return false }
            return state.users.isLimited(user, now: now)
        }
    }

    /// Whether `source` (the exact address) signed in as some user within the last day: the VMS-side budget
    /// does not hold it to one source's share.
    public func isTrusted(_ source: String, now: NIODeadline = .now()) -> Bool {
        let address = Self.address(source)
        return self.state.withLockedValue { state in
            state.trusted.values.contains { $0[address].map { now < $0.until } ?? false }
        }
    }

    /// Forgets the trust of these users (removed, or their credentials changed: an address that signed in
    /// with the old password has proved nothing about the new one).
    public func forgetTrust(of users: some Sequence<String>) {
        self.state.withLockedValue { state in
            var removed = false
            for user in users where state.trusted.removeValue(forKey: user) != nil { removed = true }
            if removed, let onTrustChange = self.onTrustChange {
                onTrustChange(Self.trusts(state.trusted, now: .now()))
            }
        }
    }

    /// Records a failure; true when this one brought the source or the user to its limit (log it once).
    @discardableResult
    public func recordFailure(_ source: String, user: String? = nil, now: NIODeadline = .now()) -> Bool {
        let key = Self.sourceKey(source)
        let address = Self.address(source)
        return self.state.withLockedValue { state in
            let source = state.sources.recordFailure(key, now: now)
            let exact = key != address && state.addresses.recordFailure(address, now: now)
            let user = user.map { state.users.recordFailure($0, now: now) } ?? false
            return source || exact || user
        }
    }

    /// Records a sign-in: the address is trusted for `user` (bounded per user and in users).
    ///
    /// `onTrustChange` runs under the lock, so that saves come in the order the table changed; it must only
    /// hand the table off (the daemon queues the write).
    public func recordSuccess(_ source: String, user: String, now: NIODeadline = .now()) {
        let address = Self.address(source)
        self.state.withLockedValue { state in
            var addresses = state.trusted[user] ?? [:]
            let previous = addresses[address]
            let save = previous.map { now - $0.saved >= Self.saveEvery } ?? true
            addresses[address] = (now + Self.trustedFor, save ? now : previous?.saved ?? now)
            if addresses.count > Self.trustedPerUser,
                let oldest = addresses.min(by: { $0.value.until < $1.value.until })
            {
                addresses[oldest.key] = nil
            }
            state.trusted[user] = addresses
            // Names come only from successful sign-ins, so this holds configured users; bounded all the same.
            if state.trusted.count > Self.trustedUsers {
                state.trusted = state.trusted.filter { $0.value.values.contains { now < $0.until } }
                if state.trusted.count > Self.trustedUsers { state.trusted = [user: addresses] }
            }
            if save, let onTrustChange = self.onTrustChange { onTrustChange(Self.trusts(state.trusted, now: now)) }
        }
    }

    /// The trusted addresses, with wall-clock times, as ``init(limit:window:userLimit:userWindow:trusted:onTrustChange:)`` takes them.
    public func trusted(now: NIODeadline = .now()) -> [Trust] {
        self.state.withLockedValue { Self.trusts($0.trusted, now: now) }
    }

    private static func trusts(
        _ table: [String: [String: (until: NIODeadline, saved: NIODeadline)]],
        now: NIODeadline
    ) -> [Trust] {
        let wallClock = Date()
        let lifetime = Double(Self.trustedFor.nanoseconds) / 1e9
        return table.flatMap { user, addresses in
            addresses.compactMap { address, trust in
                guard now < trust.until else { return nil }
                let remaining = Double((trust.until - now).nanoseconds) / 1e9
                return Trust(user: user, address: address, at: wallClock - (lifetime - remaining))
            }
        }.sorted { ($0.user, $0.address) < ($1.user, $1.address) }
    }

    /// The address itself; an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) as that IPv4 address.
    public static func address(_ source: String) -> String {
        switch Self.parse(source) {
        case .ipv4(let text): text
        // One spelling per address (2001:DB8:0::1 and 2001:db8::1 are one address).
        case .ipv6(let parsed, _): parsed.ipAddress ?? source
        case nil: source
        }
    }

    /// An IPv4 address as it is; an IPv6 address as its /64 (`2001:db8:1:2::/64`); anything else as given.
    public static func sourceKey(_ source: String) -> String {
        guard case .ipv6(_, let bytes) = Self.parse(source) else { return Self.address(source) }
        let groups = stride(from: 0, to: 8, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":") + "::/64"
    }

    private enum Parsed {
        case ipv4(String)
        case ipv6(SocketAddress, [UInt8])
    }

    /// An IPv6 address with its bytes; an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) as that IPv4
    /// address, not one /64 for them all; nil for anything else (IPv4 text is taken as it is).
    private static func parse(_ source: String) -> Parsed? {
        guard source.contains(":"), let parsed = try? SocketAddress(ipAddress: source, port: 0),
            case .v6(let address) = parsed
        else { return nil }
        let all = withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        if all.prefix(10).allSatisfy({ $0 == 0 }), all[10] == 0xFF, all[11] == 0xFF {
            return .ipv4(all[12...].map(String.init).joined(separator: "."))
        }
        return .ipv6(parsed, all)
    }
}

/// Failed logins per key (a source, an address, a user): past `limit` in `window`, the key is refused without
/// its credentials being looked at until the window has passed.
public struct LoginFailureLimiter: Sendable {
    public let limit: Int
    public let window: TimeAmount
    public static let capacity = 4096
    private var failures: [String: [NIODeadline]] = [:]

    public init(limit: Int = 10, window: TimeAmount = .seconds(60)) {
        self.limit = limit
        self.window = window
    }

    public func isLimited(_ key: String, now: NIODeadline) -> Bool {
        (self.failures[key]?.filter { now - $0 < self.window }.count ?? 0) >= self.limit
    }

    public var count: Int { self.failures.count }

    /// Records a failure; returns true when this one reached the limit (log it once, then stay quiet).
    public mutating func recordFailure(_ key: String, now: NIODeadline) -> Bool {
        var recent = (self.failures[key] ?? []).filter { now - $0 < self.window }
        recent.append(now)
        self.failures[key] = Array(recent.suffix(self.limit))
        if self.failures.count > Self.capacity {
            // Bounded, in linear time (this runs under a lock, on the relay's loop): first what has expired,
            // then what is below the limit — never a key that is refused now, so no flood of new keys can
            // lift a limit.
            self.failures = self.failures.filter { $0.value.contains { now - $0 < self.window } }
            if self.failures.count > Self.capacity {
                self.failures = self.failures.filter { $0.value.filter { now - $0 < self.window }.count >= self.limit }
            }
            // More keys refused at once than the table holds: keep as many of them as it holds, this one
            // among them — some limits end early, never all.
            if self.failures.count > Self.capacity {
                let current = self.failures[key]
                self.failures = Dictionary(
                    self.failures.prefix(Self.capacity - 1).map { ($0.key, $0.value) },
                    uniquingKeysWith: { first, _ in first }
                )
                self.failures[key] = current
            }
        }
        return recent.count == self.limit
    }
}
