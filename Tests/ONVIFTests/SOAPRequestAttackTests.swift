import Foundation
import ONVIF
import RTSPRelay
import Testing

/// Hostile requests: each refused with a SOAP fault, nothing read from disk or the network, nothing forwarded.
@Suite struct SOAPRequestAttackTests {
    static let envelope = "http://www.w3.org/2003/05/soap-envelope"

    static func wrap(_ body: String, prologue: String = "") -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>\(prologue)
        <s:Envelope xmlns:s="\(Self.envelope)"><s:Body>\(body)</s:Body></s:Envelope>
        """
    }

    static let attacks: [(String, [UInt8])] = [
        (
            "external entity",
            Array(
                wrap(
                    "<tds:GetHostname xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\">&xxe;</tds:GetHostname>",
                    prologue: "<!DOCTYPE s [<!ENTITY xxe SYSTEM \"file:///etc/hostname\">]>"
                ).utf8
            )
        ),
        (
            "billion laughs",
            Array(
                wrap(
                    "<x>&lol9;</x>",
                    prologue: "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                        + (1...9).map {
                            "<!ENTITY lol\($0) \""
                                + String(repeating: "&lol\($0 == 1 ? "" : String($0 - 1));", count: 10) + "\">"
                        }.joined()
                        + "]>"
                ).utf8
            )
        ),
        (
            "deep nesting",
            Array(
                wrap(String(repeating: "<a xmlns=\"urn:x\">", count: 200) + String(repeating: "</a>", count: 200)).utf8
            )
        ),
        (
            "huge attribute",
            Array(wrap("<a xmlns=\"urn:x\" v=\"" + String(repeating: "A", count: 70_000) + "\"/>").utf8)
        ),
        (
            "DTD present",
            Array(wrap("<a xmlns=\"urn:x\"/>", prologue: "<!DOCTYPE s SYSTEM \"http://203.0.113.1/evil.dtd\">").utf8)
        ),
        ("non-UTF-8", Array(wrap("<a xmlns=\"urn:x\">").utf8) + [0xFF, 0xFE, 0xC3] + Array("</a>".utf8)),
        (
            "two Body children",
            Array(
                wrap(
                    "<tds:GetHostname xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"/><tds:SystemReboot xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"/>"
                ).utf8
            )
        ),
        (
            "two Bodies",
            Array(
                """
                <s:Envelope xmlns:s="\(envelope)"><s:Body><a xmlns="urn:x"/></s:Body><s:Body><b xmlns="urn:x"/></s:Body></s:Envelope>
                """.utf8
            )
        ),
        (
            "SOAP 1.1",
            Array(
                "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Body><a xmlns=\"urn:x\"/></e:Body></e:Envelope>"
                    .utf8
            )
        ),
        ("not XML", Array("GET / HTTP/1.1\r\n\r\n".utf8)),
    ]

    @Test(arguments: attacks)
    func refusedWithAFault(_ name: String, _ bytes: [UInt8]) async throws {
        // The parser alone.
        #expect(throws: SOAPFault.self, "\(name)") { try SOAPRequest.parse(bytes) }
        // Through the virtual device: a fault, the camera never contacted (its client points nowhere reachable).
        let proxy = ONVIFDeviceProxy(
            configuration: .init(
                cameraName: "cam",
                policy: ONVIFPolicy(),
                streams: [],
                rtspPort: 8554,
                realm: "CamGateway",
                users: [],
                cameraHosts: ["192.0.2.10"]
            ),
            client: ONVIFCameraClient(configuration: .init(host: "192.0.2.10", port: 1), logger: .init(label: "test")),
            logger: .init(label: "test")
        )
        let response = await proxy.handle(
            .init(
                method: "POST",
                path: "/onvif/device_service",
                authorization: nil,
                body: bytes,
                source: "127.0.0.1",
                localHost: "127.0.0.1",
                localPort: 8001
            )
        )
        #expect(response.status == 400, "\(name): \(response.status)")
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(text.contains("Fault"), "\(name)")
        let hostname =
            (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines
            ) ?? ""
        if !hostname.isEmpty { #expect(!text.contains(hostname) || name != "external entity") }
        #expect(proxy.callCounts.allowed.isEmpty)
    }

    @Test func faultsHaveTheStandardShape() throws {
        let fault = SOAPFault.actionNotSupported("device:SystemReboot")
        let root = try HardenedXMLParser.parse(Array(fault.document.utf8))
        let faultElement = try #require(root.find([(Self.envelope, "Body"), (Self.envelope, "Fault")]))
        #expect(faultElement.find([(Self.envelope, "Code"), (Self.envelope, "Value")])?.trimmedText == "s:Receiver")
        #expect(
            faultElement.find([(Self.envelope, "Code"), (Self.envelope, "Subcode"), (Self.envelope, "Value")])?
                .trimmedText
                == "ter:ActionNotSupported"
        )
        #expect(root.declarations["ter"] == ONVIFNamespace.error)
        #expect(fault.httpStatus == 500)
        #expect(SOAPFault.notAuthorized.httpStatus == 401)
    }
}
