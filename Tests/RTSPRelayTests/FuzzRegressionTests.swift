import Foundation
import FuzzProperties
import TestSupport
import Testing

/// Every seed of the fuzz corpora and every crasher the fuzzers found (after its fix), through the same property
/// checks the fuzz targets make. "This test must only not crash": a regression traps the test process.
@Suite struct FuzzRegressionTests {
    static let properties: [String: @Sendable (UnsafeRawPointer, Int) -> Void] = [
        "FuzzRTSPParser": FuzzProperties.rtspParser,
        "FuzzHeaders": FuzzProperties.headers,
        "FuzzSDP": FuzzProperties.sdp,
        "FuzzRTP": FuzzProperties.rtp,
        "FuzzPayload": FuzzProperties.payload,
        "FuzzRelayInput": FuzzProperties.relayInput,
        "FuzzSOAP": FuzzProperties.soap,
        "FuzzDiscoveryProbe": FuzzProperties.discoveryProbe,
        "FuzzDiscoveryProbeMatches": FuzzProperties.discoveryProbeMatches,
    ]

    static let inputs: [String] = ["fuzz/seeds", "Tests/Fuzz/regressions"].flatMap { folder in
        properties.keys.sorted().flatMap { target in
            let directory = Fixtures.packageRoot.appendingPathComponent("\(folder)/\(target)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.sorted().map { "\(folder)/\(target)/\($0)" }
        }
    }

    @Test func corporaArePresent() {
        #expect(Self.inputs.contains { $0.hasPrefix("Tests/Fuzz/regressions/") })
        #expect(Self.inputs.filter { $0.hasPrefix("fuzz/seeds/") }.count >= 10)
    }

    @Test(arguments: inputs)
    func replay(_ path: String) throws {
        let target = path.split(separator: "/").dropLast().last.map(String.init) ?? ""
        let property = try #require(Self.properties[target])
        let data = try Data(contentsOf: Fixtures.packageRoot.appendingPathComponent(path))
        data.withUnsafeBytes { bytes in
            // An empty input has no base address; the properties treat it as no input at all.
            if let base = bytes.baseAddress { property(base, bytes.count) }
        }
    }
}
