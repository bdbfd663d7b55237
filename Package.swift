// swift-tools-version: 6.2
import PackageDescription

/// Every target of ours is built in the Swift 6 language mode (strict concurrency) with warnings as errors.
/// `treatAllWarnings` applies to our targets only, so a warning inside a dependency cannot break the build.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let fuzzDependencies: [Target.Dependency] = ["FuzzProperties"]

let package = Package(
    name: "CamGateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "camgw", targets: ["CamGateway"]),
        .executable(name: "camgw-bench", targets: ["RelayBenchmark"]),
        .library(name: "RTSPRelay", targets: ["RTSPRelay"]),
        .library(name: "ONVIF", targets: ["ONVIF"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", from: "1.6.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // Who may in and how often: Digest (RFC 7616) both ways, users, CIDR, the failed-login gate, connection
        // budgets, rate limits. Shared by the relay and ONVIF, so ONVIF does not import the relay to reach it.
        .target(
            name: "GatewayAuth",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "RTSPRelay",
            dependencies: [
                "GatewayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ONVIF",
            dependencies: [
                "CLibXML2",
                "GatewayAuth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CameraSimulator",
            dependencies: [
                "RTSPRelay",
                "ONVIF",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [
                .copy("Resources/demo.h264"), .copy("Resources/demo.h265"), .copy("Resources/demo.aac"),
                .copy("Resources/demo.alaw"), .copy("Resources/demo.ulaw"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CamGateway",
            dependencies: [
                "RTSPRelay",
                "ONVIF",
                "CameraSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // Forwarding throughput and allocations per forwarded packet (malloc-interposer, preloaded by
        // scripts/bench.sh). Not a timed test: it prints its figures.
        .executableTarget(
            name: "RelayBenchmark",
            dependencies: [
                "RTSPRelay",
                "CameraSimulator",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: strict
        ),
        // libFuzzer targets (scripts/fuzz.sh builds them with -sanitize=fuzzer,address); a plain build makes them
        // harmless executables, which keeps them compiling.
        .target(
            name: "FuzzProperties",
            dependencies: ["RTSPRelay", "ONVIF", "GatewayAuth", .product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/FuzzTargets/FuzzProperties",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzRTSPParser",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzRTSPParser",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzHeaders",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzHeaders",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzSDP",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzSDP",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzRTP",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzRTP",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzPayload",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzPayload",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzSOAP",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzSOAP",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzRelayInput",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzRelayInput",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzDiscoveryProbe",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzDiscoveryProbe",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzDiscoveryProbeMatches",
            dependencies: fuzzDependencies,
            path: "Sources/FuzzTargets/FuzzDiscoveryProbeMatches",
            swiftSettings: strict
        ),
        // Shared by the test targets: fixture lookup, a runner for real peers (ffmpeg, GStreamer, camgw), and a
        // small RTSP client over our own parser.
        .target(
            name: "TestSupport",
            dependencies: [
                "RTSPRelay",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "RTSPRelayTests",
            dependencies: [
                "RTSPRelay",
                "TestSupport",
                "FuzzProperties",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CameraSimulatorTests",
            dependencies: [
                "CameraSimulator",
                "RTSPRelay",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RelayIntegrationTests",
            dependencies: [
                "RTSPRelay",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                "CameraSimulator",
                "ONVIF",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ONVIFTests",
            dependencies: ["ONVIF", "TestSupport", "CameraSimulator", "RTSPRelay"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CamGatewayTests",
            // Depending on the executable makes `swift test` build `camgw`, which these tests run as a process.
            dependencies: ["CamGateway", "TestSupport", "CameraSimulator", "ONVIF"],
            exclude: ["Golden"],
            swiftSettings: strict
        ),
    ]
)
