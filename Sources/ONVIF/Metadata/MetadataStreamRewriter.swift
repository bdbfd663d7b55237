/// The documents of a camera's `vnd.onvif.metadata` track (ONVIF Streaming §5.1.2.1), as the gateway passes them
/// to the VMS: parsed by ``HardenedXMLParser`` (no DTD, bounded size, depth and element count), a
/// `tt:MetadataStream` root or nothing, and written anew by ``XMLWriter`` — the VMS's XML parser reads the
/// gateway's bytes, never the camera's, as with every SOAP answer. Comments, processing instructions and a
/// camera's choice of prefixes do not survive; the prefixes a topic expression names in its text do (the writer
/// keeps the declarations elements carry for QNames in text).
public enum MetadataStreamRewriter {
    public static var limits: HardenedXMLParser.Limits {
        var limits = HardenedXMLParser.Limits()
        limits.maxBytes = 256 * 1024
        limits.maxDepth = 32
        limits.maxElements = 10_000
        return limits
    }

    /// The document as the gateway writes it, or nil: not XML the parser takes, or not a metadata stream.
    @Sendable public static func rewrite(_ document: [UInt8]) -> [UInt8]? {
        guard let root = try? HardenedXMLParser.parse(document, limits: self.limits),
            root.namespace == ONVIFNamespace.schema, root.name == "MetadataStream"
        else { return nil }
        return Array(XMLWriter.document(root).utf8)
    }
}
