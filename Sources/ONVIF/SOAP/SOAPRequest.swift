/// A SOAP 1.2 request as the gateway understands it: the operation is the namespace and local name of the one
/// element of the Body (ONVIF routes on it, not on the HTTP path or the SOAPAction), and the WS-Security
/// UsernameToken of the header, when there is one. Parsed from a hardened libxml2 tree; nothing of the sender's
/// bytes is kept.
public struct SOAPRequest: Hashable, Sendable {
    public struct Operation: Hashable, Sendable, CustomStringConvertible {
        public var namespace: String
        public var name: String

        public init(_ namespace: String, _ name: String) {
            self.namespace = namespace
            self.name = name
        }

        /// `service:Name`, the name cut at 64 characters: the sender chooses it, and it goes into logs and faults.
        public var description: String {
            let name = self.name.count > 64 ? self.name.prefix(64) + "…" : Substring(self.name)
            return "\(ONVIFOperationCatalog.serviceName(self.namespace)):\(name)"
        }

        /// The key counts and metrics use: the catalog's operations and a fixed list of audited refusals by name,
        /// anything else as `unknown`. Kept per sender-chosen name, refused calls would grow the daemon's memory and
        /// its metrics without bound.
        public var countedName: String { ONVIFOperationCatalog.isCountedByName(self) ? self.description : "unknown" }
    }

    public var operation: Operation
    /// The Body's element: the operation's arguments.
    public var body: XMLElement
    public var usernameToken: WSUsernameToken?

    /// Parses a request of at most 64 KiB. Refuses what is not one SOAP 1.2 envelope with exactly one Body
    /// element, with the fault the sender should get.
    public static func parse(_ bytes: [UInt8]) throws(SOAPFault) -> SOAPRequest {
        let envelope: XMLElement
        do {
            envelope = try HardenedXMLParser.parse(bytes, limits: .vmsRequest)
        } catch {
            throw SOAPFault.sender("ter:InvalidArgVal", reason: "The request is not acceptable XML: \(error)")
        }
        guard envelope.name == "Envelope" else {
            throw SOAPFault.sender(nil, reason: "The document is not a SOAP envelope")
        }
        guard envelope.namespace == ONVIFNamespace.soapEnvelope else {
            throw SOAPFault.versionMismatch
        }
        let bodies = envelope.all(namespace: ONVIFNamespace.soapEnvelope, name: "Body")
        guard bodies.count == 1, let body = bodies.first else {
            throw SOAPFault.sender(nil, reason: "The envelope must have exactly one Body")
        }
        let elements = body.elements
        guard elements.count == 1, let operation = elements.first, let namespace = operation.namespace else {
            throw SOAPFault.sender(nil, reason: "The Body must hold exactly one namespaced element")
        }
        let header = envelope.first(namespace: ONVIFNamespace.soapEnvelope, name: "Header")
        let token = try header.flatMap { header throws(SOAPFault) in try WSUsernameToken.parse(header: header) }
        return SOAPRequest(operation: Operation(namespace, operation.name), body: operation, usernameToken: token)
    }
}
