import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Connections per source address (IPv6 per /64) and in all, checked at accept, so a source over its share is
/// closed before it can send a byte. Budgets nest: each surface (the virtual devices, the RTSP server) has its own
/// per-source share inside one VMS-side budget for the whole daemon, whose total stays below the process's file
/// limit by what the cameras' sessions need — so no number of VMS-side connections, from however many
/// addresses, can leave the gateway unable to reach a camera.
public final class ConnectionBudget: Sendable {
    public struct Full: Error {
        public init() {}
    }

    public let perSource: Int
    public let total: Int
    private let parent: ConnectionBudget?
    private let state = NIOLockedValueBox((bySource: [String: Int](), total: 0))

    /// Sources not held to `perSource` (only to the total): the addresses the VMS signed in from.
    private let exempt: (@Sendable (String) -> Bool)?

    public init(
        perSource: Int = 256,
        total: Int = 2048,
        within parent: ConnectionBudget? = nil,
        exempt: (@Sendable (String) -> Bool)? = nil
    ) {
        self.perSource = perSource
        self.total = total
        self.parent = parent
        self.exempt = exempt
    }

    /// Takes a slot for `source` here and in the enclosing budget; false (and nothing taken) when either is full.
    public func acquire(_ source: String) -> Bool {
        let key = LoginFailureGate.sourceKey(source)
        // Asked before the lock: the exemption takes the login gate's lock, never while holding this one.
        let exempt = self.exempt?(source) ?? false
        return self.state.withLockedValue { state in
            guard state.total < self.total, exempt || state.bySource[key, default: 0] < self.perSource else {
                return false
            }
            // Child, then parent: never the other way round, so the two locks cannot deadlock.
            if let parent = self.parent, !parent.acquire(source) { return false }
            state.total += 1
            state.bySource[key, default: 0] += 1
            return true
        }
    }

    /// Gives back a slot `acquire` took.
    public func release(_ source: String) {
        let key = LoginFailureGate.sourceKey(source)
        let released = self.state.withLockedValue { state -> Bool in
            guard let count = state.bySource[key] else { return false }
            state.total -= 1
            state.bySource[key] = count > 1 ? count - 1 : nil
            return true
        }
        if released { self.parent?.release(source) }
    }

    public var open: Int { self.state.withLockedValue { $0.total } }

    /// VMS-side connections the daemon may hold: at most `configured`, and at most a third of the descriptors
    /// left under the file limit once the cameras' sessions are set aside (one TCP connection and six UDP
    /// sockets per stream, plus 128 for listeners, logs and the admin) — a third, because a UDP reader holds
    /// two sockets per track beside its RTSP connection.
    public static func vmsSideTotal(configured: Int?, streams: Int, fileLimit: Int? = nil) -> Int {
        let limit = fileLimit ?? Self.openFileLimit()
        let reserved = 128 + 7 * streams
        let fromLimit = max(16, (limit - reserved) / 3)
        return min(configured ?? fromLimit, fromLimit)
    }

    /// One source's share of the VMS-side total, RTSP and ONVIF together: a quarter (at least 16), so no one
    /// address — or /64 — fills the budget with idle connections while each surface's own limit is generous.
    /// An address the VMS signed in from is exempt (see `exempt`): a recording server pulling many cameras from
    /// one address is not held to a stranger's share.
    public static func vmsSidePerSource(total: Int) -> Int { max(16, total / 4) }

    static func openFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return min(Int(clamping: limit.rlim_cur), 1 << 20)  // RLIM_INFINITY is the largest value
    }

    /// For servers started without one (tests, the simulator's): one for the process.
    public static let shared = ConnectionBudget()
}
