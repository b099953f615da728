// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "tokenmeter",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tokenmeter", targets: ["tokenmeter"]),
        .library(name: "TokenMeter", targets: ["TokenMeter"]),
        .library(name: "TokenMeterBenchSupport", targets: ["TokenMeterBenchSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .target(
            name: "TokenMeter",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "CZlib",
            ],
            resources: [.copy("Pricing/Resources/default-catalog.json"), .copy("HTTP/Resources/openapi.json")],
            swiftSettings: swiftSettings
        ),
        // The system zlib (gzip bodies of OTLP exports): no package to build, Debian's zlib1g-dev to link.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The PostgreSQL store (issue 19): N instances on one shared database.
        .target(
            name: "TokenMeterPostgres",
            dependencies: [
                "TokenMeter",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tokenmeter",
            dependencies: [
                "TokenMeter",
                "TokenMeterPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "TokenMeterBenchSupport", dependencies: ["TokenMeter"], swiftSettings: swiftSettings),
        .executableTarget(name: "tokenmeter-bench", dependencies: ["TokenMeter", "TokenMeterBenchSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: swiftSettings),
        .testTarget(
            name: "TokenMeterTests",
            dependencies: [
                "TokenMeter",
                "TokenMeterPostgres",
                "CZlib",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
