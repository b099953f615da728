// swift-tools-version:6.1
// libFuzzer targets for the record decoder and normalizer (issue 8) and the OTLP decoders (issue 16). Separate package so the main
// build never sees the sanitizer. Build and run: scripts/fuzz [seconds]
import PackageDescription

let package = Package(
    name: "tokenmeter-fuzz",
    platforms: [.macOS(.v14)],
    // scripts/fuzz links deps/tokenmeter to the repository root: a path package is named after its folder.
    dependencies: [.package(path: "deps/tokenmeter")],
    targets: [
        .executableTarget(
            name: "tokenmeter-fuzz",
            dependencies: [.product(name: "TokenMeterCore", package: "tokenmeter")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // The OTLP trace decoders (protobuf, JSON, gzip) and the span mapping (issue 16).
        .executableTarget(
            name: "tokenmeter-otlp-fuzz",
            dependencies: [.product(name: "TokenMeterCore", package: "tokenmeter")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
