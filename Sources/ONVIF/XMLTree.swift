/// An XML element tree, built from libxml2's parse and then owned by Swift: no libxml2 pointer outlives
/// ``HardenedXMLParser/parse(_:limits:)``. ONVIF policy and rewriting work on this model, never on camera bytes.
public struct XMLElement: Hashable, Sendable {
    public struct Attribute: Hashable, Sendable {
        public var namespace: String?
        public var name: String
        public var value: String
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

    public init(namespace: String?, name: String, attributes: [Attribute] = [], children: [Node] = []) {
        self.namespace = namespace
        self.name = name
        self.attributes = attributes
        self.children = children
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
}
