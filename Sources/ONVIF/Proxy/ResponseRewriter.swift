import Foundation

/// Rewrites a camera's response (its parsed Body element) before the VMS sees it: service addresses become the
/// gateway's, services the policy does not allow are removed, firmware and backup capabilities read false, the
/// device's serial is the virtual one, stream URIs point at the relay and snapshot URIs at the gateway's
/// snapshot proxy, and the camera's address is scrubbed from every text and attribute that is left.
public struct ResponseRewriter: Sendable {
    /// Where the VMS reaches this virtual device, e.g. `http://198.51.100.1:8001`.
    public var gatewayBaseURL: String
    /// The relay URL of each camera stream path (`/Streaming/Channels/101` → `rtsp://GW:8554/lobby/main`).
    public var streamURLs: [(cameraPath: String, gatewayURL: String)]
    public var policy: ONVIFPolicy
    public var device: VirtualDevice
    /// The camera's addresses as they can appear in its answers (host, host:port).
    public var cameraHosts: [String]
    /// The gateway host that replaces them.
    public var gatewayHost: String

    public init(
        gatewayBaseURL: String,
        streamURLs: [(cameraPath: String, gatewayURL: String)],
        policy: ONVIFPolicy,
        device: VirtualDevice,
        cameraHosts: [String],
        gatewayHost: String
    ) {
        self.gatewayBaseURL = gatewayBaseURL
        self.streamURLs = streamURLs
        self.policy = policy
        self.device = device
        self.cameraHosts = cameraHosts
        self.gatewayHost = gatewayHost
    }

    public struct Result: Sendable {
        public var body: XMLElement
        /// GetSnapshotUri: the camera's own snapshot URL, which the snapshot proxy alone may fetch.
        public var cameraSnapshotURL: String?
    }

    /// The namespaces of the services the VMS may see, each at the gateway.
    var allowedServices: [String: String] {
        var services = [
            ONVIFNamespace.device: "device_service", ONVIFNamespace.media: "Media", ONVIFNamespace.media2: "Media2",
        ]
        if self.policy.events { services[ONVIFNamespace.events] = "Events" }
        if self.policy.ptz { services[ONVIFNamespace.ptz] = "PTZ" }
        return services
    }

    /// A service of this device at the gateway: `/onvif/<service>`, or below the device's own path in path mode
    /// (where the base already ends in `/onvif/<camera>`).
    func serviceURL(_ namespace: String) -> String {
        let service = self.allowedServices[namespace] ?? "device_service"
        return self.gatewayBaseURL.hasSuffix("/onvif/\(self.device.cameraName)")
            ? "\(self.gatewayBaseURL)/\(service)" : "\(self.gatewayBaseURL)/onvif/\(service)"
    }

    public func rewrite(
        _ body: XMLElement,
        operation: SOAPRequest.Operation,
        profileToken: String?
    ) throws(SOAPFault) -> Result {
        var body = body
        var snapshot: String?
        switch (operation.namespace, operation.name) {
        case (ONVIFNamespace.device, "GetServices"):
            body.children = body.children.compactMap { node in
                guard case .element(var service) = node else { return node }
                guard service.name == "Service",
                    let namespace = service.first(namespace: ONVIFNamespace.device, name: "Namespace")?.trimmedText,
                    self.allowedServices[namespace] != nil
                else { return nil }
                service.replaceText(of: ONVIFNamespace.device, "XAddr", with: self.serviceURL(namespace))
                return .element(service)
            }
        case (ONVIFNamespace.device, "GetCapabilities"):
            body = self.rewriteCapabilities(body)
        case (ONVIFNamespace.media, "GetServiceCapabilities"), (ONVIFNamespace.media2, "GetServiceCapabilities"):
            body = Self.streamingOverTCP(body)
        case (ONVIFNamespace.device, "GetDeviceInformation"):
            body.replaceText(of: ONVIFNamespace.device, "SerialNumber", with: self.device.serial)
            body.replaceText(of: ONVIFNamespace.device, "HardwareId", with: "CamGateway")
        case (ONVIFNamespace.media, "GetStreamUri"), (ONVIFNamespace.media2, "GetStreamUri"):
            try self.rewriteURIs(in: &body) { uri throws(SOAPFault) in try self.gatewayStreamURL(for: uri) }
        case (ONVIFNamespace.media, "GetSnapshotUri"), (ONVIFNamespace.media2, "GetSnapshotUri"):
            let token = Self.snapshotKey(profileToken)
            try self.rewriteURIs(in: &body) { uri throws(SOAPFault) in
                snapshot = uri
                return "\(self.gatewayBaseURL)/snapshot/\(token)"
            }
        default:
            break
        }
        return Result(body: self.dropForeignURLs(self.scrub(body)), cameraSnapshotURL: snapshot)
    }

    /// Hosts whose URLs are identifiers in ONVIF answers (namespaces, topic dialects, schema locations), not
    /// places a VMS connects to.
    static let standardsHosts = [
        "www.onvif.org", "onvif.org", "www.w3.org", "docs.oasis-open.org", "schemas.xmlsoap.org",
    ]

    /// Last pass over a forwarded answer: any URL still naming a host that is neither the gateway nor a standards
    /// body's is the camera's choice (an `XAddr` in an `Extension`, as an attribute, in a namespace or prefix the
    /// rewriter does not match, one of several). Its element, or its attribute, is removed: a VMS that followed it
    /// would send its credentials there.
    func dropForeignURLs(_ element: XMLElement) -> XMLElement {
        var copy = element
        copy.attributes = element.attributes.filter { !self.hasForeignURL($0.value) }
        copy.children = element.children.compactMap { node in
            switch node {
            case .text(let text):
                return .text(text)
            case .element(let child):
                // The element's text as the VMS will read it: text and CDATA nodes joined (a URL split across
                // them, or around a comment the parser dropped, is one URL once written).
                let joined = child.children.reduce(into: "") { text, node in
                    if case .text(let part) = node { text += part }
                }
                return self.hasForeignURL(joined) ? nil : .element(self.dropForeignURLs(child))
            }
        }
        return copy
    }

    /// Whether `text` names a host other than the gateway's or a standards body's: after any `//` (with or without
    /// a scheme, `\` taken as `/` as browsers do), the authority's host.
    func hasForeignURL(_ text: String) -> Bool {
        let text = text.replacingOccurrences(of: "\\", with: "/")
        var rest = Substring(text)
        while let slashes = rest.range(of: "//") {
            rest = rest[slashes.upperBound...]
            let authority = rest.prefix { !"/?#".contains($0) && !$0.isWhitespace }
            var host = authority.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            if host.hasPrefix("[") {
                host = String(host.dropFirst().prefix { $0 != "]" })
            } else if let colon = host.lastIndex(of: ":") {
                host = String(host[..<colon])
            }
            host = host.lowercased()
            if host.isEmpty { continue }  // `///`: no authority
            if host == self.gatewayHost.lowercased() || Self.standardsHosts.contains(host) { continue }
            return true
        }
        return false
    }

    /// The snapshot path segment of a profile token, and the key its camera URL is kept under: the same filtered
    /// text for both (a token with a `.` once got a URL the map did not know).
    public static func snapshotKey(_ profileToken: String?) -> String {
        let token = String(
            (profileToken ?? "").filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }.prefix(
                64
            )
        )
        return token.isEmpty ? "default" : token
    }

    /// Capabilities: only allowed services, each at the gateway; firmware upgrade, backup and logging false.
    func rewriteCapabilities(_ response: XMLElement) -> XMLElement {
        var response = response
        response.children = response.children.map { node in
            guard case .element(var capabilities) = node, capabilities.name == "Capabilities" else { return node }
            let tt = ONVIFNamespace.schema
            let keep: [String: String] = [
                "Device": ONVIFNamespace.device, "Media": ONVIFNamespace.media,
                "Events": ONVIFNamespace.events, "PTZ": ONVIFNamespace.ptz,
            ]
            capabilities.children = capabilities.children.compactMap { node in
                guard case .element(var capability) = node else { return nil }
                guard let namespace = keep[capability.name], self.allowedServices[namespace] != nil else { return nil }
                capability.replaceText(of: tt, "XAddr", with: self.serviceURL(namespace))
                if capability.name == "Device" {
                    capability = capability.mapElements { element in
                        var element = element
                        if ["FirmwareUpgrade", "SystemBackup", "SystemLogging", "RemoteDiscovery"].contains(
                            element.name
                        ),
                            element.elements.isEmpty
                        {
                            element.children = [.text("false")]
                        }
                        return element
                    }
                }
                if capability.name == "Media" {
                    capability = Self.streamingOverTCP(capability)
                }
                return .element(capability)
            }
            return .element(capabilities)
        }
        return response
    }

    /// The gateway serves every stream interleaved on RTSP (and RTSP over TCP is all it speaks), whatever the
    /// camera claims: clients that read `RTP_TCP`/`RTP_RTSP_TCP` before choosing a transport (iSecure and its
    /// like) must see true. Element form (GetCapabilities) and attribute form (GetServiceCapabilities) alike.
    static func streamingOverTCP(_ element: XMLElement) -> XMLElement {
        element.mapElements { element in
            var element = element
            if ["RTP_TCP", "RTP_RTSP_TCP"].contains(element.name), element.elements.isEmpty {
                element.children = [.text("true")]
            }
            if element.name == "StreamingCapabilities" {
                for index in element.attributes.indices
                where ["RTP_TCP", "RTP_RTSP_TCP"].contains(element.attributes[index].name) {
                    element.attributes[index].value = "true"
                }
            }
            return element
        }
    }

    /// Replaces every `Uri` element's text (Media `tt:MediaUri/tt:Uri`, Media2 `tr2:Uri`).
    func rewriteURIs(in body: inout XMLElement, _ map: (String) throws(SOAPFault) -> String) throws(SOAPFault) {
        var failure: SOAPFault?
        body = body.mapElements { element in
            guard element.name == "Uri", element.elements.isEmpty, failure == nil else { return element }
            var element = element
            do throws(SOAPFault) {
                element.children = [.text(try map(element.trimmedText))]
            } catch {
                failure = error
            }
            return element
        }
        if let failure { throw failure }
    }

    /// The relay URL for a camera stream URI: matched on the path, since cameras add their own query; where
    /// streams share a path (Dahua's `/cam/realmonitor?channel=3&subtype=1`), on the query items configured too.
    func gatewayStreamURL(for cameraURI: String) throws(SOAPFault) -> String {
        let components = URLComponents(string: cameraURI)
        let path = components?.path ?? ""
        let given = Set((components?.queryItems ?? []).map { "\($0.name.lowercased())=\($0.value ?? "")" })
        let candidates = self.streamURLs.filter { Self.path($0.cameraPath) == path }
        if candidates.count == 1, let match = candidates.first { return match.gatewayURL }
        if let match = candidates.first(where: { stream in
            let wanted = Self.queryItems(stream.cameraPath)
            return !wanted.isEmpty && wanted.isSubset(of: given)
        }) {
            return match.gatewayURL
        }
        throw SOAPFault(
            code: .receiver,
            subcodes: ["ter:Action", "ter:StreamNotServed"],
            reason: "This profile's stream is not one the gateway relays; add it with camgw camera set --stream"
        )
    }

    static func queryItems(_ cameraPath: String) -> Set<String> {
        Set(
            (URLComponents(string: "rtsp://h" + cameraPath)?.queryItems ?? []).map {
                "\($0.name.lowercased())=\($0.value ?? "")"
            }
        )
    }

    static func path(_ cameraPath: String) -> String {
        URLComponents(string: "rtsp://h" + cameraPath)?.path ?? cameraPath
    }

    /// The camera's address, wherever it is left, becomes the gateway's.
    func scrub(_ element: XMLElement) -> XMLElement {
        let hosts = self.cameraHosts.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
        guard !hosts.isEmpty else { return element }
        func clean(_ text: String) -> String {
            var text = text
            for host in hosts where text.contains(host) {
                text = text.replacingOccurrences(of: host, with: self.gatewayHost)
            }
            return text
        }
        return element.mapTexts { _, text in clean(text) }.mapAttributes { clean($0) }
    }
}

extension XMLElement {
    /// Replaces the text of every element `namespace:name` in this subtree.
    mutating func replaceText(of namespace: String, _ name: String, with text: String) {
        self = self.mapElements { element in
            guard element.namespace == namespace, element.name == name else { return element }
            var element = element
            element.children = [.text(text)]
            return element
        }
    }

    /// This subtree with `transform` applied to every element, children first.
    func mapElements(_ transform: (XMLElement) -> XMLElement) -> XMLElement {
        var copy = self
        copy.children = self.children.map { node in
            if case .element(let child) = node { return .element(child.mapElements(transform)) }
            return node
        }
        return transform(copy)
    }

    func mapTexts(_ transform: (XMLElement, String) -> String) -> XMLElement {
        var copy = self
        copy.children = self.children.map { node in
            switch node {
            case .element(let child): return .element(child.mapTexts(transform))
            case .text(let text): return .text(transform(self, text))
            }
        }
        return copy
    }

    func mapAttributes(_ transform: (String) -> String) -> XMLElement {
        var copy = self.mapElements { element in
            var element = element
            element.attributes = element.attributes.map { attribute in
                var attribute = attribute
                attribute.value = transform(attribute.value)
                return attribute
            }
            return element
        }
        copy.declarations = self.declarations
        return copy
    }
}
