import ONVIF
import Testing

/// A recorder channel's virtual device as an attacker on the VMS network sees it: a VMS user granted channel 2
/// tries to read or move another channel by naming its token — directly, padded, namespaced, twice, empty, or
/// inside an element — and the answers the recorder gives for every channel reach the VMS cut to channel 2's.
@Suite struct ChannelViewTests {
    static let tt = "http://www.onvif.org/ver10/schema"
    static let trt = "http://www.onvif.org/ver10/media/wsdl"
    static let tptz = "http://www.onvif.org/ver20/ptz/wsdl"

    /// GetProfiles of a three-channel recorder, two profiles per channel, as a Hikvision NVR numbers them.
    static let profiles: XMLElement = {
        var body = ""
        for channel in 1...3 {
            for stream in 1...2 {
                body += """
                    <trt:Profiles token="Profile_\(channel)0\(stream)" fixed="true">
                      <tt:Name>Channel\(channel)_\(stream)</tt:Name>
                      <tt:VideoSourceConfiguration token="VideoSourceConfig_\(channel)">
                        <tt:Name>VSC</tt:Name><tt:UseCount>2</tt:UseCount>
                        <tt:SourceToken>VideoSource_\(channel)</tt:SourceToken>
                      </tt:VideoSourceConfiguration>
                      <tt:VideoEncoderConfiguration token="VideoEncoder_\(channel)0\(stream)">
                        <tt:Encoding>H264</tt:Encoding>
                      </tt:VideoEncoderConfiguration>
                      <tt:PTZConfiguration token="PTZ_\(channel)"><tt:NodeToken>PTZNode_\(channel)</tt:NodeToken></tt:PTZConfiguration>
                    </trt:Profiles>
                    """
            }
        }
        return try! parse("<trt:GetProfilesResponse>\(body)</trt:GetProfilesResponse>")
    }()

    static func parse(_ body: String) throws -> XMLElement {
        let envelope = """
            <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="\(tt)" xmlns:trt="\(trt)" \
            xmlns:tptz="\(tptz)" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:x="urn:x">\
            <s:Body>\(body)</s:Body></s:Envelope>
            """
        let root = try HardenedXMLParser.parse(Array(envelope.utf8), limits: .vmsRequest)
        return try #require(root.first(namespace: ONVIFNamespace.soapEnvelope, name: "Body")?.elements.first)
    }

    static let channel2 = ChannelView.learn(profiles: profiles, channel: .number(2))!

    @Test func learnsTheNthVideoSourceAndOnlyItsTokens() throws {
        let view = Self.channel2
        #expect(ChannelView.videoSources(in: Self.profiles) == ["VideoSource_1", "VideoSource_2", "VideoSource_3"])
        #expect(view.videoSource == "VideoSource_2")
        #expect(view.profiles == ["Profile_201", "Profile_202"])
        #expect(view.own.contains("VideoEncoder_202") && view.own.contains("PTZNode_2"))
        #expect(!view.own.contains { $0.hasSuffix("_1") || $0.hasSuffix("_3") || $0.contains("_10") })
        let byToken = try #require(ChannelView.learn(profiles: Self.profiles, channel: .videoSource("VideoSource_3")))
        #expect(byToken.profiles == ["Profile_301", "Profile_302"])
        #expect(ChannelView.learn(profiles: Self.profiles, channel: .number(4)) == nil)
        #expect(ChannelView.learn(profiles: Self.profiles, channel: .number(0)) == nil)
        #expect(ChannelView.learn(profiles: Self.profiles, channel: .videoSource("VideoSource_9")) == nil)
    }

    static func refusal(_ body: String) throws -> String? {
        switch Self.channel2.admit(try Self.parse(body)) {
        case .success: return nil
        case .failure(let refused): return refused.token
        }
    }

    static func admitted(_ body: String) throws -> XMLElement {
        switch Self.channel2.admit(try Self.parse(body)) {
        case .success(let element): return element
        case .failure(let refused): throw refused
        }
    }

    @Test(arguments: [
        // Another channel's profile, plainly.
        "<trt:GetStreamUri><trt:ProfileToken>Profile_101</trt:ProfileToken></trt:GetStreamUri>",
        // A second ProfileToken after a good one: a recorder reading the last one would take it.
        "<trt:GetStreamUri><trt:ProfileToken>Profile_201</trt:ProfileToken><trt:ProfileToken>Profile_301</trt:ProfileToken></trt:GetStreamUri>",
        // A token attribute in another namespace, as a recorder that ignores prefixes would read it.
        "<trt:SetVideoEncoderConfiguration><trt:Configuration x:token=\"VideoEncoder_101\"/></trt:SetVideoEncoderConfiguration>",
        // A *Token element with child elements: whatever the recorder makes of it, it is no token of ours.
        "<trt:GetStreamUri><trt:ProfileToken>Profile_201<x:a>Profile_101</x:a></trt:ProfileToken></trt:GetStreamUri>",
        // Media2 names its tokens Token.
        "<tr2:GetVideoEncoderConfigurations><tr2:ConfigurationToken>VideoEncoder_301</tr2:ConfigurationToken></tr2:GetVideoEncoderConfigurations>",
        "<tr2:GetProfiles><tr2:Token>Profile_102</tr2:Token></tr2:GetProfiles>",
        // A PTZ move on another channel's node and one without any token (the recorder's default channel).
        "<tptz:ContinuousMove><tptz:ProfileToken>Profile_301</tptz:ProfileToken></tptz:ContinuousMove>",
        "<tptz:ContinuousMove><tptz:Velocity><tt:PanTilt x=\"0.5\" y=\"0\"/></tptz:Velocity></tptz:ContinuousMove>",
        "<tptz:GotoPreset><tptz:PresetToken>1</tptz:PresetToken></tptz:GotoPreset>",
        "<tptz:ContinuousMove><tptz:ProfileToken> </tptz:ProfileToken></tptz:ContinuousMove>",
        // A zero-width space is no whitespace: Profile_201 with it is another string.
        "<trt:GetStreamUri><trt:ProfileToken>Profile_201\u{200B}</trt:ProfileToken></trt:GetStreamUri>",
        // A video source and a PTZ node of channel 1, and a token that is a prefix of ours.
        "<trt:GetVideoSourceConfiguration><trt:ConfigurationToken>VideoSourceConfig_1</trt:ConfigurationToken></trt:GetVideoSourceConfiguration>",
        "<tptz:GetNode><tptz:NodeToken>PTZNode_1</tptz:NodeToken></tptz:GetNode>",
        "<trt:GetStreamUri><trt:ProfileToken>Profile_20</trt:ProfileToken></trt:GetStreamUri>",
        // No token where one is needed: the recorder would answer with its first channel's stream or snapshot.
        "<trt:GetSnapshotUri/>",
        "<trt:GetStreamUri><trt:StreamSetup/></trt:GetStreamUri>",
        "<tr2:GetSnapshotUri/>",
        // A decoy: one of our tokens, but not the profile the move acts on.
        "<tptz:ContinuousMove><tptz:Velocity/><tt:VideoSourceToken>VideoSource_2</tt:VideoSourceToken></tptz:ContinuousMove>",
        "<tptz:ContinuousMove><tptz:Velocity token=\"Profile_201\"><tt:PanTilt x=\"1\" y=\"0\"/></tptz:Velocity></tptz:ContinuousMove>",
        // Our profile, nested where the recorder does not look: it would move its first channel.
        "<tptz:ContinuousMove><x:w><tptz:ProfileToken>Profile_201</tptz:ProfileToken></x:w></tptz:ContinuousMove>",
        "<trt:GetStreamUri><trt:ProfileToken>Profile_201</trt:ProfileToken><trt:StreamSetup><tt:ProfileToken>Profile_101</tt:ProfileToken></trt:StreamSetup></trt:GetStreamUri>",
        // A token attribute on the operation itself, and an imaging call on no source.
        "<trt:GetStreamUri token=\"Profile_101\"><trt:ProfileToken>Profile_201</trt:ProfileToken></trt:GetStreamUri>",
        "<timg:GetImagingSettings xmlns:timg=\"http://www.onvif.org/ver20/imaging/wsdl\"/>",
    ])
    func anotherChannelsTokenIsRefused(_ body: String) throws {
        #expect(try Self.refusal(body) != nil, "\(body)")
    }

    /// Whitespace and NBSP around a token are what a recorder might trim; the request reaches it with exactly the
    /// token the gateway checked.
    @Test(arguments: [" Profile_202\n", "\u{00A0}Profile_202\t", "Profile_202"])
    func paddedOwnTokenIsRewrittenExactly(_ token: String) throws {
        let request = try Self.admitted(
            "<trt:GetStreamUri><trt:ProfileToken>\(token)</trt:ProfileToken></trt:GetStreamUri>"
        )
        #expect(request.first(namespace: Self.trt, name: "ProfileToken")?.text == "Profile_202")
        let attribute = try Self.admitted(
            "<trt:SetVideoEncoderConfiguration><trt:Configuration token=\"\(token)\"/></trt:SetVideoEncoderConfiguration>"
        )
        #expect(attribute.first(namespace: Self.trt, name: "Configuration")?.attribute("token") == "Profile_202")
    }

    /// Canonically equivalent text is another token: the recorder gets exactly the bytes that were checked, or
    /// nothing.
    @Test func canonicallyEquivalentTokensAreNotOurs() throws {
        let answer = try Self.parse(
            """
            <trt:GetProfilesResponse>
              <trt:Profiles token="Cam\u{00E9}_1"><tt:VideoSourceConfiguration token="c1">\
            <tt:SourceToken>S1</tt:SourceToken></tt:VideoSourceConfiguration></trt:Profiles>
            </trt:GetProfilesResponse>
            """
        )
        let view = try #require(ChannelView.learn(profiles: answer, channel: .number(1)))
        let decomposed = try Self.parse(
            "<trt:GetStreamUri><trt:ProfileToken>Came\u{0301}_1</trt:ProfileToken></trt:GetStreamUri>"
        )
        guard case .failure = view.admit(decomposed) else {
            Issue.record("a decomposed é passed for the precomposed token")
            return
        }
        let exact = try Self.parse(
            "<trt:GetStreamUri><trt:ProfileToken>Cam\u{00E9}_1</trt:ProfileToken></trt:GetStreamUri>"
        )
        guard case .success(let admitted) = view.admit(exact) else {
            Issue.record("the exact token was refused")
            return
        }
        let sent = try #require(admitted.first(namespace: Self.trt, name: "ProfileToken")?.text)
        #expect(Array(sent.utf8) == Array("Cam\u{00E9}_1".utf8))
    }

    /// A recorder that numbers every kind of token from 000: a token two channels hold names neither.
    @Test func aTokenTwoChannelsShareIsNobodys() throws {
        let answer = try Self.parse(
            """
            <trt:GetProfilesResponse>
              <trt:Profiles token="P1"><tt:VideoSourceConfiguration token="000"><tt:SourceToken>S1</tt:SourceToken>\
            </tt:VideoSourceConfiguration></trt:Profiles>
              <trt:Profiles token="P2"><tt:VideoSourceConfiguration token="001"><tt:SourceToken>S2</tt:SourceToken>\
            </tt:VideoSourceConfiguration><tt:PTZConfiguration token="p2"><tt:NodeToken>000</tt:NodeToken>\
            </tt:PTZConfiguration></trt:Profiles>
            </trt:GetProfilesResponse>
            """
        )
        let second = try #require(ChannelView.learn(profiles: answer, channel: .number(2)))
        #expect(!second.own.contains("000") && second.own.contains("001") && second.own.contains("P2"))
        let node = try Self.parse("<tptz:GetNode><tptz:NodeToken>000</tptz:NodeToken></tptz:GetNode>")
        guard case .failure = second.admit(node) else {
            Issue.record("a token channel 1 holds too passed on channel 2")
            return
        }
        let first = try #require(ChannelView.learn(profiles: answer, channel: .number(1)))
        #expect(!first.own.contains("000"))
    }

    @Test func presetsOfOurProfileAreShown() throws {
        let presets = try Self.parse(
            """
            <tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>Door</tt:Name></tptz:Preset>\
            <tptz:Preset token="2"/></tptz:GetPresetsResponse>
            """
        )
        #expect(Self.channel2.filter(presets).elements.count == 2)
        _ = try Self.admitted("<tptz:GetPresets><tptz:ProfileToken>Profile_201</tptz:ProfileToken></tptz:GetPresets>")
    }

    @Test func ownChannelCallsPass() throws {
        _ = try Self.admitted("<trt:GetProfiles/>")
        _ = try Self.admitted("<trt:GetVideoSources/>")
        _ = try Self.admitted("<tptz:GetNodes/>")
        // A preset belongs to the profile it is asked of, which is checked.
        _ = try Self.admitted(
            "<tptz:GotoPreset><tptz:ProfileToken>Profile_201</tptz:ProfileToken><tptz:PresetToken>7</tptz:PresetToken></tptz:GotoPreset>"
        )
        _ = try Self.admitted(
            "<tptz:ContinuousMove><tptz:ProfileToken>Profile_202</tptz:ProfileToken></tptz:ContinuousMove>"
        )
    }

    @Test func answersAreCutToTheChannel() throws {
        let all = Self.channel2.filter(Self.profiles)
        #expect(all.elements.compactMap { $0.attribute("token") } == ["Profile_201", "Profile_202"])
        let sources = try Self.parse(
            """
            <trt:GetVideoSourcesResponse>
              <trt:VideoSources token="VideoSource_1"/><trt:VideoSources token="VideoSource_2"/>
              <trt:VideoSources x:token="VideoSource_3"/><trt:VideoSources/>
            </trt:GetVideoSourcesResponse>
            """
        )
        #expect(Self.channel2.filter(sources).elements.compactMap { $0.attribute("token") } == ["VideoSource_2"])
        let options = try Self.parse(
            """
            <trt:GetVideoSourceConfigurationOptionsResponse><trt:Options>
              <tt:VideoSourceTokensAvailable>VideoSource_1</tt:VideoSourceTokensAvailable>
              <tt:VideoSourceTokensAvailable>VideoSource_2</tt:VideoSourceTokensAvailable>
              <tt:VideoSourceTokensAvailable>VideoSource_3</tt:VideoSourceTokensAvailable>
            </trt:Options></trt:GetVideoSourceConfigurationOptionsResponse>
            """
        )
        let available = Self.channel2.filter(options).elements.first?.elements.map(\.trimmedText)
        #expect(available == ["VideoSource_2"])
        let nodes = try Self.parse(
            """
            <tptz:GetNodesResponse><tptz:PTZNode token="PTZNode_1"/><tptz:PTZNode token="PTZNode_2"/>\
            </tptz:GetNodesResponse>
            """
        )
        #expect(Self.channel2.filter(nodes).elements.compactMap { $0.attribute("token") } == ["PTZNode_2"])
    }
}
