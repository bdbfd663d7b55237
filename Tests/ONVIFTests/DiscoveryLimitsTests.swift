import NIOCore
import Testing

@testable import ONVIF

/// Who reaches it: anyone on the VMS network, with any source address. A repeated Probe is answered once; a
/// forged repeat from another address does not silence the VMS; a flood of distinct MessageIDs costs only what
/// the rate limits allow.
@Suite struct DiscoveryLimitsTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test func theFourRepeatsOfOneProbeGetOneAnswer() {
        var limiter = Limiter()
        let answers = (0..<4).map { repeat_ in
            limiter.admit(
                "198.51.100.10",
                probe: "urn:uuid:1",
                wanted: 40,
                now: self.start + .milliseconds(150 * Int64(repeat_))
            )
        }
        #expect(answers == [40, 0, 0, 0])
        // A new probe from the same VMS, a moment later: answered, within what the source has left.
        let next = limiter.admit("198.51.100.10", probe: "urn:uuid:2", wanted: 40, now: self.start + .seconds(1))
        #expect(next == 40)
    }

    /// A probe whose answer a flood cut short (the total budget drained by spoofed probes) is answered again
    /// when its repeat comes: the repeats are the sender's loss recovery.
    @Test func aRepeatOfAProbeAnsweredInPartIsAnsweredAgain() {
        var limiter = Limiter()
        var spoofed = 0
        for index in 0..<40 {
            spoofed += limiter.admit(
                "198.51.100.\(100 + index)",
                probe: "urn:uuid:\(index)",
                wanted: 40,
                now: self.start
            )
        }
        #expect(spoofed == 400, "the burst of the total budget")
        let cut = limiter.admit("198.51.100.10", probe: "urn:uuid:vms", wanted: 40, now: self.start)
        let repeated = limiter.admit("198.51.100.10", probe: "urn:uuid:vms", wanted: 40, now: self.start + .seconds(1))
        #expect(cut == 0)
        #expect(repeated == 40)
    }

    @Test func aForgedRepeatFromAnotherAddressDoesNotSilenceTheVMS() {
        var limiter = Limiter()
        let forged = limiter.admit("198.51.100.66", probe: "urn:uuid:vms", wanted: 5, now: self.start)
        let vms = limiter.admit("198.51.100.10", probe: "urn:uuid:vms", wanted: 5, now: self.start)
        #expect(forged == 5)
        #expect(vms == 5)
    }

    @Test func aRepeatAfterTheWindowIsANewProbe() {
        var probes = RecentProbes()
        let seconds: [Int64] = [0, 9, 11, 12]
        let new = seconds.map { probes.insert(source: "a", messageID: "m", now: self.start + .seconds($0)) }
        #expect(new == [true, false, true, false])
    }

    /// 10,000 distinct MessageIDs: the table stays at its capacity, the oldest go first, and the newest are
    /// still refused as repeats.
    @Test func aFloodOfMessageIDsIsBounded() {
        var probes = RecentProbes()
        let new = (0..<10_000).filter { probes.insert(source: "a", messageID: "\($0)", now: self.start) }
        #expect(new.count == 10_000)
        #expect(probes.count == RecentProbes.capacity)
        let newest = probes.insert(source: "a", messageID: "9999", now: self.start)
        let oldest = probes.insert(source: "a", messageID: "0", now: self.start)
        #expect(!newest)
        #expect(oldest)
    }
}
