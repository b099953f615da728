import ArgumentParser
import Foundation
import GRDB
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer
import TokenMeterBenchSupport

/// Issue 4: records/s of `SQLiteStore.commit` against the raw sqlite3 insert rate of the same rows.
struct WriterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "writer",
        abstract: "Writer throughput (records/s) for batches of 1, 100, 1000 with synchronous FULL and NORMAL, next to raw SQLite inserts of the same rows."
    )

    @Option(help: "Records per cell for batches of 100 and 1000.")
    var records = 400_000

    @Option(help: "Records per cell for batches of 1 with synchronous NORMAL.")
    var singleNormal = 60_000

    @Option(help: "Records per cell for batches of 1 with synchronous FULL (an fsync per commit).")
    var singleFull = 8_000

    @Option(help: "Repetitions of each cell (tokenmeter and raw alternate); the median is reported.")
    var repeats = 3

    @Option(help: "Directory for the scratch databases.")
    var dir = NSTemporaryDirectory()

    @Option(help: "Batch sizes to run.")
    var batches: [Int] = [1, 100, 1000]

    @Option(help: "Append tab-separated result lines to this file (for scripts/bench/run).")
    var resultsTsv: String?

    @Option(help: "Synchronous modes to run (FULL, NORMAL).")
    var synchronous: [String] = SQLiteStore.Synchronous.allCases.map(\.rawValue)

    @Flag(help: "Run only store.commit, not the raw-SQLite reference (to count its system calls alone).")
    var storeOnly = false

    func count(_ sync: SQLiteStore.Synchronous, _ batch: Int) -> Int {
        batch == 1 ? (sync == .full ? singleFull : singleNormal) : records
    }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let scratch = (dir as NSString).appendingPathComponent("tokenmeter-bench-writer-\(getpid())")
        let schema = try Self.usageRecordsSchema(scratch)
        let maxCount = SQLiteStore.Synchronous.allCases.flatMap { s in batches.map { count(s, $0) } }.max() ?? 0
        let end = Date().unixMilliseconds
        var factory = RecordFactory(seed: 42)
        let all = factory.records(count: maxCount, start: end - 86_400_000, spanMs: 86_400_000)
        log("generated \(all.count) records; scratch databases at \(scratch)-*")

        var lines: [String] = []
        let modes = try synchronous.map { name in
            guard let mode = SQLiteStore.Synchronous(rawValue: name.uppercased()) else { throw ValidationError("--synchronous: \(name) is not FULL or NORMAL") }
            return mode
        }
        for sync in modes {
            for batch in batches {
                let n = count(sync, batch)
                let rows = Array(all.prefix(n))
                var store: [Double] = []
                var raw: [Double] = []
                for rep in 0..<repeats {
                    // Alternate which side runs first so drift of the machine hits both.
                    let order = rep % 2 == 0 ? [true, false] : [false, true]
                    for tokenmeter in order where tokenmeter || !storeOnly {
                        let path = "\(scratch)-\(tokenmeter ? "store" : "raw").sqlite"
                        removeDatabase(path)
                        let seconds = tokenmeter
                            ? try await Self.runStore(path: path, sync: sync, rows: rows, batch: batch)
                            : try Self.runRaw(path: path, sync: sync, schema: schema, rows: rows, batch: batch)
                        removeDatabase(path)
                        let rate = Double(n) / seconds
                        if tokenmeter { store.append(rate) } else { raw.append(rate) }
                        log("  \(sync.rawValue) batch \(batch) rep \(rep + 1) \(tokenmeter ? "tokenmeter" : "raw") \(n) records in \(format(seconds, 2)) s: \(format(rate)) records/s")
                    }
                }
                if storeOnly {
                    print("| \(sync.rawValue) | \(batch) | \(n) | \(format(Timing.median(store))) | - | - |")
                    continue
                }
                let s = Timing.median(store), r = Timing.median(raw)
                let line = "| \(sync.rawValue) | \(batch) | \(n) | \(format(s)) | \(format(r)) | \(format(s / r, 2)) |"
                lines.append(line)
                print(line)
                try ResultsFile(path: resultsTsv).append(
                    "store.commit, synchronous \(sync.rawValue), batches of \(batch)", value: format(s), unit: "records/s",
                    reference: "raw sqlite3 INSERT of the same rows", referenceValue: format(r), ratio: format(s / r, 2))
            }
        }
        print("")
        print("| synchronous | batch | records per run | tokenmeter records/s | raw SQLite records/s | ratio (tokenmeter / raw) |")
        print("|---|---:|---:|---:|---:|---:|")
        for line in lines { print(line) }
    }

    static func runStore(path: String, sync: SQLiteStore.Synchronous, rows: [PricedRecord], batch: Int) async throws -> Double {
        let store = try SQLiteStore(path: path, synchronous: sync)
        let seconds = try await Timing.measure {
            var start = 0
            while start < rows.count {
                let end = min(start + batch, rows.count)
                let outcomes = try await store.commit(Array(rows[start..<end]))
                precondition(outcomes.allSatisfy { $0 == .accepted })
                start = end
            }
        }
        let stored = try await store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM usage_records") ?? 0 }
        precondition(stored == rows.count, "store holds \(stored) of \(rows.count)")
        try store.pool.close()
        return seconds
    }

    static func runRaw(path: String, sync: SQLiteStore.Synchronous, schema: [String], rows: [PricedRecord], batch: Int) throws -> Double {
        let writer = try RawSQLiteWriter(path: path, synchronous: sync.rawValue, schema: schema)
        return try Timing.measure {
            var start = 0
            while start < rows.count {
                let end = min(start + batch, rows.count)
                try writer.write(rows[start..<end])
                start = end
            }
        }
    }

    /// The CREATE statements of `usage_records` and its indexes, read from a store the migrator made.
    static func usageRecordsSchema(_ scratch: String) throws -> [String] {
        let path = scratch + "-schema.sqlite"
        removeDatabase(path)
        defer { removeDatabase(path) }
        let store = try SQLiteStore(path: path)
        defer { try? store.pool.close() }
        return try store.pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master WHERE tbl_name = 'usage_records' AND sql IS NOT NULL
                ORDER BY type = 'table' DESC, name
                """)
        }
    }
}
