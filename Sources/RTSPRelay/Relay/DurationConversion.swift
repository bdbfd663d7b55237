import NIOCore

extension Duration {
    /// NIO's timers take `TimeAmount`; configuration speaks `Duration`.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = self.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension TimeAmount {
    var duration: Duration { .nanoseconds(self.nanoseconds) }
}
