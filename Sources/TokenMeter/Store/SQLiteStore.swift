import Foundation
import GRDB

/// The SQLite implementation of `UsageStore` (GRDB `DatabasePool`: WAL, concurrent readers, one writer).
public final class SQLiteStore: UsageStore {
    public enum Synchronous: String, Sendable, CaseIterable {
        /// fsync on every commit: a committed record survives power loss.
        case full = "FULL"
        /// fsync at checkpoints only: a committed record survives a process crash, but the last
        /// commits may be lost on power loss or an OS crash. Faster.
        case normal = "NORMAL"
    }

    public let pool: DatabasePool
    /// The columns a record is inserted with, in the order of the store's INSERT.
    public static var usageRecordColumns: [String] { RecordRow.columns }

    /// Binds a record to a prepared INSERT of `usageRecordColumns` as the store does (for the
    /// benchmark's raw-SQLite reference). The user ordinal is the store's dictionary id of `userID`.
    public static func bindUsageRecord(_ record: PricedRecord, userOrdinal: Int64?, receivedAtMs: Int64, to statement: OpaquePointer) {
        RecordRow.bind(record, userOrdinal: userOrdinal, receivedAtMs: receivedAtMs, to: statement)
    }
    public let path: String
    let userOrdinals = UserOrdinals()
    /// Where user sets start to hold every user (Int64.min, or the oldest raw record kept when a
    /// store written before user sets was upgraded).
    let userSetsCompleteFrom: Int64

    public init(path: String, synchronous: Synchronous = .full, readonly: Bool = false) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.readonly = readonly
        config.label = "tokenmeter"
        let mode = synchronous.rawValue
        config.prepareDatabase { db in
            UserSetTables.registerFunctions(db)
            // 64 MiB of page cache per connection instead of SQLite's 2 MiB: inserts into the
            // random-id UNIQUE index and rollup upserts then stay in memory instead of re-reading pages.
            try db.execute(sql: "PRAGMA cache_size = -65536")
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = \(mode)")
            }
        }
        self.path = path
        self.pool = try DatabasePool(path: path, configuration: config)
        if readonly {
            guard try pool.read({ try StoreSchema.migrator.hasCompletedMigrations($0) }) else {
                throw StoreError("\(path) was written by an older tokenmeter: start `tokenmeter serve` on it once to upgrade it, then read it")
            }
        } else {
            try StoreSchema.migrator.migrate(pool)
        }
        userSetsCompleteFrom = try pool.read { db in
            guard try db.tableExists("store_meta") else { return nil }  // stores made during development of v2
            return try Int64.fetchOne(db, sql: "SELECT value FROM store_meta WHERE key = 'user_sets_complete_from'")
        } ?? Int64.min
    }

    // MARK: - Writes

    public func commit(_ records: [PricedRecord]) async throws -> [WriteOutcome] {
        let (outcomes, resolved) = try await pool.write { db in
            var outcomes: [WriteOutcome] = []
            outcomes.reserveCapacity(records.count)
            var aggregate = BatchAggregate()
            var resolved = UserOrdinals.Resolved()
            let insert = try db.cachedStatement(sql: RecordRow.insertSQL)
            insert.setUncheckedArguments([])  // execute() then runs the values bound by RecordRow.bind
            let receivedAt = Date().unixMilliseconds
            for record in records {
                let ordinal = try record.record.userID.map { try self.userOrdinals.ordinal(of: $0, db, &resolved) }
                RecordRow.bind(record, userOrdinal: ordinal, receivedAtMs: receivedAt, to: insert.sqliteStatement)
                try insert.execute()
                if db.changesCount == 1 {
                    outcomes.append(.accepted)
                    if record.record.status != .pending { aggregate.add(record, userOrdinal: ordinal) }
                } else {
                    outcomes.append(.duplicate)
                }
            }
            try Self.write(aggregate, db)
            return (outcomes, resolved)
        }
        userOrdinals.remember(resolved)
        return outcomes
    }

    public func complete(id: String, with completion: RecordCompletion,
                         reprice: @escaping @Sendable (UsageRecord) throws -> PricedRecord) async throws -> CompletionResult {
        let (result, resolved) = try await pool.write { db -> (CompletionResult, UserOrdinals.Resolved) in
            var resolved = UserOrdinals.Resolved()
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM usage_records WHERE id = ?", arguments: [id]) else {
                return (.notFound, resolved)
            }
            let stored = RecordRow.record(from: row)
            guard stored.status == .pending else { return (.alreadyCompleted(stored.status), resolved) }
            let priced = try reprice(try completion.applied(to: stored))
            try db.execute(sql: RecordRow.completeSQL, arguments: RecordRow.completionArguments(priced, completedAt: Date()))
            var aggregate = BatchAggregate()
            let ordinal = try (row["user_ordinal"] as Int64?)
                ?? stored.userID.map { try self.userOrdinals.ordinal(of: $0, db, &resolved) }
            aggregate.add(priced, userOrdinal: ordinal)
            try Self.write(aggregate, db)
            return (.completed(priced, pendingModel: row["model"]), resolved)
        }
        userOrdinals.remember(resolved)
        return result
    }

    private static let rollupUpsertSQL: [Granularity: String] = StoreSchema.rollupTables.mapValues { table in
        let figures = StoreSchema.figureColumns
        return """
            INSERT INTO \(table) (bucket, service, operation, category, provider, model, status, \(figures.joined(separator: ", ")))
            VALUES (?, ?, ?, ?, ?, ?, ?, \(figures.map { _ in "?" }.joined(separator: ", ")))
            ON CONFLICT (bucket, service, operation, category, provider, model, status) DO UPDATE SET
            \(figures.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }

    /// Upserts the rollup, user-set and lifetime rows of one batch.
    static func write(_ aggregate: BatchAggregate, _ db: Database) throws {
        guard !aggregate.isEmpty else { return }
        var statements: [Granularity: Statement] = [:]
        for granularity in Granularity.allCases {
            statements[granularity] = try db.cachedStatement(sql: rollupUpsertSQL[granularity]!)
        }
        for (key, value) in aggregate.rollups {
            let d = aggregate.dimensions[key.dimension]
            var arguments: [(any DatabaseValueConvertible)?] = [key.bucket, d.service, d.operation, d.category, d.provider, d.model, d.status]
            arguments += value.columnValues.map { $0 as (any DatabaseValueConvertible)? }
            try statements[key.granularity]!.execute(arguments: StatementArguments(arguments))
        }
        try UserSetTables.write(aggregate.userSets, dimensions: aggregate.dimensions, db)
        let lifetime = try db.cachedStatement(sql: """
            INSERT INTO lifetime_totals (service, operation, category, provider, model, status, error_type, requests,
                input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nano,
                credits_micro, unpriced_requests)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (service, operation, category, provider, model, status, error_type) DO UPDATE SET
                requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens,
                cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                cost_nano = cost_nano + excluded.cost_nano, credits_micro = credits_micro + excluded.credits_micro,
                unpriced_requests = unpriced_requests + excluded.unpriced_requests
            """)
        for totals in aggregate.totals {
            let t = totals.tokens
            try lifetime.execute(arguments: [totals.service, totals.operation, totals.category, totals.provider, totals.model,
                                             totals.status.rawValue, totals.errorType ?? "", totals.requests, t.input,
                                             t.cachedInput, t.cacheWrite, t.output, t.reasoning, totals.costNanoUSD,
                                             totals.creditsMicro, totals.unpricedRequests])
        }
    }

    // MARK: - Startup and maintenance

    public func lifetimeTotals() async throws -> [UsageTotals] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM lifetime_totals ORDER BY rowid").map { row in
                let errorType: String = row["error_type"]
                var totals = UsageTotals(service: row["service"], operation: row["operation"], category: row["category"],
                                         provider: row["provider"], model: row["model"],
                                         status: RecordStatus(rawValue: row["status"]) ?? .success,
                                         errorType: errorType.isEmpty ? nil : errorType)
                totals.requests = row.sum("requests")
                totals.tokens = TokenCounts(input: row.sum("input_tokens"), cachedInput: row.sum("cached_input_tokens"),
                                            cacheWrite: row.sum("cache_write_tokens"), output: row.sum("output_tokens"),
                                            reasoning: row.sum("reasoning_tokens"))
                totals.costNanoUSD = row.sum("cost_nano")
                totals.creditsMicro = row.sum("credits_micro")
                totals.unpricedRequests = row.sum("unpriced_requests")
                return totals
            }
        }
    }

    public func pendingCounts() async throws -> [PendingCount] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT service, operation, model, COUNT(*) AS n FROM usage_records
                WHERE status = 'pending' GROUP BY service, operation, model
                """).map { PendingCount(service: $0["service"], operation: $0["operation"], model: $0["model"], count: $0["n"]) }
        }
    }

    public func prune(retention: RetentionPolicy, now: Date) async throws -> PruneSummary {
        var summary = PruneSummary()
        let rawCutoff = retention.oldestKept(nil, now: now).unixMilliseconds
        let minuteCutoff = retention.oldestKept(.minute, now: now).unixMilliseconds
        let hourCutoff = retention.oldestKept(.hour, now: now).unixMilliseconds
        // Pending records first, in one transaction with their counts, so the pending gauge can be
        // decremented exactly (there are few: they are normally completed within minutes).
        summary.pendingDeleted = try await pool.write { db in
            let counts = try Row.fetchAll(db, sql: """
                SELECT service, operation, model, COUNT(*) AS n FROM usage_records
                WHERE status = 'pending' AND ts < ? GROUP BY service, operation, model
                """, arguments: [rawCutoff]).map { PendingCount(service: $0["service"], operation: $0["operation"], model: $0["model"], count: $0["n"]) }
            try db.execute(sql: "DELETE FROM usage_records WHERE status = 'pending' AND ts < ?", arguments: [rawCutoff])
            return counts
        }
        // Small transactions, so pruning never holds the writer long enough to stall ingest.
        summary.records = try await deleteInChunks("usage_records", "ts", before: rawCutoff, key: "seq")
            + summary.pendingDeleted.reduce(0) { $0 + Int($1.count) }
        summary.minuteRows = try await deleteInChunks("rollup_minute", "bucket", before: minuteCutoff, key: "bucket")
        summary.hourRows = try await deleteInChunks("rollup_hour", "bucket", before: hourCutoff, key: "bucket")
        summary.hourUserSetRows = try await deleteInChunks("user_sets_hour", "bucket", before: hourCutoff, key: "bucket")
        return summary
    }

    private func deleteInChunks(_ table: String, _ column: String, before cutoff: Int64, key: String) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await pool.write { db -> Int in
                if key == "seq" {
                    try db.execute(sql: "DELETE FROM \(table) WHERE seq IN (SELECT seq FROM \(table) WHERE \(column) < ? LIMIT 5000)", arguments: [cutoff])
                } else {
                    // WITHOUT ROWID rollup tables: delete a bounded range of old buckets at a time.
                    let oldest = try Int64.fetchOne(db, sql: "SELECT min(bucket) FROM \(table)") ?? cutoff
                    let upTo = min(cutoff, oldest + 86_400_000)
                    try db.execute(sql: "DELETE FROM \(table) WHERE bucket < ?", arguments: [upTo])
                }
                return db.changesCount
            }
            total += deleted
            if deleted == 0 { return total }
            await Task.yield()
        }
    }

    public func checkWritable() async throws {
        try await pool.write { db in
            try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS readiness_probe (x INTEGER)")
            try db.execute(sql: "DELETE FROM readiness_probe")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw StoreError("database file \(path) is not writable")
        }
    }
}

extension Row {
    /// A stored sum. SQLite turns an integer that overflows into REAL; that reads back clamped
    /// instead of trapping (the per-record limits keep real sums far from it).
    func sum(_ column: String) -> Int64 { Self.saturating(self[column]) }
    func sum(_ index: Int) -> Int64 { Self.saturating(self[index]) }

    /// The first `width` columns as a report group key (NULL reads as "").
    func groupKey(_ width: Int) -> [String] { (0..<width).map { (self[$0] as String?) ?? "" } }

    private static func saturating(_ value: DatabaseValue) -> Int64 {
        switch value.storage {
        case .int64(let integer): integer
        case .double(let real): Money.clamped(real)
        default: 0
        }
    }
}

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
