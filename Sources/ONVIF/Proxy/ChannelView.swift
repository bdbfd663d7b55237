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
        return ChannelView(
            videoSource: source,
            profiles: mine.compactMap { Self.tokenAttributes($0).first },
            own: own
        )
    }

    /// The request body with every token rewritten to exactly the channel's own token, or the first token in it
    /// that is not the channel's.
    public func admit(_ request: XMLElement) -> Result<XMLElement, Refused> {
        var refused: String?
        var named = false
        let admitted = Self.map(request) { element in
            guard refused == nil else { return element }
            var element = element
            for (index, attribute) in element.attributes.enumerated() where attribute.name == "token" {
                let token = Self.trimmed(attribute.value)
                guard self.own.contains(token) else {
                    refused = token
                    return element
                }
                element.attributes[index].value = token
                named = true
            }
            guard Self.isTokenElement(element.name), !Self.profileScoped.contains(element.name) else { return element }
            let token = element.trimmedText
            // An element with children is no token; one with none and no text names no token either.
            guard element.elements.isEmpty else {
                refused = "\(element.name) with child elements"
                return element
            }
            // An empty token is no token: a recorder may take it for its first channel's.
            guard !token.isEmpty else {
                refused = "an empty \(element.name)"
                return element
            }
            guard self.own.contains(token) else {
                refused = token
                return element
            }
            element.children = [.text(token)]
            named = true
            return element
        }
        if let refused { return .failure(Refused(token: refused)) }
        // What moves or changes a camera acts on the recorder's first channel when it names none.
        if Self.actingNamespaces.contains(request.namespace ?? ""), !Self.listOperations.contains(request.name),
            !named
        {
            return .failure(Refused(token: "no token of this channel in \(request.name)"))
        }
        return .success(admitted)
    }

    /// PTZ and imaging: their operations act on one profile, node or video source, named by a token.
    static let actingNamespaces: Set<String> = [ONVIFNamespace.ptz, "http://www.onvif.org/ver20/imaging/wsdl"]
    /// The operations there that name none: lists, which the answer filter cuts to the channel's entries.
    static let listOperations: Set<String> = ["GetServiceCapabilities", "GetNodes", "GetConfigurations"]

    public struct Refused: Error, Hashable, Sendable {
        public var token: String
    }

    /// The answer without the entries that are not the channel's: list entries whose token (any `token`
    /// attribute, in any namespace) is another channel's or missing, and source-token choices of other sources.
    public func filter(_ answer: XMLElement) -> XMLElement {
        var answer = answer
        answer.children = answer.children.compactMap { node in
            guard case .element(let child) = node else { return node }
            let tokens = Self.tokenAttributes(child)
            if tokens.isEmpty, Self.listEntries.contains(child.name) { return nil }
            guard tokens.allSatisfy(self.own.contains) else { return nil }
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
            guard tokens.allSatisfy(self.own.contains) else { return nil }
            if child.name.hasSuffix("TokensAvailable") || child.name == "SourceToken" || child.name == "ProfileToken",
                !self.own.contains(child.trimmedText)
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
