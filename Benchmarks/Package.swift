// swift-tools-version:6.1
// In-process micro-benchmarks of tokenmeter's hot paths with ordo-one/benchmark (issue 7): one
// record through normalize + price + metrics, /metrics rendering with 10k series, a 1,000-record
// group commit, and a 30-day summary over a large store. A separate package so the main build and
// CI never compile the benchmark framework. Build and run: scripts/bench/ordo
import PackageDescription

let package = Package(
    name: "tokenmeter-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // scripts/bench/ordo links deps/tokenmeter to the repository root: a path package is named after its folder.
        .package(path: "deps/tokenmeter"),
        // The MallocInterposer trait alone: it gives the malloc counts (LD_PRELOAD, no jemalloc needed).
        // Leaving out the default RuntimeInterposer trait drops swift-runtime-interposer, which is
        // not among the package copies here; it only backs the retain/release metrics on Linux with
        // Swift 6.3 (ordo-one/benchmark issue 349), and the benchmarks ask for none of those.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The plugin runs executable targets that live in Benchmarks/<Name>/.
        .executableTarget(
            name: "TokenMeterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TokenMeter", package: "tokenmeter"),
                .product(name: "TokenMeterBenchSupport", package: "tokenmeter"),
            ],
            path: "Benchmarks/TokenMeterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
