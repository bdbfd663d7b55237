import NIOCore

/// Bounded checks of H.265 parameter sets (ITU-T H.265 §7.3.2.1–7.3.2.3, §7.3.3, §7.3.4).
///
/// The VPS, SPS and PPS are read whole to their trailing bits (the VPS's timing and HRD, the SPS's scaling lists,
/// PCM, reference picture sets and VUI with its HRD included); each refuses what the standard's ranges refuse, a
/// code that runs past the NAL, and the extensions no camera sends (multi-layer, 3D, range, SCC). Profiles and
/// levels must be ones the standard defines.
public enum H265ParameterSets {
    static let maxDimension: UInt32 = 8192
    /// Pictures one short-term reference picture set may name (FFmpeg's table: 32).
    static let maxReferences: UInt32 = 32
    /// general_level_idc is 30 × the level number.
    static let levels: Set<UInt32> = [30, 60, 63, 90, 93, 120, 123, 150, 153, 156, 180, 183, 186]

    public struct SPSInfo: Hashable, Sendable {
        public var id: Int
        public var vps: Int
        public var width: Int
        public var height: Int

        public init(id: Int, vps: Int, width: Int, height: Int) {
            self.id = id
            self.vps = vps
            self.width = width
            self.height = height
        }
    }

    /// `start..<end` is the whole NAL, its two header bytes included.
    public static func vps(_ buffer: ByteBuffer, start: Int, end: Int) -> Int? {
        var r = RBSPReader(buffer, start: start + 2, end: end)
        guard let id = r.bits(4), r.bits(2) != nil, let layers = r.bits(6), layers <= 62,
            let subLayers = r.bits(3), subLayers <= 6, r.bit() != nil, r.bits(16) == 0xFFFF,
            Self.profileTierLevel(&r, maxSubLayersMinus1: Int(subLayers)),
            Self.subLayerOrdering(&r, maxSubLayersMinus1: Int(subLayers)),
            let maxLayerID = r.bits(6), maxLayerID <= 62, let layerSets = r.ue(max: 1023)
        else { return nil }
        if layerSets > 0 {
            for _ in 1...layerSets where !r.skip(Int(maxLayerID) + 1) { return nil }
        }
        guard let timing = r.flag() else { return nil }
        if timing {
            // Zero timing is accepted, as FFmpeg does: it sizes nothing.
            guard r.skip(64), let poc = r.flag() else { return nil }
            if poc, r.ue(max: UInt32.max - 1) == nil { return nil }
            guard let hrdCount = r.ue(max: layerSets + 1) else { return nil }
            for index in 0..<Int(hrdCount) {
                guard r.ue(max: layerSets) != nil else { return nil }
                var common = true
                if index > 0 {
                    guard let present = r.flag() else { return nil }
                    common = present
                }
                if !Self.hrd(&r, common: common, maxSubLayersMinus1: Int(subLayers)) { return nil }
            }
        }
        // Extensions are for multi-layer and 3D coding, which no camera sends: refused rather than skipped.
        guard r.flag() == false, r.endsWithTrailingBits() else { return nil }
        return Int(id)
    }

    public static func sps(_ buffer: ByteBuffer, start: Int, end: Int) -> SPSInfo? {
        var r = RBSPReader(buffer, start: start + 2, end: end)
        guard let vps = r.bits(4), let subLayers = r.bits(3), subLayers <= 6, r.bit() != nil,
            Self.profileTierLevel(&r, maxSubLayersMinus1: Int(subLayers)),
            let id = r.ue(max: 15), let chroma = r.ue(max: 3)
        else { return nil }
        if chroma == 3, r.bit() == nil { return nil }
        guard let width = r.ue(max: Self.maxDimension), let height = r.ue(max: Self.maxDimension),
            width > 0, height > 0, let window = r.flag()
        else { return nil }
        if window {
            let unitX: UInt32 = chroma == 1 || chroma == 2 ? 2 : 1
            let unitY: UInt32 = chroma == 1 ? 2 : 1
            guard let left = r.ue(max: 8192), let right = r.ue(max: 8192), let top = r.ue(max: 8192),
                let bottom = r.ue(max: 8192),
                (left + right) * unitX < width, (top + bottom) * unitY < height
            else { return nil }
        }
        guard let lumaDepth = r.ue(max: 8), let chromaDepth = r.ue(max: 8), let pocLSB = r.ue(max: 12),
            Self.subLayerOrdering(&r, maxSubLayersMinus1: Int(subLayers)),
            let minCB = r.ue(max: 3), let diffCB = r.ue(max: 3), minCB + diffCB <= 3,
            let minTB = r.ue(max: 3), let diffTB = r.ue(max: 3), minTB + diffTB <= 3, minTB < minCB + 1,
            r.ue(max: 4) != nil, r.ue(max: 4) != nil
        else { return nil }
        // The luma size must be a whole number of minimum coding blocks (§7.4.3.2.1).
        let minBlock = UInt32(1) << (minCB + 3)
        guard width % minBlock == 0, height % minBlock == 0 else { return nil }
        guard let scaling = r.flag() else { return nil }
        if scaling {
            guard let present = r.flag() else { return nil }
            if present, !Self.scalingListData(&r) { return nil }
        }
        guard r.bit() != nil, r.bit() != nil, let pcm = r.flag() else { return nil }
        if pcm {
            guard let pcmLuma = r.bits(4), pcmLuma <= lumaDepth + 7, let pcmChroma = r.bits(4),
                pcmChroma <= chromaDepth + 7, let minPCM = r.ue(max: 2), let diffPCM = r.ue(max: 2),
                minPCM + diffPCM <= 2, r.bit() != nil
            else { return nil }
        }
        // The reference picture sets, whose counts size a decoder's tables (FFmpeg's hevc_ps has had its CVEs
        // here): at most 64 sets, each within those tables (fewer than 16 pictures each way, 32 in all), not the
        // DPB the SPS declares, which encoders get wrong and decoders correct.
        guard let sets = r.ue(max: 64) else { return nil }
        var previousDeltas: UInt32 = 0
        for index in 0..<sets {
            guard let deltas = Self.shortTermReferenceSet(&r, index: index, previous: previousDeltas) else {
                return nil
            }
            previousDeltas = deltas
        }
        guard let longTerm = r.flag() else { return nil }
        if longTerm {
            guard let count = r.ue(max: 32) else { return nil }
            for _ in 0..<count where !r.skip(Int(pocLSB) + 4 + 1) { return nil }
        }
        guard r.bit() != nil, r.bit() != nil, let vui = r.flag() else { return nil }
        if vui, !Self.vui(&r, maxSubLayersMinus1: Int(subLayers)) { return nil }
        // Range, multilayer, 3D and SCC extensions: no camera sends them.
        guard r.flag() == false, r.endsWithTrailingBits() else { return nil }
        return SPSInfo(id: Int(id), vps: Int(vps), width: Int(width), height: Int(height))
    }

    /// §7.3.7 in an SPS (where a predicted set refers to the set before it). Returns NumDeltaPocs of the set.
    static func shortTermReferenceSet(_ r: inout RBSPReader, index: UInt32, previous: UInt32) -> UInt32? {
        var predicted = false
        if index > 0 {
            guard let flag = r.flag() else { return nil }
            predicted = flag
        }
        if predicted {
            guard r.bit() != nil, r.ue(max: 32767) != nil else { return nil }
            var deltas: UInt32 = 0
            for _ in 0...previous {
                guard let used = r.flag() else { return nil }
                var kept = used
                if !used {
                    guard let use = r.flag() else { return nil }
                    kept = use
                }
                if kept { deltas += 1 }
            }
            return deltas <= Self.maxReferences ? deltas : nil
        }
        guard let negative = r.ue(max: 15), let positive = r.ue(max: 15) else { return nil }
        for _ in 0..<(negative + positive) where r.ue(max: 32767) == nil || r.bit() == nil { return nil }
        return negative + positive
    }

    /// Annex E.2.1.
    static func vui(_ r: inout RBSPReader, maxSubLayersMinus1: Int) -> Bool {
        guard let aspect = r.flag() else { return false }
        if aspect {
            guard let idc = r.bits(8) else { return false }
            if idc == 255, !r.skip(32) { return false }
        }
        guard let overscan = r.flag(), !overscan || r.skip(1), let signal = r.flag() else { return false }
        if signal {
            guard r.skip(4), let colour = r.flag(), !colour || r.skip(24) else { return false }
        }
        guard let location = r.flag() else { return false }
        if location, r.ue(max: 5) == nil || r.ue(max: 5) == nil { return false }
        guard r.skip(3), let window = r.flag() else { return false }
        if window {
            for _ in 0..<4 where r.ue(max: 8192) == nil { return false }
        }
        guard let timing = r.flag() else { return false }
        if timing {
            guard r.skip(64), let poc = r.flag() else { return false }
            if poc, r.ue(max: UInt32.max - 1) == nil { return false }
            guard let hrd = r.flag() else { return false }
            if hrd, !Self.hrd(&r, common: true, maxSubLayersMinus1: maxSubLayersMinus1) { return false }
        }
        guard let restriction = r.flag() else { return false }
        if restriction {
            guard r.skip(3), r.ue(max: 4095) != nil, r.ue(max: 16) != nil, r.ue(max: 16) != nil,
                r.ue(max: 15) != nil, r.ue(max: 15) != nil
            else { return false }
        }
        return true
    }

    public static func pps(_ buffer: ByteBuffer, start: Int, end: Int, sps: (Int) -> SPSInfo?) -> (id: Int, sps: Int)? {
        var r = RBSPReader(buffer, start: start + 2, end: end)
        guard let id = r.ue(max: 63), let spsID = r.ue(max: 15), let info = sps(Int(spsID)),
            r.bits(2) != nil, r.bits(3) != nil, r.bits(2) != nil,
            r.ue(max: 14) != nil, r.ue(max: 14) != nil, r.se(in: -74...25) != nil,
            r.bits(2) != nil, let cuQPDelta = r.flag()
        else { return nil }
        if cuQPDelta, r.ue(max: 3) == nil { return nil }
        guard r.se(in: -12...12) != nil, r.se(in: -12...12) != nil, r.bits(4) != nil,
            let tiles = r.flag(), r.bit() != nil
        else { return nil }
        if tiles {
            guard let columns = r.ue(max: 19), let rows = r.ue(max: 21), let uniform = r.flag() else { return nil }
            if !uniform {
                for _ in 0..<columns where r.ue(max: UInt32(info.width)) == nil { return nil }
                for _ in 0..<rows where r.ue(max: UInt32(info.height)) == nil { return nil }
            }
            guard r.bit() != nil else { return nil }
        }
        guard r.bit() != nil, let deblocking = r.flag() else { return nil }
        if deblocking {
            guard r.bit() != nil, let disabled = r.flag() else { return nil }
            if !disabled, r.se(in: -6...6) == nil || r.se(in: -6...6) == nil { return nil }
        }
        guard let scaling = r.flag() else { return nil }
        if scaling, !Self.scalingListData(&r) { return nil }
        guard r.bit() != nil, r.ue(max: 4) != nil, r.bit() != nil,
            r.flag() == false,  // range, multilayer, 3D and SCC extensions: no camera sends them
            r.endsWithTrailingBits()
        else { return nil }
        return (Int(id), Int(spsID))
    }

    /// §7.3.3, with profilePresentFlag 1.
    static func profileTierLevel(_ r: inout RBSPReader, maxSubLayersMinus1: Int) -> Bool {
        guard let space = r.bits(2), space == 0, r.bit() != nil, let profile = r.bits(5),
            let compatibility = r.bits(32), r.skip(48), let level = r.bits(8), Self.levels.contains(level)
        else { return false }
        // Main, Main 10, Main Still Picture, format range extensions; an encoder may write 0 and say which in
        // the compatibility flags (bit j is profile j, from the left).
        let known = (1...4).contains(profile) || (profile == 0 && compatibility & 0x7800_0000 != 0)
        guard known else { return false }
        // Two bits per sub-layer (profile present, level present), kept in one integer: no allocation.
        guard let present = r.bits(2 * maxSubLayersMinus1) else { return false }
        if maxSubLayersMinus1 > 0, !r.skip(2 * (8 - maxSubLayersMinus1)) { return false }
        for index in 0..<maxSubLayersMinus1 {
            let flags = present >> UInt32(2 * (maxSubLayersMinus1 - 1 - index))
            if flags & 2 != 0, !r.skip(88) { return false }
            if flags & 1 != 0, !r.skip(8) { return false }
        }
        return true
    }

    static func subLayerOrdering(_ r: inout RBSPReader, maxSubLayersMinus1: Int) -> Bool {
        guard let present = r.flag() else { return false }
        for _ in (present ? 0 : maxSubLayersMinus1)...maxSubLayersMinus1 {
            // A reorder count above the buffering is an encoder's slip that FFmpeg corrects (it raises the
            // buffering); refusing it would black out a real camera.
            guard r.ue(max: 15) != nil, r.ue(max: 15) != nil, r.ue(max: UInt32.max - 1) != nil else { return false }
        }
        return true
    }

    /// Annex E.2.2
    static func hrd(_ r: inout RBSPReader, common: Bool, maxSubLayersMinus1: Int) -> Bool {
        var nal = false
        var vcl = false
        var subPicture = false
        if common {
            guard let n = r.flag(), let v = r.flag() else { return false }
            nal = n
            vcl = v
            if nal || vcl {
                guard let sub = r.flag() else { return false }
                subPicture = sub
                if subPicture, !r.skip(19) { return false }
                if !r.skip(8) { return false }
                if subPicture, !r.skip(4) { return false }
                if !r.skip(15) { return false }
            }
        }
        for _ in 0...maxSubLayersMinus1 {
            guard let general = r.flag() else { return false }
            var withinCVS = true
            if !general {
                guard let within = r.flag() else { return false }
                withinCVS = within
            }
            var lowDelay = false
            if withinCVS {
                guard r.ue(max: 2047) != nil else { return false }
            } else {
                guard let low = r.flag() else { return false }
                lowDelay = low
            }
            var count: UInt32 = 0
            if !lowDelay {
                guard let cpb = r.ue(max: 31) else { return false }
                count = cpb
            }
            for _ in 0..<((nal ? 1 : 0) + (vcl ? 1 : 0)) {
                for _ in 0...count {
                    guard r.ue(max: UInt32.max - 1) != nil, r.ue(max: UInt32.max - 1) != nil else { return false }
                    if subPicture, r.ue(max: UInt32.max - 1) == nil || r.ue(max: UInt32.max - 1) == nil {
                        return false
                    }
                    guard r.bit() != nil else { return false }
                }
            }
        }
        return true
    }

    /// §7.3.4
    static func scalingListData(_ r: inout RBSPReader) -> Bool {
        for sizeID in 0..<4 {
            for matrixID in stride(from: 0, to: 6, by: sizeID == 3 ? 3 : 1) {
                guard let predicted = r.flag() else { return false }
                if !predicted {
                    guard r.ue(max: UInt32(sizeID == 3 ? matrixID / 3 : matrixID)) != nil else { return false }
                } else {
                    if sizeID > 1, r.se(in: -7...247) == nil { return false }
                    for _ in 0..<min(64, 1 << (4 + (sizeID << 1))) where r.se(in: -128...127) == nil { return false }
                }
            }
        }
        return true
    }
}
