import NIOCore

/// A token bucket over packets: `rate` a second on average, bursts up to `burst`. What a reader may send toward
/// a camera is bounded by one of these, so a VMS (or whoever holds its credentials) cannot flood a camera
/// through the gateway.
public struct PacketRateLimiter: Sendable {
    public let rate: Int
    public let burst: Int
    private var tokens: Double
    private var last: NIODeadline?

    public init(rate: Int, burst: Int) {
        self.rate = rate
        self.burst = burst
        self.tokens = Double(burst)
    }

    /// Whether one more packet may pass now.
    public mutating func admit(now: NIODeadline) -> Bool {
        if let last {
            let elapsed = Double((now - last).nanoseconds) / 1e9
            self.tokens = min(Double(self.burst), self.tokens + max(0, elapsed) * Double(self.rate))
        }
        self.last = now
        guard self.tokens >= 1 else { return false }
        self.tokens -= 1
        return true
    }
}
