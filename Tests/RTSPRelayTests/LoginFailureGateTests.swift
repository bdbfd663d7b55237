import Foundation
import NIOConcurrencyHelpers
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

/// Who reaches it: anyone on the VMS network, from one address, a /64 of them, or many.
@Suite struct LoginFailureGateAttackTests {
    static let vms = "2001:db8:1:2::10"
    static let neighbour = "2001:db8:1:2::66"

    /// A neighbour in the VMS's /64 fails on purpose: its /64 is refused, the VMS's own address is not (for the
    /// user it signed in as), and the neighbour cannot borrow that trust.
    @Test func aNeighbourInTheSame64NeitherLocksOutNorBorrowsTheVMS() {
        let gate = LoginFailureGate(limit: 10, window: .seconds(60), userLimit: 30, userWindow: .minutes(10))
        let now = NIODeadline.now()
        gate.recordSuccess(Self.vms, user: "vms", now: now)
        for _ in 0..<40 { gate.recordFailure(Self.neighbour, user: "vms", now: now) }
        #expect(gate.isLimited(Self.neighbour, user: "vms", now: now))
        #expect(gate.isLimited(Self.neighbour, now: now))
        #expect(!gate.isLimited(Self.vms, user: "vms", now: now))
        // Another spelling of the VMS's address is the same address.
        #expect(!gate.isLimited("2001:DB8:1:2:0:0:0:10", user: "vms", now: now))
        // Trust is for the user it signed in as: for another name the VMS's /64 is refused like the neighbour.
        #expect(gate.isLimited(Self.vms, user: "other", now: now))
    }

    /// A trusted address that fails on its own is refused by its own count: trust is not unlimited guessing.
    /// Its own, not its /64's: 9 failures of the neighbour and one of its own leave it free.
    @Test func aTrustedAddressHasACountOfItsOwn() {
        for address in [Self.vms, "198.51.100.1"] {
            let gate = LoginFailureGate(limit: 10, window: .seconds(60), userLimit: 30, userWindow: .minutes(10))
            let now = NIODeadline.now()
            gate.recordSuccess(address, user: "vms", now: now)
            if address == Self.vms {
                for _ in 0..<9 { gate.recordFailure(Self.neighbour, user: "vms", now: now) }
                gate.recordFailure(address, user: "vms", now: now)
                #expect(!gate.isLimited(address, user: "vms", now: now), "the /64 is at 10, the address at 1")
                for _ in 0..<8 { gate.recordFailure(address, user: "vms", now: now) }
            } else {
                for _ in 0..<9 { gate.recordFailure(address, user: "vms", now: now) }
            }
            #expect(!gate.isLimited(address, user: "vms", now: now))
            gate.recordFailure(address, user: "vms", now: now)
            #expect(gate.isLimited(address, user: "vms", now: now), "\(address)")
        }
    }

    /// Who: a /64 neighbour of a VMS that signs in to ONVIF with HTTP Digest, whose first request carries no
    /// credentials. With the /64 at its limit, the VMS's own address still gets its challenge (a request
    /// without a user is judged by the trusted address's own count), and the neighbour gets none.
    @Test func aRequestWithoutCredentialsFromATrustedAddressIsNotRefused() {
        let gate = LoginFailureGate(limit: 10, window: .seconds(60), userLimit: 30, userWindow: .minutes(10))
        let now = NIODeadline.now()
        gate.recordSuccess(Self.vms, user: "vms", now: now)
        for _ in 0..<10 { gate.recordFailure(Self.neighbour, now: now) }
        #expect(!gate.isLimited(Self.vms, now: now))
        #expect(gate.isLimited(Self.neighbour, now: now))
        #expect(gate.isTrusted(Self.vms, now: now))
        #expect(!gate.isTrusted(Self.neighbour, now: now))
    }

    /// A user removed, or whose password changed: the addresses trusted for it are forgotten (and saved so).
    @Test func forgottenTrustIsForgottenAndSaved() {
        let saved = NIOLockedValueBox<[LoginFailureGate.Trust]?>(nil)
        let gate = LoginFailureGate(onTrustChange: { trusts in saved.withLockedValue { $0 = trusts } })
        gate.recordSuccess("198.51.100.1", user: "vms")
        gate.recordSuccess("198.51.100.2", user: "other")
        gate.forgetTrust(of: ["vms", "nobody"])
        #expect(saved.withLockedValue { $0?.map(\.user) } == ["other"])
        #expect(!gate.isTrusted("198.51.100.1"))
        #expect(gate.isTrusted("198.51.100.2"))
    }

    /// Failures on 10,000 other keys after "vms" reached its limit: the limit stays (a key that is refused is
    /// never the one pushed out), and the table stays at its capacity.
    @Test func aFloodOfOtherKeysDoesNotLiftALimit() {
        var limiter = LoginFailureLimiter(limit: 30, window: .minutes(10))
        let now = NIODeadline.now()
        for _ in 0..<30 { _ = limiter.recordFailure("vms", now: now) }
        for index in 0..<10_000 { _ = limiter.recordFailure("junk-\(index)", now: now + .seconds(1)) }
        #expect(limiter.isLimited("vms", now: now + .seconds(2)))
        #expect(limiter.count <= LoginFailureLimiter.capacity + 1)
    }

    /// Trust saved and given back (a restart): the saved address is trusted again, ages as the clock says, and
    /// one older than a day is dropped.
    @Test func trustSurvivesARestart() {
        let saved = NIOLockedValueBox<[LoginFailureGate.Trust]>([])
        let gate = LoginFailureGate(onTrustChange: { trusts in saved.withLockedValue { $0 = trusts } })
        let now = NIODeadline.now()
        gate.recordSuccess("198.51.100.1", user: "vms", now: now)
        #expect(saved.withLockedValue { $0.map(\.address) } == ["198.51.100.1"])
        // A sign-in within the hour does not write again.
        saved.withLockedValue { $0 = [] }
        gate.recordSuccess("198.51.100.1", user: "vms", now: now + .minutes(5))
        #expect(saved.withLockedValue { $0.isEmpty })
        var trusts = gate.trusted()
        trusts.append(.init(user: "vms", address: "198.51.100.9", at: Date() - 25 * 3600))
        let restarted = LoginFailureGate(trusted: trusts)
        #expect(restarted.trusted().map(\.address) == ["198.51.100.1"])
        for host in 2...9 {
            for _ in 0..<4 { restarted.recordFailure("198.51.100.\(host)", user: "vms") }
        }
        #expect(restarted.isLimited("198.51.100.20", user: "vms"))
        #expect(!restarted.isLimited("198.51.100.1", user: "vms"))
        #expect(restarted.isLimited("198.51.100.9", user: "vms"))
        // A file with 100 addresses for one user: the 16 most recent are taken, as sign-ins would have kept.
        let many = (0..<100).map {
            LoginFailureGate.Trust(user: "vms", address: "198.51.100.\($0)", at: Date() - Double($0))
        }
        let bounded = LoginFailureGate(trusted: many)
        #expect(bounded.trusted().count == 16)
        #expect(bounded.isTrusted("198.51.100.0"))
        #expect(!bounded.isTrusted("198.51.100.99"))
    }
}
