import NIOConcurrencyHelpers
import NIOCore

/// The failed-login limiter shared by every surface that checks the same credentials: the RTSP server and each
/// virtual ONVIF device. With one per surface, ONVIF was a free oracle for the passwords that also grant video.
///
/// Sources are counted by address, IPv6 by its /64 (one host can rotate through the rest of its prefix).
public final class LoginFailureGate: Sendable {
    private let state: NIOLockedValueBox<LoginFailureLimiter>

    public init(limit: Int = 10, window: TimeAmount = .seconds(60)) {
        self.state = NIOLockedValueBox(LoginFailureLimiter(limit: limit, window: window))
    }

    public func isLimited(_ source: String, now: NIODeadline = .now()) -> Bool {
        let key = Self.sourceKey(source)
        return self.state.withLockedValue { $0.isLimited(key, now: now) }
    }

    /// Records a failure; true when this one reached the limit (log it once, then stay quiet).
    @discardableResult
    public func recordFailure(_ source: String, now: NIODeadline = .now()) -> Bool {
        let key = Self.sourceKey(source)
        return self.state.withLockedValue { $0.recordFailure(key, now: now) }
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
