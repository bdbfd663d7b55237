import Foundation
import ONVIF
import TestSupport
import Testing

/// Every real camera reply in the shared fixtures, through the policy and the rewriter: what reaches the VMS is
/// valid XML with no camera address, no credentials and no service the policy does not allow.
@Suite struct ResponseRewriterTests {
    static let fixtures: [String] = ["onvif/hikvision", "onvif/dahua", "onvif/other"].flatMap { folder in
        ((try? Fixtures.files(in: folder)) ?? []).map { "\(folder)/\($0.lastPathComponent)" }
    }

    static let device = VirtualDevice(cameraName: "lobby")

    static func rewriter(_ policy: ONVIFPolicy, cameraHosts: [String]) -> ResponseRewriter {
        ResponseRewriter(
            gatewayBaseURL: "http://198.51.100.1:8001",
            streamURLs: [("/Streaming/Channels/101", "rtsp://198.51.100.1:8554/lobby/main")],
            policy: policy,
            device: Self.device,
            cameraHosts: cameraHosts,
            gatewayHost: "198.51.100.1"
        )
    }

    /// The private addresses a capture names: the camera's own.
    static func cameraAddresses(_ text: String) -> [String] {
        let pattern = try! NSRegularExpression(
            pattern: "\\b(192\\.168|10|172\\.(1[6-9]|2[0-9]|3[01]))(\\.[0-9]{1,3}){2,3}\\b"
        )
        let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        return Array(Set(matches.compactMap { Range($0.range, in: text).map { String(text[$0]) } }))
    }

    @Test(arguments: fixtures, [ONVIFPolicy(), ONVIFPolicy(ptz: true, events: true)])
    func whatReachesTheVMS(_ path: String, _ policy: ONVIFPolicy) throws {
        let text = try Fixtures.text(path)
        let root = try HardenedXMLParser.parse(Array(text.utf8), limits: .cameraResponse)
        let answer = try #require(root.first(namespace: ONVIFNamespace.soapEnvelope, name: "Body")?.elements.first)
        guard answer.name.hasSuffix("Response"), let namespace = answer.namespace else { return }  // faults
        let operation = SOAPRequest.Operation(namespace, String(answer.name.dropLast("Response".count)))
        switch policy.decide(operation) {
        case .refuse, .answerLocally, .fakeSuccess:
            // Never forwarded: GetUsers (credentials), GetNTP and GetSystemDateAndTime (the camera's own setup).
            #expect(!["GetDeviceInformation", "GetProfiles", "GetStreamUri", "GetServices"].contains(operation.name))
            return
        case .forward:
            break
        }
        let hosts = Self.cameraAddresses(text)
        let result = try Self.rewriter(policy, cameraHosts: hosts).rewrite(
            answer,
            operation: operation,
            profileToken: "Profile_1"
        )
        let written = XMLWriter.document(SOAPMessage.envelope(body: [result.body]))
        let reparsed = try HardenedXMLParser.parse(Array(written.utf8), limits: .cameraResponse)
        #expect(reparsed.name == "Envelope", "\(path)")
        #expect(
            Self.cameraAddresses(written).isEmpty,
            "\(path) still names the camera: \(Self.cameraAddresses(written))"
        )
        #expect(!written.contains("Password"), "\(path)")
        var allowed: Set<String> = [ONVIFNamespace.device, ONVIFNamespace.media, ONVIFNamespace.media2]
        if policy.events { allowed.insert(ONVIFNamespace.events) }
        if policy.ptz { allowed.insert(ONVIFNamespace.ptz) }
        switch operation.name {
        case "GetServices":
            let namespaces = result.body.elements.compactMap {
                $0.first(namespace: ONVIFNamespace.device, name: "Namespace")?.trimmedText
            }
            #expect(!namespaces.isEmpty)
            #expect(Set(namespaces).isSubset(of: allowed), "\(namespaces)")
            for service in result.body.elements {
                #expect(
                    service.first(namespace: ONVIFNamespace.device, name: "XAddr")?.trimmedText.hasPrefix(
                        "http://198.51.100.1:8001/onvif/"
                    ) == true
                )
            }
        case "GetCapabilities":
            let capabilities = try #require(result.body.elements.first)
            let names = Set(capabilities.elements.map(\.name))
            #expect(!names.contains("Imaging") && !names.contains("Analytics") && !names.contains("Extension"))
            #expect(names.contains("PTZ") == policy.ptz)
            #expect(!written.contains("<tt:FirmwareUpgrade>true"))
            #expect(written.contains("<tt:FirmwareUpgrade>false"))
        case "GetDeviceInformation":
            #expect(written.contains(Self.device.serial))
        case "GetStreamUri":
            #expect(written.contains("rtsp://198.51.100.1:8554/lobby/main"))
            #expect(!written.contains("Streaming/Channels"))
        case "GetSnapshotUri":
            #expect(written.contains("http://198.51.100.1:8001/snapshot/Profile_1"))
            #expect(result.cameraSnapshotURL?.contains("snapshot") == true)
        default:
            break
        }
    }

    /// A camera that wants the VMS to follow an address of its own (where the VMS would send its credentials),
    /// each way a namespace-aware writer and a name-matching rewriter could miss it. What reaches the VMS, parsed
    /// again as the VMS would, names no such host anywhere, and every XAddr it has is the gateway's.
    static let smuggling: [(String, String)] = [
        (
            "a prefix of the writer's rebound on a child",
            #"<tds:GetCapabilitiesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:e="urn:evil"><tds:Capabilities><tt:Media xmlns:n0="http://www.onvif.org/ver10/schema"><e:XAddr>http://203.0.113.66/onvif/Media</e:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>"#
        ),
        (
            "the default namespace",
            #"<tds:GetCapabilitiesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:Capabilities><Media xmlns="http://www.onvif.org/ver10/schema"><XAddr>http://203.0.113.66/onvif/Media</XAddr></Media></tds:Capabilities></tds:GetCapabilitiesResponse>"#
        ),
        (
            "XAddr as an attribute",
            #"<tds:GetCapabilitiesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><tds:Capabilities><tt:Media XAddr="http://203.0.113.66/onvif/Media"><tt:XAddr>http://192.168.1.64/onvif/Media</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>"#
        ),
        (
            "several XAddrs in one",
            #"<tds:GetServicesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>http://192.168.1.64/onvif/Media http://203.0.113.66/onvif/Media</tds:XAddr><tds:Version><tds:Major>2</tds:Major><tds:Minor>6</tds:Minor></tds:Version></tds:Service></tds:GetServicesResponse>"#
        ),
        (
            "a URL split by CDATA and a comment",
            #"<tds:GetCapabilitiesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><tds:Capabilities><tt:Media><tt:Other>http:<![CDATA[//203.0.113.66/x]]></tt:Other><tt:More>https:<!-- -->//203.0.113.66/y</tt:More></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>"#
        ),
        (
            "scheme-relative and backslashed URLs",
            #"<tds:GetDeviceInformationResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><tds:Manufacturer>HIKVISION</tds:Manufacturer><tds:Model>//203.0.113.66/m</tds:Model><tds:FirmwareVersion>http:\\203.0.113.66\f</tds:FirmwareVersion><tds:SerialNumber>X</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>"#
        ),
        (
            "an address inside Extension",
            #"<tds:GetDeviceInformationResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><tds:Manufacturer>HIKVISION</tds:Manufacturer><tds:Model>DS-2CD</tds:Model><tds:FirmwareVersion>V5</tds:FirmwareVersion><tds:SerialNumber>X</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId><tt:Extension><tt:Upgrade>https://203.0.113.66:8443/firmware</tt:Upgrade></tt:Extension></tds:GetDeviceInformationResponse>"#
        ),
    ]

    @Test(arguments: smuggling)
    func noAddressOfTheCamerasChoosingReachesTheVMS(_ name: String, _ answer: String) throws {
        let parsed = try HardenedXMLParser.parse(Array(answer.utf8), limits: .cameraResponse)
        let operation = SOAPRequest.Operation(
            try #require(parsed.namespace),
            String(parsed.name.dropLast("Response".count))
        )
        let result = try Self.rewriter(ONVIFPolicy(), cameraHosts: ["192.168.1.64"]).rewrite(
            parsed,
            operation: operation,
            profileToken: nil
        )
        let written = XMLWriter.document(SOAPMessage.envelope(body: [result.body]))
        #expect(!written.contains("203.0.113.66"), "\(name): \(written)")
        #expect(!written.contains("192.168.1.64"), "\(name)")
        // As the VMS reads it: every XAddr, whatever its namespace, is the gateway's.
        let reread = try HardenedXMLParser.parse(Array(written.utf8), limits: .cameraResponse)
        func xaddrs(_ element: XMLElement) -> [String] {
            (element.name == "XAddr" ? [element.trimmedText] : []) + element.elements.flatMap(xaddrs)
        }
        for address in xaddrs(reread) {
            #expect(
                address.split(separator: " ").allSatisfy { $0.hasPrefix("http://198.51.100.1") },
                "\(name): \(address)"
            )
        }
    }

    /// The writer never emits a camera's declaration of one of its own prefixes.
    @Test func theWriterKeepsItsPrefixes() throws {
        // The writer names urn:a `n0` and the schema namespace `tt`; the camera rebinds both on Child.
        let text =
            #"<a:Root xmlns:a="urn:a" xmlns:b="http://www.onvif.org/ver10/schema"><a:Child xmlns:tt="urn:evil" xmlns:n0="http://www.onvif.org/ver10/schema" xmlns:mine="urn:mine"><b:Leaf>x</b:Leaf></a:Child></a:Root>"#
        let parsed = try HardenedXMLParser.parse(Array(text.utf8), limits: .cameraResponse)
        let written = XMLWriter.document(parsed)
        #expect(!written.contains("xmlns:tt=\"urn:evil\""), "\(written)")
        #expect(!written.contains("xmlns:n0=\"http://www.onvif.org/ver10/schema\""), "\(written)")
        #expect(written.contains("xmlns:mine=\"urn:mine\""), "a declaration of its own stays: \(written)")
        let reread = try HardenedXMLParser.parse(Array(written.utf8), limits: .cameraResponse)
        #expect(reread.elements.first?.elements.first?.namespace == "http://www.onvif.org/ver10/schema")
        #expect(reread.elements.first?.namespace == "urn:a")
    }

    @Test func policyIsDefaultDeny() {
        let readOnly = ONVIFPolicy()
        func op(_ namespace: String, _ name: String) -> SOAPRequest.Operation { .init(namespace, name) }
        #expect(readOnly.decide(op(ONVIFNamespace.device, "SystemReboot")) == .refuse)
        #expect(readOnly.decide(op(ONVIFNamespace.device, "SetSystemFactoryDefault")) == .refuse)
        #expect(readOnly.decide(op(ONVIFNamespace.device, "GetUsers")) == .refuse)
        #expect(readOnly.decide(op(ONVIFNamespace.device, "UpgradeSystemFirmware")) == .refuse)
        #expect(readOnly.decide(op(ONVIFNamespace.device, "SetNetworkInterfaces")) == .refuse)
        #expect(readOnly.decide(op("http://www.onvif.org/ver20/imaging/wsdl", "GetImagingSettings")) == .refuse)
        #expect(readOnly.decide(op("urn:example:unknown", "GetDeviceInformation")) == .refuse)
        #expect(
            readOnly.decide(op(ONVIFNamespace.wsnt, "Subscribe")) == .refuse,
            "push events: the camera would call out"
        )
        #expect(readOnly.decide(op(ONVIFNamespace.ptz, "ContinuousMove")) == .refuse)
        #expect(readOnly.decide(op(ONVIFNamespace.events, "CreatePullPointSubscription")) == .refuse)
        #expect(readOnly.decide(op(ONVIFNamespace.device, "GetNetworkInterfaces")) == .answerLocally)
        #expect(readOnly.decide(op(ONVIFNamespace.media, "GetStreamUri")) == .forward(.streamingRead))
        #expect(readOnly.decide(op(ONVIFNamespace.media, "SetVideoEncoderConfiguration")) == .fakeSuccess)
        let granted = ONVIFPolicy(ptz: true, events: true)
        #expect(granted.decide(op(ONVIFNamespace.ptz, "ContinuousMove")) == .forward(.ptz))
        #expect(granted.decide(op(ONVIFNamespace.events, "PullMessages")) == .forward(.events))
        #expect(granted.decide(op(ONVIFNamespace.ptz, "SetPreset")) == .refuse)
        #expect(ONVIFPolicy(fakeEnrollmentWrites: false).decide(op(ONVIFNamespace.device, "SetNTP")) == .refuse)
    }

    @Test func localAnswersCarryTheVirtualIdentity() throws {
        let answer = try #require(
            LocalAnswers.response(
                to: .init(ONVIFNamespace.device, "GetNetworkInterfaces"),
                device: Self.device,
                gatewayHost: "198.51.100.1",
                gatewayPort: 8001,
                now: Date()
            )
        )
        let written = XMLWriter.document(answer)
        #expect(written.contains(Self.device.mac))
        #expect(written.contains("198.51.100.1"))
        #expect(Self.device.mac.hasPrefix("02:"), "locally administered")
        #expect(VirtualDevice(cameraName: "lobby") == Self.device, "stable across restarts")
        #expect(VirtualDevice(cameraName: "door").uuid != Self.device.uuid)
        #expect(Self.device.uuid.hasPrefix("urn:uuid:"))
    }

    /// Path mode: the device's services below its own path on the shared port.
    @Test func pathModeServiceAddresses() throws {
        let services = try HardenedXMLParser.parse(
            Array(
                try Fixtures.text("onvif/hikvision/easyonvif_ENP1A14_device_management_GetServicesResponse.xml").utf8
            ),
            limits: .cameraResponse
        )
        let answer = try #require(services.first(namespace: ONVIFNamespace.soapEnvelope, name: "Body")?.elements.first)
        var rewriter = Self.rewriter(ONVIFPolicy(), cameraHosts: ["192.168.1.182"])
        rewriter.gatewayBaseURL = "http://198.51.100.1:8080/onvif/lobby"
        let result = try rewriter.rewrite(
            answer,
            operation: .init(ONVIFNamespace.device, "GetServices"),
            profileToken: nil
        )
        let addresses = result.body.elements.compactMap {
            $0.first(namespace: ONVIFNamespace.device, name: "XAddr")?.trimmedText
        }
        #expect(addresses.contains("http://198.51.100.1:8080/onvif/lobby/device_service"))
        #expect(addresses.contains("http://198.51.100.1:8080/onvif/lobby/Media"))
    }
}
