/// Which SSRC a track accepts. The first source is locked in; packets from another SSRC are dropped unless that
/// SSRC persists for `switchAfter` packets in a row (a camera that really restarted its source). A hostile camera
/// that changes SSRC on every packet gets nothing through, and stalls into a reconnect.
public struct SourceLock: Sendable, Hashable {
    public let switchAfter: Int
    public private(set) var locked: UInt32?
    private var candidate: UInt32?
    private var candidateCount = 0

    public init(switchAfter: Int = 8) {
        self.switchAfter = switchAfter
    }

    /// Whether to accept a packet from `ssrc`.
    public mutating func accept(_ ssrc: UInt32) -> Bool {
        guard let locked = self.locked else {
            self.locked = ssrc
            return true
        }
        if ssrc == locked {
            self.candidate = nil
            self.candidateCount = 0
            return true
        }
        if ssrc == self.candidate {
            self.candidateCount += 1
        } else {
            self.candidate = ssrc
            self.candidateCount = 1
        }
        guard self.candidateCount >= self.switchAfter else { return false }
        self.locked = ssrc
        self.candidate = nil
        self.candidateCount = 0
        return true
    }

    /// A new camera session: any source may be locked in again.
    public mutating func reset() {
        self = SourceLock(switchAfter: self.switchAfter)
    }
}
