/// An RTSP method token. A struct rather than an enum so that a peer's unknown method is representable (and can be
/// answered with 501) without an `other` case in every switch.
public struct RTSPMethod: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let options = RTSPMethod("OPTIONS")
    public static let describe = RTSPMethod("DESCRIBE")
    public static let announce = RTSPMethod("ANNOUNCE")
    public static let setup = RTSPMethod("SETUP")
    public static let play = RTSPMethod("PLAY")
    public static let pause = RTSPMethod("PAUSE")
    public static let record = RTSPMethod("RECORD")
    public static let teardown = RTSPMethod("TEARDOWN")
    public static let getParameter = RTSPMethod("GET_PARAMETER")
    public static let setParameter = RTSPMethod("SET_PARAMETER")
    public static let redirect = RTSPMethod("REDIRECT")

    public var description: String { self.rawValue }
}
