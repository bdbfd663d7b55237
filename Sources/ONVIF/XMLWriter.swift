/// Writes an ``XMLElement`` tree as a document: the gateway's answers are made from parsed trees, never from the
/// bytes a camera or a VMS sent. Prefixes are the writer's own (from ``prefixes``, then `n0`, `n1`, …), declared
/// once on the root; text and attribute values are escaped.
public struct XMLWriter {
    /// Conventional prefixes, so that documents read like ONVIF's examples.
    public static let prefixes: [String: String] = [
        ONVIFNamespace.soapEnvelope: "s",
        ONVIFNamespace.addressing: "a",
        ONVIFNamespace.discovery: "d",
        ONVIFNamespace.network: "dn",
        ONVIFNamespace.device: "tds",
        ONVIFNamespace.media: "trt",
        ONVIFNamespace.media2: "tr2",
        ONVIFNamespace.schema: "tt",
        ONVIFNamespace.error: "ter",
        ONVIFNamespace.events: "tev",
        ONVIFNamespace.ptz: "tptz",
        ONVIFNamespace.wsnt: "wsnt",
        ONVIFNamespace.wsse: "wsse",
        ONVIFNamespace.wsu: "wsu",
        "http://www.w3.org/XML/1998/namespace": "xml",
    ]

    public static func document(_ root: XMLElement) -> String {
        var namespaces: [String] = []
        self.collect(root, into: &namespaces)
        var prefixOf: [String: String] = [:]
        var used = Set<String>()
        for namespace in namespaces {
            var prefix = self.prefixes[namespace] ?? "n\(prefixOf.count)"
            while used.contains(prefix) { prefix += "x" }
            prefixOf[namespace] = prefix
            used.insert(prefix)
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        self.write(
            root,
            prefixOf: prefixOf,
            reserved: used,
            declare: namespaces.filter { $0 != "http://www.w3.org/XML/1998/namespace" },
            into: &out
        )
        return out
    }

    private static func collect(_ element: XMLElement, into namespaces: inout [String]) {
        for namespace in [element.namespace] + element.attributes.map(\.namespace) {
            if let namespace, !namespaces.contains(namespace) { namespaces.append(namespace) }
        }
        for child in element.elements { self.collect(child, into: &namespaces) }
    }

    private static func write(
        _ element: XMLElement,
        prefixOf: [String: String],
        reserved: Set<String>,
        declare: [String],
        into out: inout String
    ) {
        let name = self.qualified(element.name, element.namespace, prefixOf)
        out += "<" + name
        for namespace in declare {
            out += " xmlns:\(prefixOf[namespace]!)=\"\(self.escape(namespace, attribute: true))\""
        }
        // Declarations the element carries for QNames in its text (WS-Discovery Types), but never one that
        // rebinds a prefix of the writer's: a camera could otherwise make the VMS read an element the writer named
        // in one namespace as another (an `XAddr` of its choosing) inside that element.
        for (prefix, namespace) in element.declarations.compactMap({ key, value in key.map { ($0, value) } }).sorted(
            by: { $0.0 < $1.0 })
        where prefixOf[namespace] != prefix && !reserved.contains(prefix) && prefix != "xml" && prefix != "xmlns" {
            out += " xmlns:\(prefix)=\"\(self.escape(namespace, attribute: true))\""
        }
        for attribute in element.attributes {
            out +=
                " \(self.qualified(attribute.name, attribute.namespace, prefixOf))=\"\(self.escape(attribute.value, attribute: true))\""
        }
        guard !element.children.isEmpty else {
            out += "/>"
            return
        }
        out += ">"
        for child in element.children {
            switch child {
            case .element(let child):
                self.write(child, prefixOf: prefixOf, reserved: reserved, declare: [], into: &out)
            case .text(let text): out += self.escape(text, attribute: false)
            }
        }
        out += "</\(name)>"
    }

    private static func qualified(_ name: String, _ namespace: String?, _ prefixOf: [String: String]) -> String {
        guard let namespace, let prefix = prefixOf[namespace] else { return name }
        return prefix + ":" + name
    }

    /// By Unicode scalar, not by Character: a `"` or `<` followed by a combining mark is one Character, and would
    /// otherwise match no case and be written raw.
    static func escape(_ text: String, attribute: Bool) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"" where attribute: out.append(contentsOf: "&quot;".unicodeScalars)
            // What a parser would normalize (a tab or line end in an attribute to a space, a CR to a line feed):
            // as references, so that what the gateway wrote reads back as the tree it wrote.
            case "\n" where attribute: out.append(contentsOf: "&#10;".unicodeScalars)
            case "\t" where attribute: out.append(contentsOf: "&#9;".unicodeScalars)
            case "\r": out.append(contentsOf: "&#13;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}

/// The namespace URIs ONVIF and WS-Discovery use.
public enum ONVIFNamespace {
    public static let soapEnvelope = "http://www.w3.org/2003/05/soap-envelope"
    public static let addressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
    public static let discovery = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
    public static let network = "http://www.onvif.org/ver10/network/wsdl"
    public static let device = "http://www.onvif.org/ver10/device/wsdl"
    public static let media = "http://www.onvif.org/ver10/media/wsdl"
    public static let media2 = "http://www.onvif.org/ver20/media/wsdl"
    public static let schema = "http://www.onvif.org/ver10/schema"
    public static let error = "http://www.onvif.org/ver10/error"
    public static let events = "http://www.onvif.org/ver10/events/wsdl"
    public static let ptz = "http://www.onvif.org/ver20/ptz/wsdl"
    public static let wsnt = "http://docs.oasis-open.org/wsn/b-2"
    public static let wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    public static let wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
}
