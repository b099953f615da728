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

    @Flag(help: "Also run raw sqlite3 inserts into the layout before v7 (id TEXT UNIQUE, no id_hash index).")
    var uniqueReference = false

    @Option(help: "Hours the records' timestamps are spread over, ending now. Fewer records over fewer hours keep the records per rollup bucket of a larger run (20,000 over 2.4 h are as dense as 200,000 over 24 h), for a profile under valgrind.")
    var spanHours = 24.0

    @Option(help: "Record ids: random (128 random bits in hex, like UUIDv4 or provider generation ids) or uuid7 (time-ordered, as tokenmeter generates and its Python client sends).")
    var ids = "random"

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
        let spanMs = Int64(spanHours * 3_600_000)
        guard spanMs > 0 else { throw ValidationError("--span-hours must be positive") }
        var all = factory.records(count: maxCount, start: end - spanMs, spanMs: spanMs)
        switch ids {
        case "random": break
        case "uuid7": for i in all.indices { all[i].record.id = RecordID.generate(now: all[i].record.timestamp) }
        default: throw ValidationError("--ids: \(ids) is not random or uuid7")
        }
        log("generated \(all.count) records (\(ids) ids, e.g. \(all.first?.record.id ?? "-")); scratch databases at \(scratch)-*")

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
                var rawUnique: [Double] = []
                var sides: [Side] = [.store]
                if !storeOnly { sides.append(.raw) }
                if uniqueReference && !storeOnly { sides.append(.rawUniqueText) }
                for rep in 0..<repeats {
                    // Rotate which side runs first so drift of the machine hits all of them.
                    let order = (0..<sides.count).map { sides[($0 + rep) % sides.count] }
                    for side in order {
                        let path = "\(scratch)-\(side).sqlite"
                        removeDatabase(path)
                        let seconds = switch side {
                        case .store: try await Self.runStore(path: path, sync: sync, rows: rows, batch: batch)
                        case .raw: try Self.runRaw(path: path, sync: sync, schema: schema, rows: rows, batch: batch)
                        case .rawUniqueText: try Self.runRaw(path: path, sync: sync, schema: schema, rows: rows, batch: batch, uniqueIDText: true)
                        }
                        removeDatabase(path)
                        let rate = Double(n) / seconds
                        switch side {
                        case .store: store.append(rate)
                        case .raw: raw.append(rate)
                        case .rawUniqueText: rawUnique.append(rate)
                        }
                        log("  \(sync.rawValue) batch \(batch) rep \(rep + 1) \(side) \(n) records in \(format(seconds, 2)) s: \(format(rate)) records/s")
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
                let idsText = ids == "random" ? "random ids" : "UUIDv7 ids"
                try ResultsFile(path: resultsTsv).append(
                    "store.commit, synchronous \(sync.rawValue), batches of \(batch), \(idsText)", value: format(s), unit: "records/s",
                    reference: "raw sqlite3 INSERT of the same rows, same schema and check", referenceValue: format(r), ratio: format(s / r, 2))
                if !rawUnique.isEmpty {
                    let u = Timing.median(rawUnique)
                    try ResultsFile(path: resultsTsv).append(
                        "raw sqlite3 INSERT, id TEXT UNIQUE (the layout before v7), synchronous \(sync.rawValue), batches of \(batch), \(idsText)",
                        value: format(u), unit: "records/s", reference: "raw sqlite3 INSERT, v7 layout (id_hash index)",
                        referenceValue: format(r), ratio: format(u / r, 2))
                    print("|   raw id TEXT UNIQUE (before v7) | \(batch) | \(n) | - | \(format(u)) | \(format(u / r, 2)) of raw v7 |")
                }
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
        let stored = try await store.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM usage_records") ?? 0 }
        precondition(stored == rows.count, "store holds \(stored) of \(rows.count)")
        try store.closeDatabase()
        return seconds
    }

    enum Side: String, CustomStringConvertible {
        case store = "tokenmeter", raw, rawUniqueText = "raw-unique-text"
        var description: String { rawValue }
    }

    static func runRaw(path: String, sync: SQLiteStore.Synchronous, schema: [String], rows: [PricedRecord], batch: Int,
                       uniqueIDText: Bool = false) throws -> Double {
        let writer = try RawSQLiteWriter(path: path, synchronous: sync.rawValue, schema: schema, uniqueIDText: uniqueIDText)
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
        defer { try? store.closeDatabase() }
        return try store.database.read { db in
            try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master WHERE tbl_name = 'usage_records' AND sql IS NOT NULL
                ORDER BY type = 'table' DESC, name
                """)
        }
    }
}
