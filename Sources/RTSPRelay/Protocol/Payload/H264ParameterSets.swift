import NIOCore

/// Bounded checks of H.264 sequence and picture parameter sets (ITU-T H.264 §7.3.2.1.1, §7.3.2.2, Annex E.1.1).
///
/// Every syntax element is read, in order, to the RBSP trailing bits; a value outside the range the standard
/// allows, a profile or level the standard does not define, a picture larger than 8192×8192, or a code that runs
/// past the end of the NAL refuses the whole parameter set. Decoders have a long history of overflows on exactly
/// these fields (`num_ref_frames_in_pic_order_cnt_cycle`, scaling lists, crop offsets, `cpb_cnt`), so nothing
/// that a decoder would reject or mis-size reaches one. The values themselves are not kept: the gateway forwards
/// the camera's bytes, only after they were read whole.
public enum H264ParameterSets {
    static let maxDimension = 8192

    /// What a later PPS needs to know about an SPS.
    public struct SPSInfo: Hashable, Sendable {
        public var id: Int
        public var chromaFormat: Int
        public var width: Int
        public var height: Int

        public init(id: Int, chromaFormat: Int, width: Int, height: Int) {
            self.id = id
            self.chromaFormat = chromaFormat
            self.width = width
            self.height = height
        }
    }

    static let highProfiles: Set<UInt32> = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]
    static let profiles: Set<UInt32> = highProfiles.union([66, 77, 88])
    static let levels: Set<UInt32> = [9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62]

    /// The NAL (header byte included) at `start..<end` of `buffer`.
    public static func sps(_ buffer: ByteBuffer, start: Int, end: Int) -> SPSInfo? {
        var r = RBSPReader(buffer, start: start + 1, end: end)
        guard let profile = r.bits(8), Self.profiles.contains(profile),
            r.bits(8) != nil,  // constraint flags; the reserved bits are for decoders to ignore
            let level = r.bits(8), Self.levels.contains(level),
            let id = r.ue(max: 31)
        else { return nil }
        var chroma: UInt32 = 1
        if Self.highProfiles.contains(profile) {
            guard let format = r.ue(max: 3) else { return nil }
            chroma = format
            if chroma == 3, r.bit() == nil { return nil }
            guard r.ue(max: 6) != nil, r.ue(max: 6) != nil, r.bit() != nil, let matrix = r.flag() else { return nil }
            if matrix {
                for list in 0..<(chroma == 3 ? 12 : 8) {
                    guard let present = r.flag() else { return nil }
                    if present, !Self.scalingList(&r, size: list < 6 ? 16 : 64) { return nil }
                }
            }
        }
        guard r.ue(max: 12) != nil, let pocType = r.ue(max: 2) else { return nil }
        if pocType == 0 {
            guard r.ue(max: 12) != nil else { return nil }
        } else if pocType == 1 {
            let range: ClosedRange<Int64> = -(1 << 31) + 1...(1 << 31) - 1
            guard r.bit() != nil, r.se(in: range) != nil, r.se(in: range) != nil, let cycle = r.ue(max: 255)
            else { return nil }
            for _ in 0..<cycle where r.se(in: range) == nil { return nil }
        }
        guard r.ue(max: 16) != nil, r.bit() != nil,
            let widthInMBs = r.ue(max: UInt32(Self.maxDimension / 16 - 1)),
            let heightInMapUnits = r.ue(max: UInt32(Self.maxDimension / 16 - 1)),
            let frameMBsOnly = r.flag()
        else { return nil }
        if !frameMBsOnly, r.bit() == nil { return nil }
        let width = Int(widthInMBs + 1) * 16
        let height = (frameMBsOnly ? 1 : 2) * Int(heightInMapUnits + 1) * 16
        guard height <= Self.maxDimension, r.bit() != nil, let cropping = r.flag() else { return nil }
        if cropping {
            // Crop units (§7.4.2.1.1): 1 luma sample per unit for 4:4:4 and monochrome, 2 otherwise; twice
            // vertically for field coding.
            let unitX = chroma == 1 || chroma == 2 ? 2 : 1
            let unitY = (chroma == 1 ? 2 : 1) * (frameMBsOnly ? 1 : 2)
            guard let left = r.ue(max: 8192), let right = r.ue(max: 8192), let top = r.ue(max: 8192),
                let bottom = r.ue(max: 8192),
                Int(left + right) * unitX < width, Int(top + bottom) * unitY < height
            else { return nil }
        }
        guard let vui = r.flag() else { return nil }
        if vui, !Self.vui(&r) { return nil }
        guard r.endsWithTrailingBits() else { return nil }
        return SPSInfo(id: Int(id), chromaFormat: Int(chroma), width: width, height: height)
    }

    /// The PPS's own id and the SPS it names; `sps` gives the SPSs validated so far (the PPS needs the SPS's
    /// chroma format to know how many scaling lists it carries, and a PPS naming an unknown SPS is refused).
    public static func pps(
        _ buffer: ByteBuffer,
        start: Int,
        end: Int,
        sps: (Int) -> SPSInfo?
    ) -> (id: Int, sps: Int)? {
        var r = RBSPReader(buffer, start: start + 1, end: end)
        guard let id = r.ue(max: 255), let spsID = r.ue(max: 31), let info = sps(Int(spsID)),
            r.bit() != nil, r.bit() != nil, let groups = r.ue(max: 7)
        else { return nil }
        if groups > 0 {
            let mapUnits = UInt32(info.width / 16 * info.height / 16)
            guard let mapType = r.ue(max: 6) else { return nil }
            switch mapType {
            case 0:
                for _ in 0...groups where r.ue(max: mapUnits - 1) == nil { return nil }
            case 2:
                for _ in 0..<groups where r.ue(max: mapUnits - 1) == nil || r.ue(max: mapUnits - 1) == nil {
                    return nil
                }
            case 3, 4, 5:
                guard r.bit() != nil, r.ue(max: mapUnits - 1) != nil else { return nil }
            case 6:
                guard let units = r.ue(max: mapUnits - 1) else { return nil }
                var bits = 0
                while (1 << bits) < groups + 1 { bits += 1 }
                for _ in 0...units {
                    guard let group = r.bits(bits), group <= groups else { return nil }
                }
            default:
                break
            }
        }
        guard r.ue(max: 31) != nil, r.ue(max: 31) != nil, r.bit() != nil,
            let bipred = r.bits(2), bipred <= 2,
            r.se(in: -62...25) != nil, r.se(in: -26...25) != nil, r.se(in: -12...12) != nil,
            r.bit() != nil, r.bit() != nil, r.bit() != nil
        else { return nil }
        if r.moreData() {
            guard let transform8x8 = r.flag(), let matrix = r.flag() else { return nil }
            if matrix {
                let lists = 6 + (transform8x8 ? (info.chromaFormat == 3 ? 6 : 2) : 0)
                for list in 0..<lists {
                    guard let present = r.flag() else { return nil }
                    if present, !Self.scalingList(&r, size: list < 6 ? 16 : 64) { return nil }
                }
            }
            guard r.se(in: -12...12) != nil else { return nil }
        }
        guard r.endsWithTrailingBits() else { return nil }
        return (Int(id), Int(spsID))
    }

    /// §7.3.2.1.1.1
    static func scalingList(_ r: inout RBSPReader, size: Int) -> Bool {
        var last: Int64 = 8
        var next: Int64 = 8
        for _ in 0..<size where next != 0 {
            guard let delta = r.se(in: -128...127) else { return false }
            next = (last + delta + 256) % 256
            if next != 0 { last = next }
        }
        return true
    }

    /// Annex E.1.1
    static func vui(_ r: inout RBSPReader) -> Bool {
        guard let aspect = r.flag() else { return false }
        if aspect {
            guard let idc = r.bits(8) else { return false }
            if idc == 255 {
                guard r.bits(16) != nil, r.bits(16) != nil else { return false }  // 0 means unspecified (E.2.1)
            }
        }
        guard let overscan = r.flag() else { return false }
        if overscan, r.bit() == nil { return false }
        guard let signal = r.flag() else { return false }
        if signal {
            guard r.bits(3) != nil, r.bit() != nil, let colour = r.flag() else { return false }
            if colour, r.bits(24) == nil { return false }
        }
        guard let chromaLocation = r.flag() else { return false }
        if chromaLocation, r.ue(max: 5) == nil || r.ue(max: 5) == nil { return false }
        guard let timing = r.flag() else { return false }
        if timing {
            guard let tick = r.bits(32), let scale = r.bits(32), tick > 0, scale > 0, r.bit() != nil else {
                return false
            }
        }
        guard let nal = r.flag() else { return false }
        if nal, !Self.hrd(&r) { return false }
        guard let vcl = r.flag() else { return false }
        if vcl, !Self.hrd(&r) { return false }
        if nal || vcl, r.bit() == nil { return false }
        guard r.bit() != nil, let restriction = r.flag() else { return false }
        if restriction {
            guard r.bit() != nil, r.ue(max: 16) != nil, r.ue(max: 16) != nil, r.ue(max: 16) != nil,
                r.ue(max: 16) != nil, let reorder = r.ue(max: 16), let buffering = r.ue(max: 16),
                reorder <= buffering
            else { return false }
        }
        return true
    }

    /// Annex E.1.2
    static func hrd(_ r: inout RBSPReader) -> Bool {
        guard let count = r.ue(max: 31), r.bits(8) != nil else { return false }
        for _ in 0...count {
            guard r.ue(max: UInt32.max - 1) != nil, r.ue(max: UInt32.max - 1) != nil, r.bit() != nil else {
                return false
            }
        }
        return r.bits(20) != nil
    }
}
