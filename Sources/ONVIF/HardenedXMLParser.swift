import CLibXML2

/// libxml2 with the options a gateway facing hostile peers needs: no network (`XML_PARSE_NONET`), no entity
/// substitution (`NOENT` never set), no DTD loading, any document with a DTD refused before libxml2 sees it (which
/// rules out external entities and billion-laughs expansion), and caps on size and depth.
///
/// libxml2 rather than a Swift XML library: it is the parser every SOAP stack on Linux trusts, it resolves
/// namespaces (ONVIF routing needs namespace URIs, not prefixes), and its hardening options are well understood.
public enum HardenedXMLParser {
    public struct Limits: Sendable {
        /// 64 KiB for VMS requests; camera responses use ``cameraResponse`` (1 MiB).
        public var maxBytes = 64 * 1024
        public var maxDepth = 48
        public var maxElements = 20_000

        public init() {}

        public static let vmsRequest = Limits()
        public static var cameraResponse: Limits {
            var limits = Limits()
            limits.maxBytes = 1024 * 1024
            return limits
        }

        /// A recorder's GetProfiles: every channel's profiles in one answer (256 channels of three streams are
        /// some 120,000 elements), fetched by the gateway's own request, one at a time per recorder.
        public static var recorderProfiles: Limits {
            var limits = Limits()
            limits.maxBytes = 8 * 1024 * 1024
            limits.maxElements = 200_000
            return limits
        }
    }

    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { self.reason }
    }

    public static func parse(_ bytes: [UInt8], limits: Limits = .vmsRequest) throws(Failure) -> XMLElement {
        guard !bytes.isEmpty else { throw Failure(reason: "empty document") }
        guard bytes.count <= limits.maxBytes else { throw Failure(reason: "document over \(limits.maxBytes) bytes") }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw Failure(reason: "document is not UTF-8") }
        if containsDoctype(bytes) { throw Failure(reason: "document has a DTD") }
        installEntityLoader
        let options = Int32(
            XML_PARSE_NONET.rawValue | XML_PARSE_NO_XXE_IF_AVAILABLE | XML_PARSE_NOERROR.rawValue
                | XML_PARSE_NOWARNING.rawValue
        )
        guard
            let document = bytes.withUnsafeBufferPointer({ buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    xmlReadMemory($0, Int32(buffer.count), "untrusted.xml", "UTF-8", options)
                }
            })
        else { throw Failure(reason: "not well-formed XML") }
        defer { xmlFreeDoc(document) }
        guard document.pointee.intSubset == nil, document.pointee.extSubset == nil else {
            throw Failure(reason: "document has a DTD")
        }
        guard let root = xmlDocGetRootElement(document) else { throw Failure(reason: "no root element") }
        var budget = limits.maxElements
        return try convert(root, depth: 1, limits: limits, budget: &budget)
    }

    /// `XML_PARSE_NO_XXE` exists from libxml2 2.13 on; Debian 12 has 2.9, where refusing DTDs does the same.
    private static let XML_PARSE_NO_XXE_IF_AVAILABLE: UInt32 = 0

    private static func containsDoctype(_ bytes: [UInt8]) -> Bool {
        let needle = Array("<!DOCTYPE".utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == UInt8(ascii: "<") {
            if zip(bytes[start..<(start + needle.count)], needle).allSatisfy({ asciiUpper($0) == $1 }) { return true }
        }
        return false
    }

    private static func asciiUpper(_ b: UInt8) -> UInt8 { (b >= 97 && b <= 122) ? b - 32 : b }

    /// Refuses every external entity or DTD fetch, whatever options a future caller passes.
    private static let installEntityLoader: Void = {
        xmlSetExternalEntityLoader { _, _, _ in nil }
    }()

    private static func convert(
        _ node: xmlNodePtr,
        depth: Int,
        limits: Limits,
        budget: inout Int
    ) throws(Failure) -> XMLElement {
        guard depth <= limits.maxDepth else { throw Failure(reason: "nesting deeper than \(limits.maxDepth)") }
        budget -= 1
        guard budget >= 0 else { throw Failure(reason: "more than \(limits.maxElements) elements") }
        var element = XMLElement(
            namespace: node.pointee.ns.flatMap { $0.pointee.href.map { String(cString: $0) } },
            name: String(cString: node.pointee.name)
        )
        var declaration = node.pointee.nsDef
        while let current = declaration {
            if let href = current.pointee.href {
                element.declarations[current.pointee.prefix.map { String(cString: $0) }] = String(cString: href)
            }
            declaration = current.pointee.next
        }
        var attribute = node.pointee.properties
        while let current = attribute {
            // An attribute's value is the text of its child nodes; reading them directly avoids `xmlFree`, a C
            // global that Swift 6 cannot prove concurrency-safe.
            var value = ""
            var text = current.pointee.children
            while let node = text {
                if let content = node.pointee.content { value += String(cString: content) }
                text = node.pointee.next
            }
            element.attributes.append(
                .init(
                    namespace: current.pointee.ns.flatMap { $0.pointee.href.map { String(cString: $0) } },
                    name: String(cString: current.pointee.name),
                    value: value
                )
            )
            attribute = current.pointee.next
        }
        var child = node.pointee.children
        while let current = child {
            switch current.pointee.type {
            case XML_ELEMENT_NODE:
                element.children.append(
                    .element(try convert(current, depth: depth + 1, limits: limits, budget: &budget))
                )
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = current.pointee.content { element.children.append(.text(String(cString: content))) }
            default:
                break  // comments and processing instructions are dropped
            }
            child = current.pointee.next
        }
        return element
    }
}
