import GatewayAuth
import NIOCore

/// Answer datagrams: at most 200 a second, bursts of 400, and 80 a second to one source (two full answers for
/// 40 devices): a flood of probes, or probes with a victim's source address, cannot turn the gateway into an
/// amplifier.
///
/// A Probe is answered once: SOAP-over-UDP senders repeat each multicast message (four times, the spec's
/// default) with the same MessageID, and a receiver discards the repeats (SOAP-over-UDP 1.1 §3.4). Answering
/// each repeat sent four times every device's answer, spent the rate budget on copies, and buried a slow
/// client (the wsdiscovery package reads about ten datagrams a second once its own repeats are sent) under
/// duplicates it read instead of the devices it had not seen. Repeats are keyed by source and MessageID, so
/// a forged probe from elsewhere cannot silence the answer to a VMS.
struct Limiter {
    var total = PacketRateLimiter(rate: 200, burst: 400)
    var perSource: [String: PacketRateLimiter] = [:]
    var answered = RecentProbes()

    /// How many of `wanted` datagrams to `source` may go now in answer to the probe `messageID`.
    mutating func admit(_ source: String, probe messageID: String, wanted: Int, now: NIODeadline) -> Int {
        guard !self.answered.contains(source: source, messageID: messageID, now: now) else { return 0 }
        if self.perSource.count > 1024 { self.perSource.removeAll() }
        var bucket = self.perSource[source] ?? PacketRateLimiter(rate: 80, burst: 80)
        defer { self.perSource[source] = bucket }
        var admitted = 0
        while admitted < wanted, bucket.admit(now: now), self.total.admit(now: now) { admitted += 1 }
        // Answered in full: the repeats are copies. Cut by a limit: a repeat (the sender's loss recovery) is
        // answered again, within the same limits, from another device on.
        if admitted == wanted { self.answered.insert(source: source, messageID: messageID, now: now) }
        return admitted
    }
}

/// The probes answered in the last 10 seconds (longer than a sender's repeats take: at most 500 ms each, four
/// times), at most 256 of them: a flood of distinct MessageIDs pushes out the oldest, which then costs only
/// a second answer within the rate limit.
struct RecentProbes {
    static let capacity = 256
    static let window = TimeAmount.seconds(10)

    private var until: [String: NIODeadline] = [:]
    private var order: [String] = []
    private var next = 0

    var count: Int { self.until.count }

    func contains(source: String, messageID: String, now: NIODeadline) -> Bool {
        self.until[source + " " + messageID].map { $0 > now } ?? false
    }

    /// False when this source already sent this MessageID within the window.
    @discardableResult
    mutating func insert(source: String, messageID: String, now: NIODeadline) -> Bool {
        let key = source + " " + messageID
        if let until = self.until[key], until > now { return false }
        if self.until.updateValue(now + Self.window, forKey: key) != nil { return true }
        if self.order.count < Self.capacity {
            self.order.append(key)
        } else {
            self.until[self.order[self.next]] = nil
            self.order[self.next] = key
            self.next = (self.next + 1) % Self.capacity
        }
        return true
    }
}
