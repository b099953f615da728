import ArgumentParser
import Foundation
import TokenMeterServer

/// The process entry: see `SynchronousEntry` (a synchronous main, so valgrind can run the benchmarks).
@main
enum BenchEntry {
    static func main() {
        SynchronousEntry.run { await Bench.main() }
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenmeter-bench",
        abstract: "Benchmarks of the tokenmeter store, each next to a reference measured in the same run (see BENCHMARKS.md).",
        subcommands: [WriterBench.self, ReportsBench.self, PricingBench.self]
    )
}

/// Wall-clock timing helpers.
enum Timing {
    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func measure(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return seconds(ContinuousClock.now - start)
    }

    static func measure(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        return seconds(ContinuousClock.now - start)
    }

    /// Nearest-rank percentile of `values` (0...100).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

func format(_ value: Double, _ decimals: Int = 0) -> String {
    let s = String(format: "%.\(decimals)f", value)
    // Thousands separators for readability of large integers.
    guard decimals == 0, let n = Int(s), abs(n) >= 10_000 else { return s }
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// Result lines for the combined table `scripts/bench/run` writes into BENCHMARKS.md, one per
/// measurement, tab-separated: benchmark, value, unit, reference, reference value, ratio, target.
struct ResultsFile {
    let path: String?

    func append(_ benchmark: String, value: String, unit: String, reference: String, referenceValue: String,
                ratio: String, target: String = "") throws {
        guard let path else { return }
        let line = [benchmark, value, unit, reference, referenceValue, ratio, target].joined(separator: "\t") + "\n"
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(line.utf8))
    }
}
