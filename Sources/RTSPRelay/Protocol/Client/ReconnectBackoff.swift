/// Exponential backoff with jitter for reconnecting to a camera: `initial` doubling up to `maximum`, reset once a
/// connection has stayed healthy for `healthyAfter`. Jitter spreads the reconnects of many cameras that failed
/// together (a switch reboot) so they do not hit the cameras, or the gateway, in step.
public struct ReconnectBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var healthyAfter: Duration
    /// Fraction of the delay added or removed at random (0.2: ±20 %).
    public var jitter: Double
    public private(set) var attempt = 0

    public init(
        initial: Duration = .milliseconds(500),
        maximum: Duration = .seconds(30),
        healthyAfter: Duration = .seconds(5),
        jitter: Double = 0.2
    ) {
        self.initial = initial
        self.maximum = maximum
        self.healthyAfter = healthyAfter
        self.jitter = jitter
    }

    /// The delay before the next attempt; `random` is uniform in 0..<1 (injected so tests are exact).
    public mutating func nextDelay(random: Double) -> Duration {
        let exponent = min(self.attempt, 30)
        self.attempt += 1
        let base = min(self.initial * (1 << exponent), self.maximum)
        let factor = 1 - self.jitter + 2 * self.jitter * min(max(random, 0), 1)
        return min(base * factor, self.maximum)
    }

    /// A connection that streamed this long before it ended resets the backoff: a camera that restarts now and then
    /// is back within its own boot time, not after a delay grown across outages far apart. A few seconds of video
    /// prove it is more than a camera that answers and drops.
    public mutating func connectionEnded(afterUptime uptime: Duration) {
        if uptime >= self.healthyAfter { self.attempt = 0 }
    }
}
