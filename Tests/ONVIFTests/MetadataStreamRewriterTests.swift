import Testing

@testable import ONVIF

/// A camera's metadata documents as the VMS gets them: written by the gateway from the parsed tree, or not at all.
/// The camera is the attacker: a DTD, another root, a comment or processing instruction to carry data, a prefix
/// bound to another namespace, a document past the bounds.
@Suite struct MetadataStreamRewriterTests {
    static let document = """
        <?xml version="1.0" encoding="UTF-8"?>
        <tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema" \
        xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tns1="http://www.onvif.org/ver10/topics">\
        <!-- vendor: 0xDEADBEEF --><?vendor payload?>\
        <tt:Event><wsnt:NotificationMessage>\
        <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">\
        tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>\
        <wsnt:Message><tt:Message UtcTime="2026-01-01T00:00:00Z" PropertyOperation="Changed">\
        <tt:Data><tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data>\
        </tt:Message></wsnt:Message></wsnt:NotificationMessage></tt:Event></tt:MetadataStream>
        """

    static func rewrite(_ text: String) -> String? {
        MetadataStreamRewriter.rewrite(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func aDocumentIsWrittenAnewWithoutWhatOnlyTheCameraReads() throws {
        let written = try #require(Self.rewrite(Self.document))
        #expect(!written.contains("DEADBEEF") && !written.contains("vendor"))
        #expect(written.contains(#"<tt:SimpleItem Name="IsMotion" Value="true"/>"#))
        // The topic's prefix in text still resolves: the declaration it needs is written.
        #expect(written.contains("tns1:RuleEngine/CellMotionDetector/Motion"))
        #expect(written.contains(#"xmlns:tns1="http://www.onvif.org/ver10/topics""#))
        // What the gateway wrote parses to the same tree as what the camera sent (less comments and PIs).
        let original = try HardenedXMLParser.parse(Array(Self.document.utf8))
        let again = try HardenedXMLParser.parse(Array(written.utf8))
        #expect(again.elements == original.elements)
        // Writing is a fixed point: a second pass changes nothing.
        #expect(Self.rewrite(written) == written)
    }

    @Test func whatIsNotAMetadataStreamIsDropped() {
        let cases: [(String, String)] = [
            (
                "DTD",
                "<!DOCTYPE a [<!ENTITY b \"bbbb\">]><tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">&b;</tt:MetadataStream>"
            ),
            ("other root", "<tt:Envelope xmlns:tt=\"http://www.onvif.org/ver10/schema\"/>"),
            // The right local name and prefix, rebound to another namespace.
            ("rebound prefix", "<tt:MetadataStream xmlns:tt=\"http://evil.example/schema\"/>"),
            ("no namespace", "<MetadataStream/>"),
            ("not well-formed", "<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">"),
            ("two roots", "<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\"/><x/>"),
            (
                "not UTF-8",
                "<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">\u{FFFD}</tt:MetadataStream>"
            ),
            (
                "deep",
                "<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">"
                    + String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40)
                    + "</tt:MetadataStream>"
            ),
            (
                "large",
                "<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">"
                    + String(repeating: "x", count: 300 * 1024) + "</tt:MetadataStream>"
            ),
        ]
        for (name, text) in cases {
            var bytes = Array(text.utf8)
            if name == "not UTF-8" { bytes = bytes.map { $0 == 0xEF ? 0xFF : $0 } }
            #expect(MetadataStreamRewriter.rewrite(bytes) == nil, "\(name)")
        }
    }
}

extension MetadataStreamRewriterTests {
    /// A quote, ampersand or angle bracket followed by a combining mark is one Character in Swift: escaped all the
    /// same, so the attribute the VMS reads ends where the gateway meant it to.
    @Test func aCombiningMarkDoesNotSkipTheEscape() throws {
        let root = "<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">"
        let written = try #require(
            Self.rewrite(root + "<tt:a b=\"&quot;&#x301;&amp;&#x301;\">&lt;&#x301;</tt:a></tt:MetadataStream>")
        )
        #expect(written.contains("b=\"&quot;\u{301}&amp;\u{301}\""), "\(written)")
        #expect(written.contains(">&lt;\u{301}<"), "\(written)")
        #expect(Self.rewrite(written) == written)
        // Tabs and carriage returns in attributes and text read back as written.
        let spaced = try #require(Self.rewrite(root + "<tt:a b=\"x&#9;y&#13;z\">p&#13;q</tt:a></tt:MetadataStream>"))
        #expect(spaced.contains("b=\"x&#9;y&#13;z\"") && spaced.contains(">p&#13;q<"), "\(spaced)")
        #expect(Self.rewrite(spaced) == spaced)
    }
}
