/// WS-Discovery 2005/04 as ONVIF devices use it (ONVIF Core §7.3): Probe and ProbeMatches, with Types matched
/// by resolved namespace, not by prefix. Messages are written from values and read from hardened parses.
public enum WSDiscovery {
    public static let multicastAddress = "239.255.255.250"
    public static let port = 3702
    public static let to = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    public static let anonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

    /// A qualified name: a namespace URI and a local name.
    public struct QName: Hashable, Sendable, Codable, CustomStringConvertible {
        public var namespace: String
        public var name: String

        public init(_ namespace: String, _ name: String) {
            self.namespace = namespace
            self.name = name
        }

        public static let networkVideoTransmitter = QName(ONVIFNamespace.network, "NetworkVideoTransmitter")
        public static let device = QName(ONVIFNamespace.device, "Device")

        public var description: String { "{\(self.namespace)}\(self.name)" }
    }

    public struct Match: Hashable, Sendable, Codable {
        /// The endpoint reference address: the device's stable `urn:uuid:`.
        public var endpoint: String
        public var types: [QName]
        public var scopes: [String]
        public var xAddrs: [String]
        public var metadataVersion: Int

        public init(endpoint: String, types: [QName], scopes: [String], xAddrs: [String], metadataVersion: Int = 1) {
            self.endpoint = endpoint
            self.types = types
            self.scopes = scopes
            self.xAddrs = xAddrs
            self.metadataVersion = metadataVersion
        }

        /// The value of an `onvif://www.onvif.org/<kind>/<value>` scope, percent-decoded.
        public func scope(_ kind: String) -> String? {
            let prefix = "onvif://www.onvif.org/\(kind)/"
            return self.scopes.first { $0.hasPrefix(prefix) }.map { percentDecoded(String($0.dropFirst(prefix.count))) }
        }
    }

    public struct Probe: Hashable, Sendable {
        public var messageID: String
        public var types: [QName]
        public var scopes: [String]
    }

    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { self.reason }
    }

    // MARK: Writing

    public static func probe(messageID: String, types: [QName] = [.networkVideoTransmitter]) -> String {
        var body = XMLElement(namespace: ONVIFNamespace.discovery, name: "Probe")
        if !types.isEmpty {
            body.children = [.element(self.typesElement(types))]
        }
        return XMLWriter.document(
            self.envelope(
                action: "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe",
                messageID: messageID,
                relatesTo: nil,
                to: self.to,
                replyTo: true,
                body: body
            )
        )
    }

    /// `AppSequence` (WS-Discovery §7): which start of the sender (InstanceId) and the order of its messages.
    public struct AppSequence: Hashable, Sendable {
        public var instanceID: UInt32
        public var messageNumber: Int

        public init(instanceID: UInt32, messageNumber: Int) {
            self.instanceID = instanceID
            self.messageNumber = messageNumber
        }
    }

    public static func probeMatches(
        messageID: String,
        relatesTo: String,
        matches: [Match],
        appSequence: AppSequence? = nil
    ) -> String {
        let body = XMLElement(
            namespace: ONVIFNamespace.discovery,
            name: "ProbeMatches",
            children: matches.map { match in
                .element(
                    XMLElement(
                        namespace: ONVIFNamespace.discovery,
                        name: "ProbeMatch",
                        children: self.matchChildren(match).map(XMLElement.Node.element)
                    )
                )
            }
        )
        return XMLWriter.document(
            self.envelope(
                action: "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches",
                messageID: messageID,
                relatesTo: relatesTo,
                to: self.anonymous,
                replyTo: false,
                appSequence: appSequence,
                body: body
            )
        )
    }

    /// Hello (a device appears) or Bye (it goes), sent to the multicast group.
    public static func announcement(
        hello: Bool,
        messageID: String,
        match: Match,
        appSequence: AppSequence? = nil
    ) -> String {
        let name = hello ? "Hello" : "Bye"
        let children = hello ? self.matchChildren(match) : Array(self.matchChildren(match).prefix(1))
        return XMLWriter.document(
            self.envelope(
                action: "http://schemas.xmlsoap.org/ws/2005/04/discovery/\(name)",
                messageID: messageID,
                relatesTo: nil,
                to: self.to,
                replyTo: false,
                appSequence: appSequence,
                body: XMLElement(
                    namespace: ONVIFNamespace.discovery,
                    name: name,
                    children: children.map(XMLElement.Node.element)
                )
            )
        )
    }

    private static func matchChildren(_ match: Match) -> [XMLElement] {
        [
            XMLElement(
                namespace: ONVIFNamespace.addressing,
                name: "EndpointReference",
                children: [.element(self.textElement(ONVIFNamespace.addressing, "Address", match.endpoint))]
            ),
            self.typesElement(match.types),
            self.textElement(ONVIFNamespace.discovery, "Scopes", match.scopes.joined(separator: " ")),
            self.textElement(ONVIFNamespace.discovery, "XAddrs", match.xAddrs.joined(separator: " ")),
            self.textElement(ONVIFNamespace.discovery, "MetadataVersion", String(match.metadataVersion)),
        ]
    }

    /// `Types` as QNames: each namespace declared on the element itself with a prefix of its own, so the text
    /// resolves whatever prefixes the rest of the document uses.
    private static func typesElement(_ types: [QName]) -> XMLElement {
        var declarations: [String?: String] = [:]
        var names: [String] = []
        for (index, type) in types.enumerated() {
            let prefix: String = XMLWriter.prefixes[type.namespace] ?? "t\(index)"
            declarations[prefix] = type.namespace
            names.append("\(prefix):\(type.name)")
        }
        var element = self.textElement(ONVIFNamespace.discovery, "Types", names.joined(separator: " "))
        element.declarations = declarations
        return element
    }

    private static func textElement(_ namespace: String, _ name: String, _ text: String) -> XMLElement {
        XMLElement(namespace: namespace, name: name, children: [.text(text)])
    }

    private static func envelope(
        action: String,
        messageID: String,
        relatesTo: String?,
        to: String,
        replyTo: Bool,
        appSequence: AppSequence? = nil,
        body: XMLElement
    ) -> XMLElement {
        var header: [XMLElement] = [
            self.textElement(ONVIFNamespace.addressing, "MessageID", messageID),
            self.textElement(ONVIFNamespace.addressing, "To", to),
            self.textElement(ONVIFNamespace.addressing, "Action", action),
        ]
        if let relatesTo { header.append(self.textElement(ONVIFNamespace.addressing, "RelatesTo", relatesTo)) }
        if let appSequence {
            var sequence = XMLElement(namespace: ONVIFNamespace.discovery, name: "AppSequence")
            sequence.attributes = [
                .init(namespace: nil, name: "InstanceId", value: String(appSequence.instanceID)),
                .init(namespace: nil, name: "MessageNumber", value: String(appSequence.messageNumber)),
            ]
            header.append(sequence)
        }
        if replyTo {
            header.append(
                XMLElement(
                    namespace: ONVIFNamespace.addressing,
                    name: "ReplyTo",
                    children: [.element(self.textElement(ONVIFNamespace.addressing, "Address", self.anonymous))]
                )
            )
        }
        return XMLElement(
            namespace: ONVIFNamespace.soapEnvelope,
            name: "Envelope",
            children: [
                .element(
                    XMLElement(
                        namespace: ONVIFNamespace.soapEnvelope,
                        name: "Header",
                        children: header.map(XMLElement.Node.element)
                    )
                ),
                .element(XMLElement(namespace: ONVIFNamespace.soapEnvelope, name: "Body", children: [.element(body)])),
            ]
        )
    }

    // MARK: Reading

    /// The matches of a ProbeMatches message, and the MessageID it answers.
    public static func parseProbeMatches(_ bytes: [UInt8]) throws(Failure) -> (relatesTo: String?, matches: [Match]) {
        let envelope = try self.parseEnvelope(bytes)
        let relatesTo = envelope.find([
            (ONVIFNamespace.soapEnvelope, "Header"), (ONVIFNamespace.addressing, "RelatesTo"),
        ])?.trimmedText
        guard let body = envelope.first(namespace: ONVIFNamespace.soapEnvelope, name: "Body"),
            let probeMatches = body.first(namespace: ONVIFNamespace.discovery, name: "ProbeMatches")
        else { throw Failure(reason: "not a ProbeMatches message") }
        let scope = NamespaceScope().entering(envelope).entering(body).entering(probeMatches)
        var matches: [Match] = []
        for match in probeMatches.all(namespace: ONVIFNamespace.discovery, name: "ProbeMatch").prefix(64) {
            let inMatch = scope.entering(match)
            guard
                let endpoint = match.find([
                    (ONVIFNamespace.addressing, "EndpointReference"), (ONVIFNamespace.addressing, "Address"),
                ])?.trimmedText,
                !endpoint.isEmpty
            else { continue }
            let typesElement = match.first(namespace: ONVIFNamespace.discovery, name: "Types")
            let types = typesElement.map { inMatch.entering($0).resolve(qnames: $0.text) } ?? []
            matches.append(
                Match(
                    endpoint: endpoint,
                    types: types,
                    scopes: self.words(match.first(namespace: ONVIFNamespace.discovery, name: "Scopes")),
                    xAddrs: self.words(match.first(namespace: ONVIFNamespace.discovery, name: "XAddrs")),
                    metadataVersion: Int(
                        match.first(namespace: ONVIFNamespace.discovery, name: "MetadataVersion")?.trimmedText ?? ""
                    ) ?? 1
                )
            )
        }
        return (relatesTo, matches)
    }

    /// A Probe: its MessageID (to answer), the Types it asks for (resolved) and the Scopes.
    public static func parseProbe(_ bytes: [UInt8]) throws(Failure) -> Probe {
        let envelope = try self.parseEnvelope(bytes)
        guard
            let messageID = envelope.find([
                (ONVIFNamespace.soapEnvelope, "Header"), (ONVIFNamespace.addressing, "MessageID"),
            ])?.trimmedText,
            !messageID.isEmpty, messageID.utf8.count <= 256
        else { throw Failure(reason: "Probe without a MessageID") }
        guard let body = envelope.first(namespace: ONVIFNamespace.soapEnvelope, name: "Body"),
            let probe = body.first(namespace: ONVIFNamespace.discovery, name: "Probe")
        else { throw Failure(reason: "not a Probe message") }
        let scope = NamespaceScope().entering(envelope).entering(body).entering(probe)
        let typesElement = probe.first(namespace: ONVIFNamespace.discovery, name: "Types")
        return Probe(
            messageID: messageID,
            types: typesElement.map { scope.entering($0).resolve(qnames: $0.text) } ?? [],
            scopes: self.words(probe.first(namespace: ONVIFNamespace.discovery, name: "Scopes"))
        )
    }

    /// Whether a device of `types` answers a probe for `wanted` (every wanted type must be one of the device's;
    /// no Types in the probe matches everything, WS-Discovery §5.3).
    public static func matches(_ wanted: [QName], _ types: [QName]) -> Bool {
        wanted.allSatisfy(types.contains)
    }

    private static func parseEnvelope(_ bytes: [UInt8]) throws(Failure) -> XMLElement {
        let envelope: XMLElement
        do {
            envelope = try HardenedXMLParser.parse(bytes)
        } catch {
            throw Failure(reason: "\(error)")
        }
        guard envelope.namespace == ONVIFNamespace.soapEnvelope, envelope.name == "Envelope" else {
            throw Failure(reason: "not a SOAP 1.2 envelope")
        }
        return envelope
    }

    private static func words(_ element: XMLElement?) -> [String] {
        (element?.text ?? "").split(whereSeparator: \.isWhitespace).prefix(64).map(String.init)
    }
}

/// The `xmlns` declarations in scope at an element, accumulated from the root down.
struct NamespaceScope {
    var bindings: [String?: String] = [:]

    func entering(_ element: XMLElement) -> NamespaceScope {
        var scope = self
        scope.bindings.merge(element.declarations) { $1 }
        return scope
    }

    /// `dn:NetworkVideoTransmitter tds:Device` → QNames; unprefixed names take the default namespace. A word
    /// that is not a QName (`:`, `a:`, `:b`, `a:b:c`) or whose prefix is not declared is dropped: it matches nothing.
    /// The words come from any sender on the VMS network, so nothing here may assume their shape.
    func resolve(qnames text: String) -> [WSDiscovery.QName] {
        text.split(whereSeparator: \.isWhitespace).prefix(32).compactMap { word in
            let parts = word.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.allSatisfy({ !$0.isEmpty }) else { return nil }
            switch parts.count {
            case 1: return self.bindings[nil].map { WSDiscovery.QName($0, String(parts[0])) }
            case 2: return self.bindings[String(parts[0])].map { WSDiscovery.QName($0, String(parts[1])) }
            default: return nil
            }
        }
    }
}

func percentDecoded(_ text: String) -> String {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8).makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
            let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
        {
            bytes.append(value)
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
