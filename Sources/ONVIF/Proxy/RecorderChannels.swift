import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A recorder's profiles, shared by the virtual devices of all its channels: fetched with a request the gateway
/// writes (Media GetProfiles, nothing from a VMS in it), kept for a minute, fetched once for however many
/// channels ask at the same moment, and fetched again early — at most every ten seconds — when a request names a
/// token the last answer did not have (a profile the recorder has just made).
public final class RecorderChannels: Sendable {
    private struct State {
        var answer: (profiles: XMLElement, at: NIODeadline)?
        var inFlight: Task<Result<XMLElement, SOAPFault>, Never>?
        var lastForced: NIODeadline?
        /// The video source each channel number was first found at: a recorder whose list later shifts (a
        /// channel left out, the order changed) must not silently hand one channel's device another's camera.
        var pinned: [Int: String] = [:]
    }

    public let name: String
    let client: ONVIFCameraClient
    let logger: Logger
    private let state = NIOLockedValueBox(State())
    static let lifetime: TimeAmount = .seconds(60)
    static let forcedInterval: TimeAmount = .seconds(10)

    public init(name: String, client: ONVIFCameraClient, logger: Logger) {
        self.name = name
        self.client = client
        var logger = logger
        logger[metadataKey: "recorder"] = "\(name)"
        self.logger = logger
    }

    /// The channel's view; `fresh` asks for a new answer when the last one is older than ten seconds.
    public func view(_ selector: ChannelView.Selector, fresh: Bool = false) async throws(SOAPFault) -> ChannelView {
        let profiles = try await self.profiles(fresh: fresh)
        guard let view = ChannelView.learn(profiles: profiles, channel: selector) else {
            throw SOAPFault.cameraUnavailable("the recorder lists no video source for this channel (\(selector))")
        }
        guard case .number(let number) = selector else { return view }
        let pinned = self.state.withLockedValue { state in
            if state.pinned[number] == nil, state.pinned.count < 1024 { state.pinned[number] = view.videoSource }
            return state.pinned[number]
        }
        guard pinned == view.videoSource else {
            self.logger.error(
                "the recorder's channel list changed: set video_source for this channel",
                metadata: ["channel": "\(number)", "was": "\(pinned ?? "?")", "now": "\(view.videoSource)"]
            )
            throw SOAPFault.cameraUnavailable("the recorder's channel \(number) moved to another video source")
        }
        return view
    }

    /// The recorder's video sources, one per channel, in GetProfiles order (what `camgw camera add` counts).
    public func videoSources() async throws(SOAPFault) -> [String] {
        ChannelView.videoSources(in: try await self.profiles(fresh: false))
    }

    private func profiles(fresh: Bool) async throws(SOAPFault) -> XMLElement {
        let now = NIODeadline.now()
        enum Source {
            case cached(XMLElement)
            case fetch(Task<Result<XMLElement, SOAPFault>, Never>)
        }
        let source: Source = self.state.withLockedValue { state in
            if let answer = state.answer, now - answer.at < Self.lifetime {
                let mayForce = state.lastForced.map { now - $0 >= Self.forcedInterval } ?? true
                guard fresh, mayForce else { return .cached(answer.profiles) }
                state.lastForced = now
            }
            if let running = state.inFlight { return .fetch(running) }
            let task = Task { [client] () -> Result<XMLElement, SOAPFault> in
                do throws(SOAPFault) {
                    let answer = try await client.call(
                        XMLElement(namespace: ONVIFNamespace.media, name: "GetProfiles"),
                        namespace: ONVIFNamespace.media,
                        limits: .recorderProfiles
                    )
                    guard answer.namespace == ONVIFNamespace.media, answer.name == "GetProfilesResponse" else {
                        throw SOAPFault.cameraUnavailable(
                            "the recorder answered \(answer.name), not GetProfilesResponse"
                        )
                    }
                    return .success(answer)
                } catch {
                    return .failure(error)
                }
            }
            state.inFlight = task
            return .fetch(task)
        }
        switch source {
        case .cached(let profiles):
            return profiles
        case .fetch(let task):
            let result = await task.value
            self.state.withLockedValue { state in
                guard state.inFlight == task else { return }
                state.inFlight = nil
                if case .success(let profiles) = result { state.answer = (profiles, .now()) }
            }
            return try result.get()
        }
    }
}
