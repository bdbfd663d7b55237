import NIOConcurrencyHelpers
import NIOCore

/// Connections to the virtual devices, per source address (IPv6 per /64) and in all, shared by every device's
/// port and the path-mode port: checked at accept, so a source over its share is closed before it can send a byte.
/// The total stays well below the process's file limit, which readers and camera sessions share.
public final class ConnectionBudget: Sendable {
    public struct Full: Error {
        public init() {}
    }

    public let perSource: Int
    public let total: Int
    private let state = NIOLockedValueBox((bySource: [String: Int](), total: 0))

    public init(perSource: Int = 256, total: Int = 2048) {
        self.perSource = perSource
        self.total = total
    }

    /// Takes a slot for `source`; false (and nothing taken) when it or the whole budget is full.
    public func acquire(_ source: String) -> Bool {
        let key = LoginFailureGate.sourceKey(source)
        return self.state.withLockedValue { state in
            guard state.total < self.total, state.bySource[key, default: 0] < self.perSource else { return false }
            state.total += 1
            state.bySource[key, default: 0] += 1
            return true
        }
    }

    public func release(_ source: String) {
        let key = LoginFailureGate.sourceKey(source)
        self.state.withLockedValue { state in
            guard let count = state.bySource[key] else { return }
            state.total -= 1
            state.bySource[key] = count > 1 ? count - 1 : nil
        }
    }

    public var open: Int { self.state.withLockedValue { $0.total } }

    /// One for the whole daemon.
    public static let shared = ConnectionBudget()
}
