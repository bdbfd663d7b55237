/// What the gateway does with each ONVIF operation, by service namespace and operation name. Anything not in
/// these tables (another operation, another namespace) is refused: the policy is default deny.
public enum ONVIFOperationCatalog {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// Identity and network reads: answered by the gateway with the virtual device's identity.
        case local
        /// Capabilities, services, device information: forwarded, addresses rewritten, services filtered.
        case deviceRead
        /// Media and Media2 reads: forwarded, stream and snapshot URIs pointed at the gateway.
        case streamingRead
        /// PullPoint events: forwarded only with the `events` grant.
        case events
        /// PTZ movement and reads: forwarded only with the `ptz` grant.
        case ptz
        /// Configuration writes VMSes make while enrolling: answered with a success that changes nothing.
        case enrollmentWrite
    }

    public static func kind(of operation: SOAPRequest.Operation) -> Kind? {
        self.table[operation.namespace]?[operation.name]
    }

    /// Device-management operations that are always refused but that an admin wants to see by name in the counts
    /// (someone tried to reboot, reset, re-address or re-user a camera). Fixed, so the counts stay bounded.
    public static let auditedRefusals: Set<String> = [
        "SystemReboot", "SetSystemFactoryDefault", "StartFirmwareUpgrade", "UpgradeSystemFirmware",
        "StartSystemRestore", "RestoreSystem", "CreateUsers", "DeleteUsers", "SetUser", "SetNetworkInterfaces",
        "SetNetworkProtocols", "SetNetworkDefaultGateway", "SetDNS", "SetHostname", "SetScopes", "AddScopes",
        "RemoveScopes", "SetDiscoveryMode", "SetRelayOutputState", "SetRemoteUser", "SetAccessPolicy",
        "SetIPAddressFilter", "SetZeroConfiguration", "SendAuxiliaryCommand", "GetSystemLog", "GetSystemBackup",
        "GetUsers",
    ]

    /// Whether the counts keep this operation under its own name (else under `unknown`).
    public static func isCountedByName(_ operation: SOAPRequest.Operation) -> Bool {
        self.kind(of: operation) != nil
            || (operation.namespace == ONVIFNamespace.device && self.auditedRefusals.contains(operation.name))
    }

    public static func serviceName(_ namespace: String) -> String {
        switch namespace {
        case ONVIFNamespace.device: "device"
        case ONVIFNamespace.media: "media"
        case ONVIFNamespace.media2: "media2"
        case ONVIFNamespace.events: "events"
        case ONVIFNamespace.wsnt: "wsnt"
        case ONVIFNamespace.ptz: "ptz"
        default: "unknown"
        }
    }

    static func entries(_ kind: Kind, _ names: String) -> [(String, Kind)] {
        names.split(separator: " ").map { (String($0), kind) }
    }

    static let table: [String: [String: Kind]] = [
        ONVIFNamespace.device: Dictionary(
            uniqueKeysWithValues:
                entries(
                    .local,
                    "GetSystemDateAndTime GetHostname GetScopes GetNetworkInterfaces GetDNS GetNTP GetNetworkProtocols "
                        + "GetNetworkDefaultGateway GetDiscoveryMode GetZeroConfiguration GetWsdlUrl GetEndpointReference"
                )
                + entries(.deviceRead, "GetDeviceInformation GetCapabilities GetServices GetServiceCapabilities")
                + entries(.enrollmentWrite, "SetSystemDateAndTime SetNTP")
        ),
        ONVIFNamespace.media: Dictionary(
            uniqueKeysWithValues:
                entries(
                    .streamingRead,
                    "GetProfiles GetProfile GetVideoSources GetVideoSourceConfigurations GetVideoSourceConfiguration "
                        + "GetVideoSourceConfigurationOptions GetVideoEncoderConfigurations GetVideoEncoderConfiguration "
                        + "GetVideoEncoderConfigurationOptions GetAudioSources GetAudioSourceConfigurations "
                        + "GetAudioSourceConfiguration GetAudioSourceConfigurationOptions GetAudioEncoderConfigurations "
                        + "GetAudioEncoderConfiguration GetAudioEncoderConfigurationOptions GetMetadataConfigurations "
                        + "GetMetadataConfiguration GetMetadataConfigurationOptions GetCompatibleVideoEncoderConfigurations "
                        + "GetCompatibleVideoSourceConfigurations GetCompatibleAudioEncoderConfigurations "
                        + "GetCompatibleAudioSourceConfigurations GetCompatibleMetadataConfigurations "
                        + "GetVideoAnalyticsConfigurations GetGuaranteedNumberOfVideoEncoderInstances GetStreamUri "
                        + "GetSnapshotUri GetServiceCapabilities"
                )
                + entries(
                    .enrollmentWrite,
                    "SetVideoEncoderConfiguration SetVideoSourceConfiguration SetAudioEncoderConfiguration "
                        + "SetAudioSourceConfiguration SetMetadataConfiguration CreateProfile DeleteProfile "
                        + "AddVideoEncoderConfiguration AddVideoSourceConfiguration AddAudioEncoderConfiguration "
                        + "AddAudioSourceConfiguration AddMetadataConfiguration AddPTZConfiguration "
                        + "RemoveVideoEncoderConfiguration RemoveVideoSourceConfiguration RemoveAudioEncoderConfiguration "
                        + "RemoveAudioSourceConfiguration RemoveMetadataConfiguration RemovePTZConfiguration"
                )
        ),
        ONVIFNamespace.media2: Dictionary(
            uniqueKeysWithValues:
                entries(
                    .streamingRead,
                    "GetProfiles GetVideoSourceConfigurations GetVideoEncoderConfigurations "
                        + "GetVideoSourceConfigurationOptions GetVideoEncoderConfigurationOptions "
                        + "GetAudioSourceConfigurations GetAudioEncoderConfigurations GetAudioSourceConfigurationOptions "
                        + "GetAudioEncoderConfigurationOptions GetMetadataConfigurations GetMetadataConfigurationOptions "
                        + "GetStreamUri GetSnapshotUri GetServiceCapabilities GetVideoEncoderInstances"
                )
                + entries(
                    .enrollmentWrite,
                    "CreateProfile DeleteProfile AddConfiguration RemoveConfiguration SetVideoEncoderConfiguration "
                        + "SetVideoSourceConfiguration SetAudioEncoderConfiguration SetAudioSourceConfiguration "
                        + "SetMetadataConfiguration"
                )
        ),
        ONVIFNamespace.events: Dictionary(
            uniqueKeysWithValues: entries(
                .events,
                "CreatePullPointSubscription PullMessages SetSynchronizationPoint GetEventProperties GetServiceCapabilities"
            )
        ),
        ONVIFNamespace.wsnt: Dictionary(uniqueKeysWithValues: entries(.events, "Renew Unsubscribe")),
        ONVIFNamespace.ptz: Dictionary(
            uniqueKeysWithValues: entries(
                .ptz,
                "ContinuousMove RelativeMove AbsoluteMove Stop GotoPreset GotoHomePosition GetPresets GetStatus GetNodes "
                    + "GetNode GetConfigurations GetConfiguration GetConfigurationOptions GetServiceCapabilities"
            )
        ),
    ]
}

/// One camera's ONVIF policy: what it grants beyond reads, and whether enrolment writes are faked.
public struct ONVIFPolicy: Hashable, Sendable {
    public enum Decision: Hashable, Sendable {
        case answerLocally
        case forward(ONVIFOperationCatalog.Kind)
        case fakeSuccess
        case refuse
    }

    public var ptz: Bool
    public var events: Bool
    /// Enrolment writes answered with a success that changes nothing (the default), or refused.
    public var fakeEnrollmentWrites: Bool

    public init(ptz: Bool = false, events: Bool = false, fakeEnrollmentWrites: Bool = true) {
        self.ptz = ptz
        self.events = events
        self.fakeEnrollmentWrites = fakeEnrollmentWrites
    }

    public func decide(_ operation: SOAPRequest.Operation) -> Decision {
        guard let kind = ONVIFOperationCatalog.kind(of: operation) else { return .refuse }
        switch kind {
        case .local: return .answerLocally
        case .deviceRead, .streamingRead: return .forward(kind)
        case .events: return self.events ? .forward(kind) : .refuse
        case .ptz: return self.ptz ? .forward(kind) : .refuse
        case .enrollmentWrite: return self.fakeEnrollmentWrites ? .fakeSuccess : .refuse
        }
    }

    /// Operations a VMS may call without credentials (ONVIF Core §5.9.4.3, PRE_AUTH).
    /// GetHostname among them: libonvif asks it before it has set its credentials, and the answer is the virtual
    /// device's own name (answered locally), so nothing of the camera's is given away.
    public static func isPreAuth(_ operation: SOAPRequest.Operation) -> Bool {
        operation.namespace == ONVIFNamespace.device
            && [
                "GetSystemDateAndTime", "GetWsdlUrl", "GetEndpointReference", "GetServices", "GetServiceCapabilities",
                "GetHostname",
            ].contains(operation.name)
    }
}
