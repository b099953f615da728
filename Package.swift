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
        .library(name: "TokenMeterCore", targets: ["TokenMeterCore"]),
        .library(name: "TokenMeterSQLite", targets: ["TokenMeterSQLite"]),
        .library(name: "TokenMeterPostgres", targets: ["TokenMeterPostgres"]),
        .library(name: "TokenMeterServer", targets: ["TokenMeterServer"]),
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
    // The target graph (docs/ARCHITECTURE.md): the core knows records, prices, rollups, report plans
    // and the store's role protocols, with no HTTP server, database driver or Prometheus; each store backend is a target
    // over the core; the server (HTTP, metrics, services) is over the core and knows no backend; the
    // CLI opens a backend and hands it to the server.
    targets: [
        .target(
            name: "TokenMeterCore",
            dependencies: ["CZlib"],
            resources: [.copy("Pricing/Resources/default-catalog.json")],
            swiftSettings: swiftSettings
        ),
        // The system zlib (gzip bodies of OTLP exports): no package to build, Debian's zlib1g-dev to link.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // fallocate(2), which Swift's Glibc module does not export: the SQLite store's commit probe.
        .target(name: "CFileSystemCalls"),
        .target(
            name: "TokenMeterSQLite",
            dependencies: ["TokenMeterCore", "CFileSystemCalls", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL backend (issue 19): N instances on one shared database.
        .target(
            name: "TokenMeterPostgres",
            dependencies: [
                "TokenMeterCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TokenMeterServer",
            dependencies: [
                "TokenMeterCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("HTTP/Resources/openapi.json")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tokenmeter",
            dependencies: [
                "TokenMeterCore", "TokenMeterSQLite", "TokenMeterServer", "TokenMeterPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "TokenMeterBenchSupport", dependencies: ["TokenMeterCore"], swiftSettings: swiftSettings),
        .executableTarget(name: "tokenmeter-bench", dependencies: ["TokenMeterCore", "TokenMeterSQLite", "TokenMeterServer", "TokenMeterBenchSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: swiftSettings),
        .testTarget(
            name: "TokenMeterTests",
            dependencies: [
                "TokenMeterCore", "TokenMeterSQLite", "TokenMeterServer", "TokenMeterPostgres",
                "CZlib",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
