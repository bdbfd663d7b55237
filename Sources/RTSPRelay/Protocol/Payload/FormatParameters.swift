import GatewayAuth
import NIOCore

/// The `a=fmtp` parameters the gateway describes for a checked format, written anew (protocol break): only the
/// keys that format's depacketizers read, each value as the gateway parsed it (numbers as numbers, hex digits only),
/// and the parameter sets of `sprop-parameter-sets` / `sprop-vps`, `-sps`, `-pps` only when they pass the same
/// checks as in-band ones. The payload check starts from those parameter sets, so a camera that sends its SPS only
/// in the SDP and its PPS in-band is not refused, and a VMS decoder never gets a parameter set from the SDP that
/// the relay would have dropped from the stream. An AAC `config` (AudioSpecificConfig, or LATM's StreamMuxConfig)
/// that does not read as one is left out, which makes the track unplayable rather than a parser target.
public struct FormatParameters: Hashable, Sendable {
    /// `key=value` (or a bare key), in the order written.
    public var parameters: [String]
    /// The SDP's parameter sets that passed, sequence level first: what ``PayloadGuard`` learns before the stream.
    public var parameterSets: [[UInt8]]
    /// The SDP's parameter sets (or config) that did not pass.
    public var refused: Int

    public init(format: PayloadFormat, fmtp: [String: String]) {
        self.parameters = []
        self.parameterSets = []
        self.refused = 0
        switch format {
        case .h264:
            self.number("packetization-mode", fmtp, in: 0...1)
            self.hex("profile-level-id", fmtp, digits: 6...6)
            self.number("level-asymmetry-allowed", fmtp, in: 0...1)
            self.parameterSets(h265: false, [("sprop-parameter-sets", fmtp["sprop-parameter-sets"])])
        case .h265:
            self.number("profile-space", fmtp, in: 0...3)
            self.number("profile-id", fmtp, in: 0...31)
            self.number("tier-flag", fmtp, in: 0...1)
            self.number("level-id", fmtp, in: 0...255)
            self.hex("interop-constraints", fmtp, digits: 12...12)
            if fmtp["tx-mode"]?.uppercased() == "SRST" { self.parameters.append("tx-mode=SRST") }
            self.parameterSets(
                h265: true,
                ["sprop-vps", "sprop-sps", "sprop-pps"].map { ($0, fmtp[$0]) }
            )
        case .aac:
            self.number("streamtype", fmtp, in: 0...63)
            self.number("profile-level-id", fmtp, in: 0...255)
            if let mode = fmtp["mode"]?.lowercased() {
                self.parameters.append("mode=\(mode == "aac-hbr" ? "AAC-hbr" : "AAC-lbr")")
            }
            self.config(fmtp, read: AudioConfig.audioSpecificConfig)
            for key in [
                "sizelength", "indexlength", "indexdeltalength", "ctsdeltalength", "dtsdeltalength",
                "randomaccessindication", "streamstateindication",
            ] {
                self.number(key, fmtp, in: 0...32)
            }
        case .latm:
            self.number("profile-level-id", fmtp, in: 0...255)
            self.number("object", fmtp, in: 0...63)
            self.number("bitrate", fmtp, in: 0...100_000_000)
            // Written even when the camera left it out: RFC 6416's default is 1 (in-band configuration), FFmpeg's is
            // 0, and the check read the packets as 0.
            self.parameters.append("cpresent=0")
            self.number("sbr-enabled", fmtp, in: 0...1)
            self.config(fmtp, read: AudioConfig.streamMuxConfig)
        case .g711, .onvifMetadata:
            break
        case .unchecked:
            // Allowed unchecked by the admin: described as the camera wrote it, as before the checks.
            self.parameters = fmtp.sorted { $0.key < $1.key }.map {
                $0.value.isEmpty ? $0.key : "\($0.key)=\($0.value)"
            }
        }
    }

    private mutating func number(_ key: String, _ fmtp: [String: String], in range: ClosedRange<Int>) {
        guard let text = fmtp[key] else { return }
        guard let value = Int(text.trimmingASCIIWhitespace()), range.contains(value) else {
            self.refused += 1
            return
        }
        self.parameters.append("\(key)=\(value)")
    }

    private mutating func hex(_ key: String, _ fmtp: [String: String], digits: ClosedRange<Int>) {
        guard let text = fmtp[key] else { return }
        guard let bytes = Self.hexBytes(text), digits.contains(2 * bytes.count) else {
            self.refused += 1
            return
        }
        // Only hex digits are left, so the camera's own spelling (its case) is kept.
        self.parameters.append("\(key)=\(text.trimmingASCIIWhitespace())")
    }

    private mutating func config(_ fmtp: [String: String], read: ([UInt8]) -> Bool) {
        guard let text = fmtp["config"] else { return }
        guard let bytes = Self.hexBytes(text), bytes.count <= 32, read(bytes) else {
            self.refused += 1
            return
        }
        self.parameters.append("config=\(hexString(bytes))")
    }

    /// Each list's NALs checked in order (VPS before SPS before PPS), through one ``PayloadGuard`` so that a PPS
    /// must name an SPS that passed.
    private mutating func parameterSets(h265: Bool, _ lists: [(key: String, value: String?)]) {
        var guardian = PayloadGuard(format: h265 ? .h265 : .h264)
        let allowed: [String: Set<UInt8>] = [
            "sprop-parameter-sets": [7, 8], "sprop-vps": [32], "sprop-sps": [33], "sprop-pps": [34],
        ]
        var candidates: [(key: String, nal: [UInt8])] = []
        for (key, value) in lists {
            guard let value else { continue }
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let text = item.trimmingASCIIWhitespace()
                // Padding as FFmpeg and GLib take it: optional.
                let padded = text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
                guard let nal = base64Decode(padded), nal.count >= (h265 ? 3 : 2), nal.count <= 4096,
                    allowed[key]!.contains(h265 ? (nal[0] >> 1) & 0x3F : nal[0] & 0x1F)
                else {
                    self.refused += 1
                    continue
                }
                candidates.append((key, nal))
            }
        }
        // H.264's one list may name a PPS first; sequence level goes first either way.
        let sequenceLevel: (UInt8) -> Bool = { h265 ? ($0 >> 1) & 0x3F != 34 : $0 & 0x1F == 7 }
        let ordered = candidates.filter { sequenceLevel($0.nal[0]) } + candidates.filter { !sequenceLevel($0.nal[0]) }
        var kept: [String: [String]] = [:]
        for candidate in ordered {
            if guardian.learn(ByteBuffer(bytes: candidate.nal)) {
                self.parameterSets.append(candidate.nal)
                kept[candidate.key, default: []].append(base64Encode(candidate.nal))
            } else {
                self.refused += 1
            }
        }
        for (key, _) in lists {
            if let values = kept[key] { self.parameters.append("\(key)=\(values.joined(separator: ","))") }
        }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.trimmingASCIIWhitespace().utf8)
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

/// The AAC configurations an SDP carries, read to their last bit as FFmpeg's AAC decoder reads them (its extradata):
/// an AudioSpecificConfig (ISO 14496-3 §1.6.2.1) of a plain AAC object type (Main, LC, SSR, LTP; SBR and PS with one
/// of those underneath) with its GASpecificConfig (no core coder, no extension), then nothing but a well-formed SBR/PS
/// sync extension and zero padding; and LATM's StreamMuxConfig (§1.7.3) in the one shape `rtpdec_latm` takes
/// (version 0, one program, one layer, all streams framed alike), its tail (frame length type 0, buffer fullness, no
/// other data, no CRC) read too. No bit of a config the gateway writes is one it did not read.
enum AudioConfig {
    static func audioSpecificConfig(_ bytes: [UInt8]) -> Bool {
        var r = RBSPReader(ByteBuffer(bytes: bytes), start: 0, end: bytes.count, escaped: false)
        guard self.audioSpecificConfig(&r) else { return false }
        let total = 8 * bytes.count
        // The backward-compatible SBR (and PS) signalling some encoders append (§1.6.5.2).
        if total - r.consumed >= 16 {
            guard r.bits(11) == 0x2B7, r.bits(5) == 5, let sbr = r.flag() else { return false }
            if sbr {
                guard self.samplingFrequency(&r) else { return false }
                if total - r.consumed >= 12 {
                    guard r.bits(11) == 0x548, r.bit() != nil else { return false }
                }
            }
        }
        return self.zerosToEnd(&r, total: total)
    }

    static func audioSpecificConfig(_ r: inout RBSPReader) -> Bool {
        guard var objectType = r.objectType(), self.samplingFrequency(&r),
            let channels = r.bits(4), (1...7).contains(channels)  // 0: a program config element follows
        else { return false }
        // SBR and PS (explicit signalling) name the underlying object type next, after the extension rate.
        if objectType == 5 || objectType == 29 {
            guard self.samplingFrequency(&r), let underlying = r.objectType() else { return false }
            objectType = underlying
        }
        guard (1...4).contains(objectType) else { return false }
        // GASpecificConfig: frame length flag; a core coder or the extension flag (ER tools) would be another
        // parser's input.
        guard r.bit() != nil, r.flag() == false, r.flag() == false else { return false }
        return true
    }

    static func samplingFrequency(_ r: inout RBSPReader) -> Bool {
        guard let index = r.bits(4) else { return false }
        if index == 15 {
            guard let explicit = r.bits(24), (8000...96000).contains(explicit) else { return false }
            return true
        }
        return index <= 12
    }

    static func streamMuxConfig(_ bytes: [UInt8]) -> Bool {
        var r = RBSPReader(ByteBuffer(bytes: bytes), start: 0, end: bytes.count, escaped: false)
        guard r.bits(1) == 0,  // audioMuxVersion
            r.bits(1) == 1,  // allStreamsSameTimeFraming
            r.bits(6) != nil,  // numSubFrames
            r.bits(4) == 0,  // numProgram
            r.bits(3) == 0,  // numLayer
            self.audioSpecificConfig(&r)
        else { return false }
        let total = 8 * bytes.count
        // Some writers stop after the AudioSpecificConfig; FFmpeg passes the rest to the decoder, which ignores it.
        if total - r.consumed >= 13 {
            guard r.bits(3) == 0,  // frameLengthType 0
                r.bits(8) != nil,  // latmBufferFullness
                r.flag() == false,  // otherDataPresent
                r.flag() == false  // crcCheckPresent
            else { return false }
        }
        return self.zerosToEnd(&r, total: total)
    }

    static func zerosToEnd(_ r: inout RBSPReader, total: Int) -> Bool {
        while r.consumed < total {
            guard r.bit() == 0 else { return false }
        }
        return true
    }
}

extension RBSPReader {
    /// An audioObjectType (5 bits, 31 escaping to 32 + 6 bits).
    mutating func objectType() -> UInt32? {
        guard let type = self.bits(5) else { return nil }
        if type == 31 { return self.bits(6).map { 32 + $0 } }
        return type
    }
}
