import RTSPRelay
import Testing

/// Who: anyone on the VMS network, opening connections from one address or one /64. The VMS-side budget
/// nests the surfaces' budgets: a source holds at most its share of the total, an address the VMS signed in
/// from is held to the total only, and a refused acquire takes nothing anywhere.
@Suite struct ConnectionBudgetTests {
    @Test func oneSourceHoldsAQuarterAndTheVMSIsNotHeldToIt() {
        let gate = LoginFailureGate()
        gate.recordSuccess("198.51.100.1", user: "vms")
        let total = 40
        let parent = ConnectionBudget(
            perSource: ConnectionBudget.vmsSidePerSource(total: total),
            total: total,
            exempt: { gate.isTrusted($0) }
        )
        let rtsp = ConnectionBudget(perSource: 256, total: .max, within: parent)
        let onvif = ConnectionBudget(perSource: 256, total: .max, within: parent)
        // A stranger, on both surfaces, and through its /64: 16 in all (the floor; a quarter of 40 is 10).
        let stranger =
            (0..<30).filter { rtsp.acquire("2001:db8:1::\($0)") }.count
            + (0..<30).filter { onvif.acquire("2001:db8:1::ff\($0)") }.count
        #expect(stranger == 16)
        #expect(rtsp.open + onvif.open == parent.open, "a refused acquire takes nothing in the child")
        // The VMS: past the stranger's share, up to the total.
        let vms = (0..<40).filter { _ in rtsp.acquire("198.51.100.1") }.count
        #expect(vms == total - stranger)
        #expect(!onvif.acquire("198.51.100.1"))
        for _ in 0..<vms { rtsp.release("198.51.100.1") }
        #expect(parent.open == stranger)
    }
}
