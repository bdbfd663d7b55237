import ONVIF
import TestSupport
import Testing

@Suite struct HardenedXMLParserTests {
    static let soapEnvelope = "http://www.w3.org/2003/05/soap-envelope"

    static let fixtures: [String] = ["onvif/hikvision", "onvif/dahua", "onvif/other", "discovery"].flatMap { folder in
        ((try? Fixtures.files(in: folder)) ?? []).map { "\(folder)/\($0.lastPathComponent)" }
    }

    @Test func fixturesArePresent() {
        #expect(Self.fixtures.count >= 20)
    }

    /// Every real ONVIF and WS-Discovery reply parses, with namespaces resolved to URIs.
    @Test(arguments: fixtures)
    func parsesFixture(_ path: String) throws {
        let bytes = Array(try Fixtures.bytes(path).readableBytesView)
        let root = try HardenedXMLParser.parse(bytes, limits: .cameraResponse)
        #expect(root.name == "Envelope")
        #expect(root.namespace == Self.soapEnvelope)
        let body = try #require(root.first(namespace: Self.soapEnvelope, name: "Body"))
        #expect(body.elements.count == 1)
    }

    @Test func resolvesTheFirstBodyElement() throws {
        let bytes = Array(
            try Fixtures.bytes("onvif/hikvision/easyonvif_ENP1A14_media1_GetStreamUriResponse.xml").readableBytesView
        )
        let root = try HardenedXMLParser.parse(bytes, limits: .cameraResponse)
        let operation = try #require(root.first(namespace: Self.soapEnvelope, name: "Body")?.elements.first)
        #expect(operation.namespace == "http://www.onvif.org/ver10/media/wsdl")
        #expect(operation.name == "GetStreamUriResponse")
    }

    static let attacks: [(String, String)] = [
        ("external entity", #"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#),
        (
            "billion laughs",
            #"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;">]><l>&c;</l>"#
        ),
        ("DTD present", #"<!doctype x SYSTEM "http://203.0.113.1/x.dtd"><x/>"#),
        ("not well-formed", "<a><b></a>"),
        ("two roots", "<a/><b/>"),
    ]

    @Test(arguments: attacks)
    func refusesAttack(_ name: String, _ document: String) {
        #expect(throws: HardenedXMLParser.Failure.self, "\(name)") { try HardenedXMLParser.parse(Array(document.utf8)) }
    }

    @Test func refusesDeepNesting() {
        let limit = HardenedXMLParser.Limits().maxDepth
        let nested = { (n: Int) in String(repeating: "<a>", count: n) + String(repeating: "</a>", count: n) }
        #expect(throws: Never.self) { try HardenedXMLParser.parse(Array(nested(limit).utf8)) }
        #expect(throws: HardenedXMLParser.Failure.self) { try HardenedXMLParser.parse(Array(nested(limit + 1).utf8)) }
    }

    @Test func refusesOversizeAndNonUTF8() {
        let limit = HardenedXMLParser.Limits.vmsRequest.maxBytes
        let padded = { (n: Int) in "<a>" + String(repeating: "x", count: n - 7) + "</a>" }
        #expect(throws: Never.self) { try HardenedXMLParser.parse(Array(padded(limit).utf8)) }
        #expect(throws: HardenedXMLParser.Failure.self) { try HardenedXMLParser.parse(Array(padded(limit + 1).utf8)) }
        #expect(throws: HardenedXMLParser.Failure.self) {
            try HardenedXMLParser.parse(Array("<a>".utf8) + [0xFF, 0xFE] + Array("</a>".utf8))
        }
        let latin1 = Array(#"<?xml version="1.0" encoding="ISO-8859-1"?><a>"#.utf8) + [0xE9] + Array("</a>".utf8)
        #expect(throws: HardenedXMLParser.Failure.self) { try HardenedXMLParser.parse(latin1) }
    }
}
