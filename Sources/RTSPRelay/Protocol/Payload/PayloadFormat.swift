/// The payload formats whose packets the gateway checks before a reader's depacketizer sees them, chosen from a
/// media's `a=rtpmap` (or its static payload type) and `a=fmtp`. Anything else is `unchecked`: left out of the
/// gateway's SDP and its packets dropped, unless the camera's `allow_unchecked_codecs` names it. A format whose
/// parameters select a mode the checks do not implement (H.264 interleaved mode, H.265 with DONL fields, an AAC
/// mode without AU sizes) is unchecked too: reading its packets the plain way would check the wrong bytes.
public enum PayloadFormat: Hashable, Sendable {
    case h264
    case h265
    /// RFC 3640 `mpeg4-generic` AAC, with the AU-header layout its fmtp declares.
    case aac(AUHeaderLayout)
    /// RFC 6416 `MP4A-LATM` with the configuration in the SDP (`cpresent=0`): PayloadLengthInfo chains that add up.
    case latm
    case g711
    /// `vnd.onvif.metadata`: relayed with the RTP checks; its documents are not rewritten yet (see the README).
    case onvifMetadata
    case unchecked(String)

    public init(encoding: String?, payloadType: UInt8, fmtp: [String: String]) {
        guard let encoding = encoding?.uppercased() else {
            self = payloadType == 0 || payloadType == 8 ? .g711 : .unchecked("static payload type \(payloadType)")
            return
        }
        // A static payload type means its table's codec to a VMS that trusts the table (26 is JPEG whatever the
        // rtpmap says): only 0 and 8, and only as what the table says.
        if payloadType < 96 {
            let table = payloadType == 0 ? "PCMU" : payloadType == 8 ? "PCMA" : nil
            guard encoding == table else {
                self = .unchecked("\(encoding) on static payload type \(payloadType)")
                return
            }
        }
        // Numbers as a depacketizer reads them: "02" is 2, and what does not read as a number is not 0.
        func number(_ name: String) -> Int? {
            guard let text = fmtp[name] else { return 0 }
            return Int(text.trimmingASCIIWhitespace())
        }
        switch encoding {
        case "H264":
            // packetization-mode 2 carries decoding order numbers in STAP-B/MTAP/FU-B, which are refused.
            let mode = number("packetization-mode")
            self =
                mode == 0 || mode == 1 ? .h264 : .unchecked("H264 packetization mode \(mode.map(String.init) ?? "?")")
        case "H265", "HEVC":
            // Either parameter turns decoding order numbers on in FFmpeg's depacketizer.
            let plain = number("sprop-max-don-diff") == 0 && number("sprop-depack-buf-nalus") == 0
            self = plain ? .h265 : .unchecked("H265 with decoding order numbers")
        case "MPEG4-GENERIC":
            if let layout = AUHeaderLayout(fmtp: fmtp) {
                self = .aac(layout)
            } else {
                self = .unchecked("MPEG4-GENERIC mode \(fmtp["mode"] ?? "none")")
            }
        case "MP4A-LATM":
            // In-band StreamMuxConfig (cpresent=1) is another parser; FFmpeg refuses it too.
            self = number("cpresent") == 0 ? .latm : .unchecked("MP4A-LATM with in-band configuration")
        case "PCMU", "PCMA": self = .g711
        case "VND.ONVIF.METADATA": self = .onvifMetadata
        default: self = .unchecked(encoding)
        }
    }

    public var isChecked: Bool {
        if case .unchecked = self { return false }
        return true
    }

    /// The name the admin writes in `allow_unchecked_codecs` and the logs use.
    public var name: String {
        switch self {
        case .h264: "H264"
        case .h265: "H265"
        case .aac: "MPEG4-GENERIC"
        case .latm: "MP4A-LATM"
        case .g711: "G711"
        case .onvifMetadata: "VND.ONVIF.METADATA"
        case .unchecked(let what): what
        }
    }
}

/// The AU-header section of an AAC packet (RFC 3640 §3.2.1), as the fmtp declares it.
public struct AUHeaderLayout: Hashable, Sendable {
    public var sizeLength: Int
    public var indexLength: Int
    public var indexDeltaLength: Int
    public var ctsDeltaLength: Int
    public var dtsDeltaLength: Int
    public var randomAccessIndication: Bool
    public var streamStateIndication: Int

    /// AAC-hbr and AAC-lbr only (the modes cameras use), with an AU size of 1 to 16 bits and no auxiliary data.
    public init?(fmtp: [String: String]) {
        func value(_ name: String, max: Int) -> Int? {
            guard let text = fmtp[name] else { return 0 }
            guard let number = Int(text), (0...max).contains(number) else { return nil }
            return number
        }
        guard let mode = fmtp["mode"]?.lowercased(), mode == "aac-hbr" || mode == "aac-lbr",
            let size = value("sizelength", max: 16), size > 0,
            let index = value("indexlength", max: 8), let delta = value("indexdeltalength", max: 8),
            let cts = value("ctsdeltalength", max: 32), let dts = value("dtsdeltalength", max: 32),
            let rap = value("randomaccessindication", max: 1), let state = value("streamstateindication", max: 32),
            value("auxiliarydatasizelength", max: 0) != nil
        else { return nil }
        self.sizeLength = size
        self.indexLength = index
        self.indexDeltaLength = delta
        self.ctsDeltaLength = cts
        self.dtsDeltaLength = dts
        self.randomAccessIndication = rap == 1
        self.streamStateIndication = state
    }
}
