import Crypto
import Foundation

/// The identity the VMS sees for a camera: derived from the camera's name alone, so it is stable across restarts
/// and reinstalls, and nothing of the camera's own (MAC, serial, hostname, addresses) reaches the VMS.
public struct VirtualDevice: Hashable, Sendable {
    public var cameraName: String
    /// `urn:uuid:` of the device (WS-Discovery endpoint reference).
    public var uuid: String
    /// Locally administered, unicast (02:…): never a real vendor's MAC.
    public var mac: String
    public var serial: String

    public init(cameraName: String) {
        self.cameraName = cameraName
        let digest = Array(SHA256.hash(data: Array("camgw-virtual-device:\(cameraName)".utf8)))
        var uuidBytes = Array(digest.prefix(16))
        uuidBytes[6] = (uuidBytes[6] & 0x0F) | 0x50  // version 5 layout (name-based)
        uuidBytes[8] = (uuidBytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = uuidBytes.map { String(format: "%02x", $0) }.joined()
        let parts = [
            hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4),
            hex.dropFirst(20),
        ]
        self.uuid = "urn:uuid:" + parts.joined(separator: "-")
        self.mac = ([0x02] + digest[16..<21]).map { String(format: "%02x", $0) }.joined(separator: ":")
        self.serial = "CG" + digest[21..<27].map { String(format: "%02X", $0) }.joined()
    }
}

/// What the gateway answers itself: the device's time (the gateway's clock), and its network identity, which is
/// the gateway's, not the camera's.
public enum LocalAnswers {
    /// The response element for a local operation, or nil when it has none.
    public static func response(
        to operation: SOAPRequest.Operation,
        device: VirtualDevice,
        gatewayHost: String,
        gatewayPort: Int,
        now: Date
    ) -> XMLElement? {
        let tds = ONVIFNamespace.device
        let tt = ONVIFNamespace.schema
        func response(_ children: [XMLElement]) -> XMLElement {
            SOAPMessage.element(tds, operation.name + "Response", children)
        }
        switch operation.name {
        case "GetSystemDateAndTime":
            let calendar = Calendar(identifier: .gregorian)
            let parts = calendar.dateComponents(in: TimeZone(identifier: "UTC")!, from: now)
            func dateTime(_ name: String) -> XMLElement {
                SOAPMessage.element(
                    tt,
                    name,
                    [
                        SOAPMessage.element(
                            tt,
                            "Time",
                            [
                                SOAPMessage.text(tt, "Hour", String(parts.hour ?? 0)),
                                SOAPMessage.text(tt, "Minute", String(parts.minute ?? 0)),
                                SOAPMessage.text(tt, "Second", String(parts.second ?? 0)),
                            ]
                        ),
                        SOAPMessage.element(
                            tt,
                            "Date",
                            [
                                SOAPMessage.text(tt, "Year", String(parts.year ?? 1970)),
                                SOAPMessage.text(tt, "Month", String(parts.month ?? 1)),
                                SOAPMessage.text(tt, "Day", String(parts.day ?? 1)),
                            ]
                        ),
                    ]
                )
            }
            return response([
                SOAPMessage.element(
                    tds,
                    "SystemDateAndTime",
                    [
                        SOAPMessage.text(tt, "DateTimeType", "NTP"),
                        SOAPMessage.text(tt, "DaylightSavings", "false"),
                        SOAPMessage.element(tt, "TimeZone", [SOAPMessage.text(tt, "TZ", "UTC0")]),
                        dateTime("UTCDateTime"),
                        dateTime("LocalDateTime"),
                    ]
                )
            ])
        case "GetHostname":
            return response([
                SOAPMessage.element(
                    tds,
                    "HostnameInformation",
                    [SOAPMessage.text(tt, "FromDHCP", "false"), SOAPMessage.text(tt, "Name", device.cameraName)]
                )
            ])
        case "GetScopes":
            return response(
                self.scopes(device).map { scope in
                    SOAPMessage.element(
                        tds,
                        "Scopes",
                        [SOAPMessage.text(tt, "ScopeDef", "Fixed"), SOAPMessage.text(tt, "ScopeItem", scope)]
                    )
                }
            )
        case "GetNetworkInterfaces":
            var interface = SOAPMessage.element(
                tds,
                "NetworkInterfaces",
                [
                    SOAPMessage.text(tt, "Enabled", "true"),
                    SOAPMessage.element(
                        tt,
                        "Info",
                        [
                            SOAPMessage.text(tt, "Name", "eth0"), SOAPMessage.text(tt, "HwAddress", device.mac),
                            SOAPMessage.text(tt, "MTU", "1500"),
                        ]
                    ),
                    SOAPMessage.element(
                        tt,
                        "IPv4",
                        [
                            SOAPMessage.text(tt, "Enabled", "true"),
                            SOAPMessage.element(
                                tt,
                                "Config",
                                [
                                    SOAPMessage.element(
                                        tt,
                                        "Manual",
                                        [
                                            SOAPMessage.text(tt, "Address", gatewayHost),
                                            SOAPMessage.text(tt, "PrefixLength", "24"),
                                        ]
                                    ),
                                    SOAPMessage.text(tt, "DHCP", "false"),
                                ]
                            ),
                        ]
                    ),
                ]
            )
            interface.attributes = [.init(namespace: nil, name: "token", value: "eth0")]
            return response([interface])
        case "GetDNS":
            return response([SOAPMessage.element(tds, "DNSInformation", [SOAPMessage.text(tt, "FromDHCP", "false")])])
        case "GetNTP":
            return response([SOAPMessage.element(tds, "NTPInformation", [SOAPMessage.text(tt, "FromDHCP", "false")])])
        case "GetNetworkProtocols":
            func proto(_ name: String, _ port: Int) -> XMLElement {
                SOAPMessage.element(
                    tds,
                    "NetworkProtocols",
                    [
                        SOAPMessage.text(tt, "Name", name), SOAPMessage.text(tt, "Enabled", "true"),
                        SOAPMessage.text(tt, "Port", String(port)),
                    ]
                )
            }
            return response([proto("HTTP", gatewayPort)])
        case "GetNetworkDefaultGateway":
            return response([SOAPMessage.element(tds, "NetworkGateway", [])])
        case "GetDiscoveryMode":
            return response([SOAPMessage.text(tds, "DiscoveryMode", "Discoverable")])
        case "GetZeroConfiguration":
            return response([
                SOAPMessage.element(
                    tds,
                    "ZeroConfiguration",
                    [SOAPMessage.text(tt, "InterfaceToken", "eth0"), SOAPMessage.text(tt, "Enabled", "false")]
                )
            ])
        case "GetWsdlUrl":
            return response([SOAPMessage.text(tds, "WsdlUrl", "http://www.onvif.org/")])
        case "GetEndpointReference":
            return response([SOAPMessage.text(tds, "GUID", device.uuid)])
        default:
            return nil
        }
    }

    /// The device's WS-Discovery and GetScopes scopes.
    public static func scopes(_ device: VirtualDevice) -> [String] {
        let name = device.cameraName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? device.cameraName
        return [
            "onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming",
            "onvif://www.onvif.org/name/\(name)", "onvif://www.onvif.org/hardware/CamGateway",
            "onvif://www.onvif.org/location/gateway",
        ]
    }

    /// The success a faked enrolment write gets: the empty `<Operation>Response` of its service.
    public static func emptyResponse(to operation: SOAPRequest.Operation) -> XMLElement {
        XMLElement(namespace: operation.namespace, name: operation.name + "Response")
    }
}
