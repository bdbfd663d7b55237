/// A SOAP 1.2 fault in the shape ONVIF clients expect (ONVIF Core §5.11.2): `s:Sender` or `s:Receiver`, an ONVIF
/// `ter:` subcode, a reason. The gateway answers every refusal with one, never a bare HTTP error.
public struct SOAPFault: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case sender = "Sender"
        case receiver = "Receiver"
        case versionMismatch = "VersionMismatch"
    }

    public var code: Code
    /// `ter:ActionNotSupported` and the like (local name in the ONVIF error namespace), and an optional second level.
    public var subcodes: [String]
    public var reason: String

    public init(code: Code, subcodes: [String], reason: String) {
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
    }

    public static func sender(_ subcode: String?, reason: String) -> SOAPFault {
        SOAPFault(code: .sender, subcodes: subcode.map { [$0] } ?? [], reason: reason)
    }

    public static let versionMismatch = SOAPFault(code: .versionMismatch, subcodes: [], reason: "SOAP 1.2 only")

    /// An operation outside the camera's policy: indistinguishable from a device that does not have it.
    public static func actionNotSupported(_ operation: String) -> SOAPFault {
        SOAPFault(
            code: .receiver,
            subcodes: ["ter:ActionNotSupported"],
            reason: "Optional Action Not Implemented: \(operation)"
        )
    }

    public static let notAuthorized = SOAPFault(
        code: .sender,
        subcodes: ["ter:NotAuthorized"],
        reason: "Sender not Authorized"
    )

    public static func cameraUnavailable(_ detail: String) -> SOAPFault {
        SOAPFault(
            code: .receiver,
            subcodes: ["ter:Action", "ter:CameraUnavailable"],
            reason: "The camera did not answer: \(detail)"
        )
    }

    /// HTTP status for the fault (ONVIF Core §5.11.2.3: 400 for sender faults, 500 for receiver ones; 401 for
    /// NotAuthorized so that HTTP clients retry with Digest).
    public var httpStatus: Int {
        if self.subcodes.first == "ter:NotAuthorized" { return 401 }
        return self.code == .sender || self.code == .versionMismatch ? 400 : 500
    }

    public var description: String { "\(self.code.rawValue) \(self.subcodes.joined(separator: "/")): \(self.reason)" }

    /// The fault as a SOAP envelope.
    public var document: String {
        var code = XMLElement(
            namespace: ONVIFNamespace.soapEnvelope,
            name: "Code",
            children: [.element(SOAPMessage.text(ONVIFNamespace.soapEnvelope, "Value", "s:" + self.code.rawValue))]
        )
        // Subcodes nest: Code/Subcode/Value, Subcode/Subcode/Value.
        var nested: XMLElement?
        for subcode in self.subcodes.reversed() {
            var element = XMLElement(
                namespace: ONVIFNamespace.soapEnvelope,
                name: "Subcode",
                children: [.element(SOAPMessage.text(ONVIFNamespace.soapEnvelope, "Value", subcode))]
            )
            if let inner = nested { element.children.append(.element(inner)) }
            nested = element
        }
        if let nested { code.children.append(.element(nested)) }
        var reasonText = SOAPMessage.text(ONVIFNamespace.soapEnvelope, "Text", self.reason)
        reasonText.attributes = [.init(namespace: "http://www.w3.org/XML/1998/namespace", name: "lang", value: "en")]
        let fault = XMLElement(
            namespace: ONVIFNamespace.soapEnvelope,
            name: "Fault",
            children: [
                .element(code),
                .element(
                    XMLElement(namespace: ONVIFNamespace.soapEnvelope, name: "Reason", children: [.element(reasonText)])
                ),
            ]
        )
        // `s:` and `ter:` prefixes appear in text (QNames): declared on the envelope by the writer's table.
        var envelope = SOAPMessage.envelope(body: [fault])
        envelope.declarations = ["s": ONVIFNamespace.soapEnvelope, "ter": ONVIFNamespace.error]
        return XMLWriter.document(envelope)
    }
}

/// Writing SOAP 1.2 envelopes.
public enum SOAPMessage {
    public static func envelope(header: [XMLElement] = [], body: [XMLElement]) -> XMLElement {
        var children: [XMLElement.Node] = []
        if !header.isEmpty {
            children.append(
                .element(
                    XMLElement(
                        namespace: ONVIFNamespace.soapEnvelope,
                        name: "Header",
                        children: header.map { .element($0) }
                    )
                )
            )
        }
        children.append(
            .element(
                XMLElement(namespace: ONVIFNamespace.soapEnvelope, name: "Body", children: body.map { .element($0) })
            )
        )
        return XMLElement(namespace: ONVIFNamespace.soapEnvelope, name: "Envelope", children: children)
    }

    public static func text(_ namespace: String, _ name: String, _ text: String) -> XMLElement {
        XMLElement(namespace: namespace, name: name, children: [.text(text)])
    }

    public static func element(_ namespace: String, _ name: String, _ children: [XMLElement]) -> XMLElement {
        XMLElement(namespace: namespace, name: name, children: children.map { .element($0) })
    }
}
