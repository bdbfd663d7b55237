import NIOCore
import RTSPRelay
import Testing

/// The failed-login gate as a value: per source, per claimed user, and the trusted sources of a user.
@Suite struct LoginFailureGateTests {
    @Test func perUserLimitSparesTrustedSources() {
        let gate = LoginFailureGate(limit: 10, window: .seconds(60), userLimit: 30, userWindow: .minutes(10))
        let now = NIODeadline.now()
        gate.recordSuccess("198.51.100.1", user: "vms", now: now)
        var reached = false
        for host in 2...9 {
            for _ in 0..<4 { reached = gate.recordFailure("198.51.100.\(host)", user: "vms", now: now) || reached }
        }
        #expect(reached)
        #expect(gate.isLimited("198.51.100.20", user: "vms", now: now))
        #expect(!gate.isLimited("198.51.100.1", user: "vms", now: now))
        #expect(!gate.isLimited("198.51.100.20", user: "other", now: now))
        #expect(!gate.isLimited("198.51.100.20", now: now))
        #expect(!gate.isLimited("198.51.100.20", user: "vms", now: now + .minutes(11)))
        // A trusted source is trusted for a day, then must prove itself again like any other.
        #expect(gate.isLimited("198.51.100.1", user: "vms", now: now + .hours(25) - .minutes(5)) == false)
    }

    @Test func belowTheUserLimitNothingIsRefused() {
        let gate = LoginFailureGate(limit: 10, window: .seconds(60), userLimit: 3000, userWindow: .minutes(10))
        let now = NIODeadline.now()
        for host in 2...9 {
            for _ in 0..<4 { gate.recordFailure("198.51.100.\(host)", user: "vms", now: now) }
        }
        #expect(!gate.isLimited("198.51.100.20", user: "vms", now: now))
    }
}
