import ONVIF
import TestSupport
import Testing

/// WS-Discovery messages against real devices' messages, with Types matched by namespace, never by prefix.
@Suite struct WSDiscoveryTests {
    static func bytes(_ path: String) throws -> [UInt8] { Array(try Fixtures.bytes(path).readableBytesView) }

    @Test func dahuaProbeMatches() throws {
        let (relatesTo, matches) = try WSDiscovery.parseProbeMatches(
            try Self.bytes("discovery/cogini_dahua_ProbeMatches.xml")
        )
        #expect(relatesTo == "uuid:572ecdc4-b723-11e8-99d8-53d34f41f286")
        let match = try #require(matches.first)
        #expect(matches.count == 1)
        #expect(match.endpoint == "uuid:503b687a-b9d7-474f-a2d0-a18c8b25a464")
        #expect(match.types == [.networkVideoTransmitter, .device])
        #expect(match.xAddrs == ["http://192.168.1.45/onvif/device_service"])
        #expect(match.scope("name") == "Dahua")
        #expect(match.scope("hardware") == "IPC-HFW2228M-I1-V2")
    }

    @Test func programmersGuideProbeMatchesWithTwoAddresses() throws {
        let (_, matches) = try WSDiscovery.parseProbeMatches(
            try Self.bytes("discovery/onvif_apg_ProbeMatches_via_lumeo.xml")
        )
        let match = try #require(matches.first)
        #expect(match.xAddrs.count == 2)
        #expect(match.types.contains(.networkVideoTransmitter))
    }

    @Test func probeFromTheGuide() throws {
        let probe = try WSDiscovery.parseProbe(try Self.bytes("discovery/cogini_Probe.xml"))
        #expect(probe.messageID == "uuid:84ede3de-7dec-11d0-c360-f01234567890")
        #expect(probe.types == [.networkVideoTransmitter])
        #expect(WSDiscovery.matches(probe.types, [.networkVideoTransmitter, .device]))
    }

    /// A prefix means nothing by itself: `dn:` bound to another namespace is another type, and an undeclared
    /// prefix matches nothing.
    @Test func typesMatchByNamespace() throws {
        func probe(_ declaration: String, _ types: String) throws -> WSDiscovery.Probe {
            try WSDiscovery.parseProbe(
                Array(
                    """
                    <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
                    xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
                    xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" \(declaration)>\
                    <s:Header><a:MessageID>urn:uuid:1</a:MessageID></s:Header>\
                    <s:Body><d:Probe><d:Types>\(types)</d:Types></d:Probe></s:Body></s:Envelope>
                    """.utf8
                )
            )
        }
        let device: [WSDiscovery.QName] = [.networkVideoTransmitter, .device]
        let renamed = try probe("xmlns:x=\"http://www.onvif.org/ver10/network/wsdl\"", "x:NetworkVideoTransmitter")
        #expect(WSDiscovery.matches(renamed.types, device))
        let wrong = try probe("xmlns:dn=\"http://example.com/not-onvif\"", "dn:NetworkVideoTransmitter")
        #expect(!WSDiscovery.matches(wrong.types, device))
        let undeclared = try probe("", "dn:NetworkVideoTransmitter")
        #expect(undeclared.types.isEmpty)
    }

    /// Words that are not QNames, under a default namespace (the `:` that trapped the daemon): each is dropped,
    /// the valid words beside them kept.
    @Test func wordsThatAreNotQNamesAreDropped() throws {
        let text = """
            <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
            xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
            xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" \
            xmlns:dn="http://www.onvif.org/ver10/network/wsdl">\
            <s:Header><a:MessageID>urn:uuid:1</a:MessageID></s:Header>\
            <s:Body><d:Probe><d:Types xmlns="urn:x">: :: a: :b a:b:c dn: :NetworkVideoTransmitter Plain \
            dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>
            """
        let probe = try WSDiscovery.parseProbe(Array(text.utf8))
        #expect(probe.types == [WSDiscovery.QName("urn:x", "Plain"), .networkVideoTransmitter])
    }

    @Test func writtenMessagesReadBack() throws {
        let match = WSDiscovery.Match(
            endpoint: "urn:uuid:0f6c1a5e-0000-4000-8000-000000000001",
            types: [.networkVideoTransmitter, .device],
            scopes: ["onvif://www.onvif.org/name/lobby", "onvif://www.onvif.org/hardware/CamGateway"],
            xAddrs: ["http://198.51.100.1:8001/onvif/device_service"]
        )
        let text = WSDiscovery.probeMatches(messageID: "urn:uuid:2", relatesTo: "urn:uuid:1", matches: [match])
        let (relatesTo, matches) = try WSDiscovery.parseProbeMatches(Array(text.utf8))
        #expect(relatesTo == "urn:uuid:1")
        #expect(matches == [match])
        let probe = try WSDiscovery.parseProbe(Array(WSDiscovery.probe(messageID: "urn:uuid:3").utf8))
        #expect(probe.types == [.networkVideoTransmitter])
    }
}
