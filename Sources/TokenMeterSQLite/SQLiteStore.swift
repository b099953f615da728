import Foundation
import GRDB
import Synchronization
import TokenMeterCore

/// The SQLite implementation of `UsageStore`, over a GRDB `DatabaseWriter`: a `DatabasePool` on a
/// file (WAL, concurrent readers, one writer) from `init(path:)`, or the caller's writer.
public final class SQLiteStore: UsageStore {
    public typealias Synchronous = SynchronousMode

    package let database: any DatabaseWriter
    /// The columns a record is inserted with, in the order of the store's INSERT.
    package static var usageRecordColumns: [String] { RecordRow.columns }

    /// Binds a record to a prepared INSERT of `usageRecordColumns` as the store does (for the
    /// benchmark's raw-SQLite reference). The user ordinal is the store's dictionary id of `userID`.
    package static func bindUsageRecord(_ record: PricedRecord, userOrdinal: Int64?, receivedAtMs: Int64, to statement: OpaquePointer,
                                        texts: TextArena) {
        RecordRow.bind(record, userOrdinal: userOrdinal, receivedAtMs: receivedAtMs, idKey: RecordIDKey.key(record.record.id),
                       to: statement, texts: texts)
    }
    /// The store's idempotency check and INSERT of `usageRecordColumns` (for the benchmark's
    /// raw-SQLite reference, so both sides run the same statements).
    package static var usageRecordStoredSQL: String { RecordRow.storedSQL }
    package static var usageRecordInsertSQL: String { RecordRow.insertSQL }

    /// Writes a record as the store does: the check, then the insert unless the id is stored (for
    /// the benchmark's raw-SQLite reference). Returns whether it inserted.
    package static func insertUsageRecordUnlessStored(_ record: PricedRecord, userOrdinal: Int64?, receivedAtMs: Int64,
                                                      check: OpaquePointer, insert: OpaquePointer, texts: TextArena) throws -> Bool {
        try RecordRow.insertUnlessStored(record, userOrdinal: userOrdinal, receivedAtMs: receivedAtMs,
                                         idKey: RecordIDKey.key(record.record.id), check: check, insert: insert, texts: texts)
    }
    public let path: String
    let userOrdinals = UserOrdinals()
    /// The record write path's statements and committed user-set members (`WriterState`).
    let writer = WriterState()
    /// Where user sets start to hold every user (Int64.min, or the oldest raw record kept when a
    /// store written before user sets was upgraded).
    let userSetsCompleteFrom: Int64

    /// The synchronous mode read back from the writer connection after set-up (what is in effect).
    public let synchronousInEffect: Synchronous?
    /// The journal mode read back from the writer connection (`wal`).
    public let journalMode: String
    /// The database file's identity as opened; nil when the database is not a file (in memory).
    let fileGuard: StoreFileGuard?
    /// A permanent fault seen by a write: every later write fails fast with it, untouched.
    private let permanentFault = Mutex<StoreFault?>(nil)
    /// Asked after every commit, before it counts as done (`CommitProbe`): with synchronous FULL on
    /// a file the store opened itself whose file system has fallocate; else nil.
    let commitProbe: CommitProbe?
    /// Whether commits are probed, and why not (for the start-up log line).
    public let commitCheck: String
    /// The key of a record id in the `id_hash` index: `RecordIDKey.key`, or a test's function (one
    /// that makes different ids collide, to check that the id text decides).
    let idKey: @Sendable (String) -> Int64

    /// The wall clock a record's received time and a price change's time are read from.
    let now: WallClock

    public convenience init(path: String, synchronous: Synchronous = .full, readonly: Bool = false, now: @escaping WallClock = Date.init) throws {
        try self.init(path: path, synchronous: synchronous, readonly: readonly, now: now, idKey: RecordIDKey.key)
    }

    /// A store over a GRDB writer the caller opened (a `DatabaseQueue` in memory, a pool with its own
    /// settings) with `SQLiteStore.configuration()`, so the store's SQL functions exist on every
    /// connection. The schema is migrated; the synchronous mode is set and read back. When the
    /// writer's path names a file, the file's identity and free space are watched as for `init(path:)`.
    public convenience init(database: any DatabaseWriter, synchronous: Synchronous = .full, now: @escaping WallClock = Date.init) throws {
        try self.init(database: database, synchronous: synchronous, requireWAL: false, now: now, idKey: RecordIDKey.key, probe: nil)
    }

    /// The GRDB configuration a store's database must be opened with: its SQL functions (user-set
    /// union and containment, the id key), a busy timeout and a 64 MiB page cache per connection.
    public static func configuration(readonly: Bool = false) -> Configuration {
        configuration(readonly: readonly, idKey: RecordIDKey.key)
    }

    static func configuration(readonly: Bool, idKey: @escaping @Sendable (String) -> Int64) -> Configuration {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.readonly = readonly
        config.label = "tokenmeter"
        config.prepareDatabase { db in
            UserSetTables.registerFunctions(db)
            // The id key as SQL, for the v7 migration's backfill (and for operators' own queries).
            db.add(function: DatabaseFunction(StoreSchema.idKeyFunction, argumentCount: 1, pure: true) { values in
                String.fromDatabaseValue(values[0]).map(idKey)
            })
            // 64 MiB of page cache per connection instead of SQLite's 2 MiB: inserts into the
            // random-id index and rollup upserts then stay in memory instead of re-reading pages.
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        return config
    }

    /// `idKey` must be the function the file was written with (it is stored in `id_hash`); only tests
    /// pass another one, or another `probe`.
    convenience init(path: String, synchronous: Synchronous = .full, readonly: Bool = false, now: @escaping WallClock = Date.init,
                     idKey: @escaping @Sendable (String) -> Int64,
                     probe: @escaping (String) -> Result<CommitProbe, CommitProbe.Absence> = CommitProbe.fallocate(path:)) throws {
        try StoreSoundness.verify(path: path, knownMigrations: StoreSchema.migrator.migrations)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: Self.configuration(readonly: readonly, idKey: idKey))
        } catch let error as DatabaseError where [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
            throw StoreError(StoreSoundness.malformed(path, error))
        }
        try self.init(database: pool, synchronous: synchronous, requireWAL: true, now: now, idKey: idKey, probe: probe)
    }

    init(database: any DatabaseWriter, synchronous: Synchronous, requireWAL: Bool, now: @escaping WallClock,
         idKey: @escaping @Sendable (String) -> Int64, probe: ((String) -> Result<CommitProbe, CommitProbe.Absence>)?) throws {
        self.now = now
        self.idKey = idKey
        self.database = database
        let path = database.path
        self.path = path
        do {
            _ = try database.read { try Int64.fetchOne($0, sql: "SELECT \(StoreSchema.idKeyFunction)('')") }
        } catch {
            throw StoreError("\(path): the database was not opened with SQLiteStore.configuration(), so the store's SQL functions are missing")
        }
        if database.configuration.readonly {
            synchronousInEffect = nil
            journalMode = try database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } ?? "unknown"
            guard try database.read({ try StoreSchema.migrator.hasCompletedMigrations($0) }) else {
                throw StoreError("\(path) was written by an older tokenmeter: start `tokenmeter serve` on it once to upgrade it, then read it")
            }
        } else {
            // GRDB's pool set-up (setUpWALMode) sets synchronous = NORMAL on the writer after
            // prepareDatabase has run, so the mode is set here, on the writer, once the pool exists,
            // and read back: what the log and readiness report is the mode SQLite really uses.
            let (level, mode) = try database.barrierWriteWithoutTransaction { db -> (Int, String) in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.walAutocheckpointPages)")
                return (try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                        try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "unknown")
            }
            synchronousInEffect = Synchronous(level: level)
            journalMode = mode
            guard synchronousInEffect == synchronous, mode == "wal" || !requireWAL else {
                throw StoreError("\(path): SQLite did not take the durability settings (synchronous \(level), journal_mode \(mode); wanted \(synchronous.rawValue)\(requireWAL ? " and wal" : ""))")
            }
            try StoreSchema.migrator.migrate(database)
        }
        switch (probe, database.configuration.readonly, synchronous) {
        case (nil, _, _):
            (commitProbe, commitCheck) = (nil, "no commit probe (a database the caller opened)")
        case (_, true, _):
            (commitProbe, commitCheck) = (nil, "no commit probe (read only)")
        case (_, _, .normal):
            (commitProbe, commitCheck) = (nil, "no commit probe (synchronous=NORMAL does not sync commits)")
        case (let probe?, false, .full):
            switch probe(path) {
            case .success(let made): (commitProbe, commitCheck) = (made, "commits probed (fallocate after each commit)")
            case .failure(let absence): (commitProbe, commitCheck) = (nil, "no commit probe: \(absence)")
            }
        }
        fileGuard = FileIdentity(path: path).map { StoreFileGuard(path: path, opened: $0) }
        userSetsCompleteFrom = try database.read { db in
            guard try db.tableExists("store_meta") else { return nil }  // stores made during development of v2
            return try Int64.fetchOne(db, sql: "SELECT value FROM store_meta WHERE key = 'user_sets_complete_from'")
        } ?? Int64.min
    }

    /// WAL frames after which a commit checkpoints the WAL into the database file (SQLite's default
    /// is 1000). With random ids a batch of 1000 records dirties about 1000 index leaves, so at 1000
    /// nearly every such commit also ran a checkpoint (copying its pages into the main file and
    /// syncing it) before the writer could take the next batch; at 10,000 (a WAL of about 40 MiB)
    /// a checkpoint comes every ten such batches and copies each page once however often the
    /// batches between rewrote it (BENCHMARKS.md, issue 20, stop 28).
    package static let walAutocheckpointPages = 10_000

    /// The synchronous level read back through the writer connection (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA).
    package func synchronousLevel() async throws -> Int {
        try await database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// `PRAGMA wal_autocheckpoint` read back through the writer connection.
    package func walAutocheckpointInEffect() async throws -> Int {
        try await database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") ?? -1 }
    }

    func fileStatus() -> StoreFileStatus { StoreFileStatus.read(path: path) }

    public func condition() -> StoreCondition {
        var fault = permanentFault.withLock { $0 }
        guard let fileGuard else { return StoreCondition(fault: fault, freeBytes: nil) }
        let status = fileStatus()
        if fault == nil, let change = fileGuard.changeSinceOpen(status.identity) { fault = latch(.permanent(change)) }
        if fault == nil, status.readOnlyFileSystem {
            fault = .permanent("the database's file system is mounted read-only; fix the file system and restart tokenmeter")
        }
        return StoreCondition(fault: fault, freeBytes: status.freeBytes)
    }

    /// Runs a write, failing fast on a permanent fault seen before, on a database file that is no
    /// longer the one opened, and sorting SQLite's errors into transient and permanent faults.
    func guardedWrite<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await guarded {
            try await self.database.writeWithoutTransaction { db in
                var value: T?
                try db.inTransaction {
                    value = try updates(db)
                    return .commit
                }
                try self.confirmCommit()
                return value!
            }
        }
    }

    /// Throws a permanent fault when the file system failed around the commit that just returned
    /// (`CommitProbe`): it is then not acknowledged, and `guarded` stops every later write.
    private func confirmCommit() throws {
        if let failure = commitProbe?.fileSystemFailure() { throw StoreFault.commitNotConfirmed(failure) }
    }

    /// `guardedWrite` for the record write path: on the writer's kept statements, in their
    /// transaction (`WriterStatements`). `updates` returns its value and the batch it wrote; once
    /// that committed, the batch's user-set members are remembered as committed.
    func guardedRecordWrite<T: Sendable>(
        _ updates: @escaping @Sendable (Database, WriterStatements, CommittedUserSets) throws -> (T, BatchAggregate, nowMs: Int64)
    ) async throws -> T {
        try await guarded {
            try await self.database.writeWithoutTransaction { db in
                let writer = self.writer
                let statements = try writer.statements(db) { try WriterStatements(db) }
                let (value, batch, nowMs) = try statements.inTransaction(db) { try updates(db, statements, writer.committedUserSets) }
                writer.committedUserSets.remember(batch.userSets, dimensions: batch.dimensions, nowMs: nowMs)
                try self.confirmCommit()
                return value
            }
        }
    }

    private func guarded<T: Sendable>(_ write: () async throws -> T) async throws -> T {
        if let fault = permanentFault.withLock({ $0 }) { throw fault }
        // Only the identity (one stat): the whole status (statvfs, the directory's path through
        // Foundation) cost about 24k instructions per commit, on the writer's serial path.
        if let fileGuard, let change = fileGuard.changeSinceOpen(FileIdentity(path: path)) { throw latch(.permanent(change)) }
        do {
            return try await write()
        } catch let error as NormalizationError {
            throw error
        } catch {
            let readOnly = fileGuard != nil && (fileStatus().readOnlyFileSystem || StoreFileStatus.directoryRefusesWrites(databasePath: path))
            let fault = StoreFault.classify(error, fileSystemReadOnly: readOnly)
            throw fault.isPermanent ? latch(fault) : fault
        }
    }

    /// Runs a read, sorting SQLite's errors into store faults (other errors pass as they are).
    func guardedRead<T: Sendable>(_ value: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await database.read(value)
        } catch let error as DatabaseError {
            throw StoreFault.classify(error)
        }
    }

    private func latch(_ fault: StoreFault) -> StoreFault {
        permanentFault.withLock { if $0 == nil { $0 = fault } }
        return fault
    }

    // MARK: - Writes

    /// Inserts and completions in one transaction, in order: a completion sees a record inserted
    /// earlier in the same batch. A completion that does not fit its record is rejected alone.
    public func write(_ writes: [StoreWrite]) async throws -> [StoreWriteResult] {
        let (results, resolved) = try await guardedRecordWrite { db, statements, committedUserSets in
            var results: [StoreWriteResult] = []
            results.reserveCapacity(writes.count)
            var aggregate = BatchAggregate()
            var resolved = UserOrdinals.Resolved()
            let check = statements.check.sqliteStatement
            let insert = statements.insert.sqliteStatement
            let now = self.now()
            let receivedAt = now.unixMilliseconds
            for write in writes {
                switch write {
                case .insert(let record):
                    let ordinal = try record.record.userID.map { try self.userOrdinals.ordinal(of: $0, db, statements, &resolved) }
                    if try RecordRow.insertUnlessStored(record, userOrdinal: ordinal, receivedAtMs: receivedAt,
                                                        idKey: self.idKey(record.record.id), check: check, insert: insert,
                                                        texts: statements.insertTexts) {
                        results.append(.accepted)
                        if record.record.status != .pending { aggregate.add(record, userOrdinal: ordinal) }
                    } else {
                        results.append(.duplicate)
                    }
                case .complete(let id, let completion, let reprice):
                    results.append(try self.complete(id: id, completion, reprice, completedAt: now, db, statements, &aggregate, &resolved))
                }
            }
            try Self.write(aggregate, statements, skipping: committedUserSets)
            return ((results, resolved), aggregate, receivedAt)
        }
        userOrdinals.remember(resolved)
        return results
    }

    private func complete(id: String, _ completion: RecordCompletion, _ reprice: (UsageRecord) throws -> PricedRecord,
                          completedAt: Date, _ db: Database, _ statements: WriterStatements, _ aggregate: inout BatchAggregate,
                          _ resolved: inout UserOrdinals.Resolved) throws -> StoreWriteResult {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM usage_records WHERE id_hash = ? AND id = ?",
                                         arguments: [idKey(id), id]) else {
            return .notFound
        }
        let stored = RecordRow.record(from: row)
        guard stored.status == .pending else { return .alreadyCompleted(stored.status) }
        let priced: PricedRecord
        do {
            priced = try reprice(try completion.applied(to: stored))
        } catch let error as NormalizationError {
            return .rejected(error)
        }
        try db.execute(sql: RecordRow.completeSQL, arguments: RecordRow.completionArguments(priced, completedAt: completedAt, seq: row["seq"]))
        let ordinal = try (row["user_ordinal"] as Int64?) ?? stored.userID.map { try self.userOrdinals.ordinal(of: $0, db, statements, &resolved) }
        aggregate.add(priced, userOrdinal: ordinal)
        return .completed(priced, pendingModel: row["model"])
    }

    static let rollupUpsertSQL: [Granularity: String] = StoreSchema.rollupTables.mapValues { table in
        let key = ["bucket"] + RollupDimensions.columnNames
        let figures = StoreSchema.figureColumns
        return upsertSQL(table, key: key, adding: figures)
    }

    static let lifetimeUpsertSQL = upsertSQL("lifetime_totals", key: UsageTotals.keyColumnNames, adding: UsageTotals.counterColumnNames)

    /// `INSERT … ON CONFLICT (key) DO UPDATE` adding each of `adding` to the stored value.
    private static func upsertSQL(_ table: String, key: [String], adding columns: [String]) -> String {
        """
        INSERT INTO \(table) (\((key + columns).joined(separator: ", "))) VALUES (\((key + columns).map { _ in "?" }.joined(separator: ", ")))
        ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(columns.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
        """
    }

    /// Upserts the rollup, user-set and lifetime rows of one batch on the writer's statements, except
    /// user-set rows `committed` knows hold the batch's users already. Values are bound through the
    /// C API (`StatementBinder`), in the column order of the SQL above.
    static func write(_ aggregate: BatchAggregate, _ statements: WriterStatements, skipping committed: CommittedUserSets) throws {
        guard !aggregate.isEmpty else { return }
        let granularities = Granularity.allCases
        for (key, value) in aggregate.rollups {
            let statement = statements.rollups[granularities.firstIndex(of: key.granularity)!]
            var b = StatementBinder(resetting: statement.sqliteStatement)
            b.int(key.bucket)
            for text in aggregate.dimensions[key.dimension].columnValues { b.text(text) }
            for figure in value.columnValues { b.int(figure) }
            b.assertComplete()
            try statement.execute()
        }
        for (key, set) in aggregate.userSets.sets where !committed.holds(set, at: key, dimensions: aggregate.dimensions) {
            let statement = statements.userSets[UserSetAggregate.granularities.firstIndex(of: key.granularity)!]
            try UserSetTables.upsert(set, at: key, dimensions: aggregate.dimensions, statement)
        }
        for totals in aggregate.totals {
            var b = StatementBinder(resetting: statements.lifetime.sqliteStatement)
            for text in totals.keyValues { b.text(text) }
            for counter in totals.counterValues { b.int(counter) }
            b.assertComplete()
            try statements.lifetime.execute()
        }
    }

    // MARK: - Startup and maintenance

    public func lifetimeTotals() async throws -> [UsageTotals] {
        try await guardedRead { db in
            try Row.fetchAll(db, sql: "SELECT * FROM lifetime_totals ORDER BY rowid").map { row in
                UsageTotals(keyValues: UsageTotals.keyColumnNames.map { (row[$0] as String?) ?? "" },
                            counterValues: UsageTotals.counterColumnNames.map { row.sum($0) })
            }
        }
    }

    public func pendingCounts() async throws -> [PendingCount] {
        try await guardedRead { db in
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
        let pendingCutoff = retention.pendingExpiry(now: now).unixMilliseconds
        // A pending record is kept until it is completed or the pending timeout passes since it was
        // received, whatever its timestamp: one accepted at the raw-retention edge must still take
        // its PATCH. Expired ones go in one transaction with their counts, so the pending gauge can
        // be decremented exactly (there are few: they are normally completed within minutes).
        summary.pendingDeleted = try await guardedWrite { db in
            let counts = try Row.fetchAll(db, sql: """
                SELECT service, operation, model, COUNT(*) AS n FROM usage_records
                WHERE status = 'pending' AND received_at < ? GROUP BY service, operation, model
                """, arguments: [pendingCutoff]).map { PendingCount(service: $0["service"], operation: $0["operation"], model: $0["model"], count: $0["n"]) }
            try db.execute(sql: "DELETE FROM usage_records WHERE status = 'pending' AND received_at < ?", arguments: [pendingCutoff])
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
            let deleted = try await guardedWrite { db -> Int in
                if key == "seq" {
                    try db.execute(sql: "DELETE FROM \(table) WHERE seq IN (SELECT seq FROM \(table) WHERE \(column) < ? AND status <> 'pending' LIMIT 5000)", arguments: [cutoff])
                } else {
                    // WITHOUT ROWID rollup tables: delete a bounded range of old buckets at a time.
                    let oldest = try Int64.fetchOne(db, sql: "SELECT min(bucket) FROM \(table)") ?? cutoff
                    let upTo = min(cutoff, oldest + 86_400_000)
                    try db.execute(sql: "DELETE FROM \(table) WHERE bucket < ?", arguments: [upTo])
                }
                let changes = db.changesCount
                // Retention keeps at least a day, so no remembered row is among these; forgetting makes that certain (it costs upserts only).
                if changes > 0, table.hasPrefix("user_sets") { self.writer.committedUserSets.forgetAll() }
                return changes
            }
            total += deleted
            if deleted == 0 { return total }
            await Task.yield()
        }
    }

    /// A real write to the main database (one row of `store_meta`), committed like a batch: what
    /// readiness needs to know when no records have arrived for a while.
    public func probeWrite(now: Date) async throws {
        let at = now.unixMilliseconds
        try await guardedWrite { db in
            try db.execute(sql: "INSERT INTO store_meta (key, value) VALUES ('last_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", arguments: [at])
        }
    }

    /// Copies the WAL into the main file and truncates it (on clean shutdown, after the last
    /// commit), so the main file alone holds every record.
    public func close() async throws {
        guard permanentFault.withLock({ $0 }) == nil, journalMode == "wal" else {
            try? await database.writeWithoutTransaction { _ in self.writer.release() }
            return
        }
        try await database.writeWithoutTransaction { db in
            self.writer.release()
            _ = try db.checkpoint(.truncate)
        }
    }
}

extension SQLiteStore {
    /// Finalizes the writer's kept statements, then closes the database connections (GRDB's `close()`
    /// refuses while statements are alive). For tools that close the store's database themselves.
    package func closeDatabase() throws {
        try database.writeWithoutTransaction { _ in writer.release() }
        try database.close()
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
