/// An XML element tree, built from libxml2's parse and then owned by Swift: no libxml2 pointer outlives
/// ``HardenedXMLParser/parse(_:limits:)``. ONVIF policy and rewriting work on this model, never on camera bytes.
public struct XMLElement: Hashable, Sendable {
    public struct Attribute: Hashable, Sendable {
        public var namespace: String?
        public var name: String
        public var value: String

        public init(namespace: String?, name: String, value: String) {
            self.namespace = namespace
            self.name = name
            self.value = value
        }
    }

    public enum Node: Hashable, Sendable {
        case element(XMLElement)
        case text(String)
    }

    /// The namespace URI (resolved, not the prefix).
    public var namespace: String?
    public var name: String
    public var attributes: [Attribute]
    public var children: [Node]
    /// The `xmlns` declarations on this element, prefix (nil: the default namespace) to URI: what a QName in
    /// text content (`dn:NetworkVideoTransmitter`) resolves with.
    public var declarations: [String?: String]

    public init(
        namespace: String?,
        name: String,
        attributes: [Attribute] = [],
        children: [Node] = [],
        declarations: [String?: String] = [:]
    ) {
        self.namespace = namespace
        self.name = name
        self.attributes = attributes
        self.children = children
        self.declarations = declarations
    }

    public var elements: [XMLElement] {
        self.children.compactMap { if case .element(let e) = $0 { e } else { nil } }
    }

    /// Concatenated text of the direct children.
    public var text: String {
        self.children.map { if case .text(let t) = $0 { t } else { "" } }.joined()
    }

    public func first(namespace: String?, name: String) -> XMLElement? {
        self.elements.first { $0.namespace == namespace && $0.name == name }
    }

    /// The first element along a path of (namespace, name) steps below this one.
    public func find(_ path: [(String?, String)]) -> XMLElement? {
        var current = self
        for (namespace, name) in path {
            guard let next = current.first(namespace: namespace, name: name) else { return nil }
            current = next
        }
        return current
    }

    public func all(namespace: String?, name: String) -> [XMLElement] {
        self.elements.filter { $0.namespace == namespace && $0.name == name }
    }

    public func attribute(_ name: String, namespace: String? = nil) -> String? {
        self.attributes.first { $0.name == name && $0.namespace == namespace }?.value
    }

    /// The text with surrounding whitespace removed.
    public var trimmedText: String {
        String(self.text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
