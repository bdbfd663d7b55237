import NIOConcurrencyHelpers
import NIOCore

/// The failed-login limiter shared by every surface that checks the same credentials: the RTSP server and each
/// virtual ONVIF device. With one per surface, ONVIF was a free oracle for the passwords that also grant video.
///
/// Two counts. Per source — an address, IPv6 by its /64 (one host can rotate through the rest of its prefix) —
/// `limit` failures in `window` refuse that source. Per claimed user name, from any source, `userLimit` failures
/// in `userWindow` refuse that name, so the same guesses spread over many addresses stop too; a source that has
/// signed in as that user before (the VMS itself, the last 16 such sources for a day) is not refused for it,
/// so an attacker who fails on purpose cannot lock the VMS out.
public final class LoginFailureGate: Sendable {
    private struct State {
        var sources: LoginFailureLimiter
        var users: LoginFailureLimiter
        /// Per user: the sources that signed in as it, with when they last did.
        var trusted: [String: [String: NIODeadline]] = [:]
    }

    private let state: NIOLockedValueBox<State>
    static let trustedPerUser = 16
    static let trustedFor: TimeAmount = .hours(24)
    static let trustedUsers = 4096

    public init(
        limit: Int = 10,
        window: TimeAmount = .seconds(60),
        userLimit: Int = 30,
        userWindow: TimeAmount = .minutes(10)
    ) {
        self.state = NIOLockedValueBox(
            State(
                sources: LoginFailureLimiter(limit: limit, window: window),
                users: LoginFailureLimiter(limit: userLimit, window: userWindow)
            )
        )
    }

    /// Whether a login from `source`, claiming `user` (when the credentials name one), is refused unlooked-at.
    public func isLimited(_ source: String, user: String? = nil, now: NIODeadline = .now()) -> Bool {
        let key = Self.sourceKey(source)
        return self.state.withLockedValue { state in
            if state.sources.isLimited(key, now: now) { return true }
            guard let user, state.users.isLimited(user, now: now) else { return false }
            let known = state.trusted[user]?[key].map { now - $0 < Self.trustedFor } ?? false
            return !known
        }
    }

    /// Records a failure; true when this one brought the source or the user to its limit (log it once).
    @discardableResult
    public func recordFailure(_ source: String, user: String? = nil, now: NIODeadline = .now()) -> Bool {
        let key = Self.sourceKey(source)
        return self.state.withLockedValue { state in
            let source = state.sources.recordFailure(key, now: now)
            let user = user.map { state.users.recordFailure($0, now: now) } ?? false
            return source || user
        }
    }

    /// Records a sign-in: the source is trusted for `user` (bounded per user and in users).
    public func recordSuccess(_ source: String, user: String, now: NIODeadline = .now()) {
        let key = Self.sourceKey(source)
        self.state.withLockedValue { state in
            var sources = state.trusted[user] ?? [:]
            sources[key] = now
            if sources.count > Self.trustedPerUser {
                let keep = sources.sorted { $0.value > $1.value }.prefix(Self.trustedPerUser)
                sources = Dictionary(keep.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            }
            state.trusted[user] = sources
            // Names come only from successful sign-ins, so this holds configured users; bounded all the same.
            if state.trusted.count > Self.trustedUsers {
                state.trusted = state.trusted.filter { $0.value.values.contains { now - $0 < Self.trustedFor } }
                if state.trusted.count > Self.trustedUsers { state.trusted = [user: sources] }
            }
        }
    }

    /// An IPv4 address as it is; an IPv6 address as its /64 (`2001:db8:1:2::/64`); anything else as given.
    public static func sourceKey(_ source: String) -> String {
        guard source.contains(":"), case .v6(let address) = try? SocketAddress(ipAddress: source, port: 0) else {
            return source
        }
        let all = withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        // An IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address, not one /64 for them all.
        if all.prefix(10).allSatisfy({ $0 == 0 }), all[10] == 0xFF, all[11] == 0xFF {
            return all[12...].map(String.init).joined(separator: ".")
        }
        let bytes = Array(all.prefix(8))
        let groups = stride(from: 0, to: 8, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":") + "::/64"
    }
}

/// Failed logins per source address: past `limit` in `window`, the source is refused without its credentials
/// being looked at until the window has passed.
public struct LoginFailureLimiter: Sendable {
    public let limit: Int
    public let window: TimeAmount
    private var failures: [String: [NIODeadline]] = [:]

    public init(limit: Int = 10, window: TimeAmount = .seconds(60)) {
        self.limit = limit
        self.window = window
    }

    public func isLimited(_ source: String, now: NIODeadline) -> Bool {
        (self.failures[source]?.filter { now - $0 < self.window }.count ?? 0) >= self.limit
    }

    /// Records a failure; returns true when this one reached the limit (log it once, then stay quiet).
    public mutating func recordFailure(_ source: String, now: NIODeadline) -> Bool {
        var recent = (self.failures[source] ?? []).filter { now - $0 < self.window }
        recent.append(now)
        self.failures[source] = Array(recent.suffix(self.limit))
        if self.failures.count > 4096 {  // bounded: forget sources whose failures have all expired
            self.failures = self.failures.filter { $0.value.contains { now - $0 < self.window } }
            // Still full (failures from more sources than that within one window): the quietest go first.
            if self.failures.count > 4096 {
                let keep = self.failures.sorted { ($0.value.last ?? now) > ($1.value.last ?? now) }.prefix(4096)
                self.failures = Dictionary(keep.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            }
        }
        return recent.count == self.limit
    }
}
