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
