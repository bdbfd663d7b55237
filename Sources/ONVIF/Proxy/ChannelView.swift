/// One recorder channel's share of the recorder's ONVIF device: the tokens of its profiles and of everything they
/// reference, learned from the recorder's own GetProfiles answer. A virtual device for a channel forwards only
/// requests whose tokens are all its own (each rewritten to the exact token, nothing around it) and shows only
/// the entries of an answer whose tokens are its own — so a VMS that enrolled channel 3 can neither see nor
/// stream, move or reconfigure channel 7 through it, whatever token it guesses.
///
/// Plain value: the recorder's answer in, decisions out; ``RecorderChannels`` fetches and caches the answer.
public struct ChannelView: Sendable, Hashable {
    /// Which of the recorder's video sources a channel is.
    public enum Selector: Sendable, Hashable {
        /// The n-th distinct video source (1-based) in the recorder's GetProfiles answer, as recorders number
        /// their channels.
        case number(Int)
        /// The recorder's own token for it (`video_source` in the configuration).
        case videoSource(String)
    }

    /// The channel's video source token.
    public var videoSource: String
    /// Its profile tokens, in the recorder's order.
    public var profiles: [String]
    /// Every token the channel's profiles hold: profiles, configurations, sources, PTZ nodes.
    public var own: Set<String>

    /// Element names whose text is scoped by a profile token already checked in the same request (a preset
    /// belongs to the profile it is asked of), so not a token of the profile set.
    static let profileScoped: Set<String> = ["PresetToken", "PresetTourToken"]

    /// Direct children of an answer that are entries of a list: each must carry a token that is the channel's.
    static let listEntries: Set<String> = [
        "Profiles", "Profile", "VideoSources", "AudioSources", "AudioOutputs", "Configurations", "Configuration",
        "PTZNode", "PTZConfiguration", "OSDs", "VideoSourceConfiguration",
    ]

    /// The recorder's video sources in the order its GetProfiles answer first names them: channel n is the n-th.
    public static func videoSources(in answer: XMLElement) -> [String] {
        var seen: Set<String> = []
        return answer.elements.filter { $0.name == "Profiles" }.compactMap(Self.sourceToken).filter {
            seen.insert($0).inserted
        }
    }

    /// The view of the channel `selector` picks, or nil when the recorder has no such video source.
    public static func learn(profiles answer: XMLElement, channel selector: Selector) -> ChannelView? {
        var order: [String] = []
        var bySource: [String: [XMLElement]] = [:]
        for profile in answer.elements where profile.name == "Profiles" {
            guard let source = Self.sourceToken(of: profile) else { continue }
            if bySource[source] == nil { order.append(source) }
            bySource[source, default: []].append(profile)
        }
        let source: String
        switch selector {
        case .number(let number):
            guard number >= 1, number <= order.count else { return nil }
            source = order[number - 1]
        case .videoSource(let token):
            guard bySource[token] != nil else { return nil }
            source = token
        }
        let mine = bySource[source] ?? []
        var own: Set<String> = [source]
        for profile in mine { Self.collectTokens(profile, into: &own) }
        // A token another channel holds too (a recorder that numbers every kind from 000) names neither safely:
        // it is nobody's, so requests naming it are refused and answers carrying it cut.
        var others: Set<String> = []
        for (other, profiles) in bySource where other != source {
            others.insert(other)
            for profile in profiles { Self.collectTokens(profile, into: &others) }
        }
        own.subtract(others)
        return ChannelView(
            videoSource: source,
            profiles: mine.compactMap { Self.tokenAttributes($0).first }.filter(own.contains),
            own: own
        )
    }

    /// The stored token a request's text names, byte for byte: Swift's `==` takes canonically equivalent text
    /// (a Kelvin sign for a K) as equal, and the recorder must get exactly the token that was checked.
    func owned(_ token: String) -> String? {
        let trimmed = Self.trimmed(token)
        return self.own.first { $0.utf8.elementsEqual(trimmed.utf8) }
    }

    /// The request body with every token rewritten to exactly the channel's own token, or the first token in it
    /// that is not the channel's. Tokens must be direct children (or attributes of direct children) of the
    /// operation, as the ONVIF schemas put them; an operation that acts on one profile, source or node must name
    /// it, since a recorder takes a missing one for its first channel's.
    public func admit(_ request: XMLElement) -> Result<XMLElement, Refused> {
        var named: Set<String> = []
        var admitted = request
        for index in admitted.children.indices {
            guard case .element(var child) = admitted.children[index] else { continue }
            for (position, attribute) in child.attributes.enumerated() where attribute.name == "token" {
                guard let token = self.owned(attribute.value) else {
                    return .failure(Refused(token: Self.trimmed(attribute.value)))
                }
                child.attributes[position].value = token
                named.insert(Self.tokenAttribute)
            }
            if Self.isTokenElement(child.name), !Self.profileScoped.contains(child.name) {
                // An element with children is no token; an empty one names none (a recorder may take it for its
                // first channel's).
                guard child.elements.isEmpty else {
                    return .failure(Refused(token: "\(child.name) with child elements"))
                }
                guard !child.trimmedText.isEmpty else { return .failure(Refused(token: "an empty \(child.name)")) }
                guard let token = self.owned(child.text) else { return .failure(Refused(token: child.trimmedText)) }
                child.children = [.text(token)]
                named.insert(child.name)
            }
            // Below the operation's own children, no token belongs in a request the gateway forwards.
            if let nested = Self.firstNestedToken(in: child.elements) {
                return .failure(Refused(token: "\(nested) nested in \(child.name)"))
            }
            admitted.children[index] = .element(child)
        }
        for attribute in request.attributes where attribute.name == "token" {
            return .failure(Refused(token: "a token on \(request.name) itself (\(Self.trimmed(attribute.value)))"))
        }
        if let required = Self.scope(of: request), named.isDisjoint(with: required) {
            return .failure(
                Refused(token: "no \(required.sorted().joined(separator: " or ")) of this channel in \(request.name)")
            )
        }
        return .success(admitted)
    }

    static func firstNestedToken(in elements: [XMLElement]) -> String? {
        for element in elements {
            if !Self.tokenAttributes(element).isEmpty { return "a token attribute" }
            if Self.isTokenElement(element.name), !Self.profileScoped.contains(element.name) { return element.name }
            if let deeper = Self.firstNestedToken(in: element.elements) { return deeper }
        }
        return nil
    }

    static let imaging = "http://www.onvif.org/ver20/imaging/wsdl"
    /// What a `token` attribute on a direct child (a configuration being set) counts as in ``scope(of:)``.
    static let tokenAttribute = "token attribute"

    /// Operations that act on one thing of a channel, and the token elements that may name it; nil for lists and
    /// recorder-wide operations (whose answers the filter cuts to the channel's entries).
    static func scope(of request: XMLElement) -> Set<String>? {
        let name = request.name
        switch request.namespace {
        case Self.imaging?:
            return name == "GetServiceCapabilities" ? nil : ["VideoSourceToken"]
        case ONVIFNamespace.ptz?:
            if ["GetServiceCapabilities", "GetNodes", "GetConfigurations"].contains(name) { return nil }
            if name.hasPrefix("GetNode") { return ["NodeToken"] }
            if name.contains("Configuration") {
                return ["ConfigurationToken", "PTZConfigurationToken", Self.tokenAttribute]
            }
            return ["ProfileToken"]
        case ONVIFNamespace.media?, ONVIFNamespace.media2?:
            if name == "GetServiceCapabilities" { return nil }
            // The stream, the snapshot and a profile's own operations default to the first profile without one.
            let profileOperations: Set<String> = [
                "GetStreamUri", "GetSnapshotUri", "GetProfile", "SetSynchronizationPoint", "StartMulticastStreaming",
                "StopMulticastStreaming", "DeleteProfile",
            ]
            if profileOperations.contains(name) || name.hasPrefix("GetCompatible") || name.hasPrefix("Add")
                || name.hasPrefix("Remove")
            {
                return ["ProfileToken"]
            }
            // Lists (GetProfiles, GetVideoSources, …Configurations): an optional token is checked if given.
            if name.hasPrefix("Get"), name.hasSuffix("s") { return nil }
            return ["ProfileToken", "ConfigurationToken", "VideoSourceToken", "OSDToken", "Token", Self.tokenAttribute]
        default:
            return nil
        }
    }

    public struct Refused: Error, Hashable, Sendable {
        public var token: String
    }

    /// The answer without the entries that are not the channel's: list entries whose token (any `token`
    /// attribute, in any namespace) is another channel's or missing, and source-token choices of other sources.
    public func filter(_ answer: XMLElement) -> XMLElement {
        var answer = answer
        answer.children = answer.children.compactMap { node in
            guard case .element(let child) = node else { return node }
            // Presets belong to the profile the request named, which was checked.
            if child.name == "Preset" || child.name == "PresetTour" { return node }
            let tokens = Self.tokenAttributes(child)
            if tokens.isEmpty, Self.listEntries.contains(child.name) { return nil }
            guard tokens.allSatisfy({ self.owned($0) != nil }) else { return nil }
            return .element(self.filterNested(child))
        }
        return answer
    }

    /// Below the top level: entries with a foreign token go, and so do the `…TokensAvailable` choices (the
    /// options' list of sources) that are not the channel's.
    private func filterNested(_ element: XMLElement) -> XMLElement {
        var element = element
        element.children = element.children.compactMap { node in
            guard case .element(let child) = node else { return node }
            let tokens = Self.tokenAttributes(child)
            guard tokens.allSatisfy({ self.owned($0) != nil }) else { return nil }
            if child.name.hasSuffix("TokensAvailable") || child.name == "SourceToken" || child.name == "ProfileToken",
                self.owned(child.trimmedText) == nil
            {
                return nil
            }
            return .element(self.filterNested(child))
        }
        return element
    }

    // MARK: Reading the recorder's answer

    static func sourceToken(of profile: XMLElement) -> String? {
        guard let configuration = profile.elements.first(where: { $0.name == "VideoSourceConfiguration" }),
            let token = configuration.elements.first(where: { $0.name == "SourceToken" })?.trimmedText,
            !token.isEmpty
        else { return nil }
        return token
    }

    /// Every `token` attribute (any namespace: a recorder could qualify it to slip an entry past a filter that
    /// looks for the plain one) and every `…Token` element's text below `element`.
    static func collectTokens(_ element: XMLElement, into tokens: inout Set<String>) {
        for token in Self.tokenAttributes(element) { tokens.insert(token) }
        if Self.isTokenElement(element.name), element.elements.isEmpty, !Self.profileScoped.contains(element.name) {
            let token = element.trimmedText
            if !token.isEmpty { tokens.insert(token) }
        }
        for child in element.elements { Self.collectTokens(child, into: &tokens) }
    }

    static func tokenAttributes(_ element: XMLElement) -> [String] {
        element.attributes.filter { $0.name == "token" }.map { Self.trimmed($0.value) }
    }

    static func isTokenElement(_ name: String) -> Bool { name.hasSuffix("Token") }

    static func trimmed(_ text: String) -> String {
        String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// `transform` applied to every element, children first.
    static func map(_ element: XMLElement, _ transform: (XMLElement) -> XMLElement) -> XMLElement {
        var element = element
        element.children = element.children.map { node in
            guard case .element(let child) = node else { return node }
            return .element(Self.map(child, transform))
        }
        return transform(element)
    }
}
