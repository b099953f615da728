import Foundation
import PostgresNIO
import Logging
import TokenMeterCore

extension PostgresSchema {
    /// "pg-v4-migrate-progress": where a copy of another store into this one (`tokenmeter migrate`)
    /// stands. `migrate_source` (one row) names the source by its content fingerprint and the
    /// instance its lifetime totals went to; `migrate_progress` holds per table the last key
    /// committed, written in the same transaction as the piece it ends.
    static let migrateProgress = """
        CREATE TABLE migrate_source (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            fingerprint text NOT NULL,
            source text NOT NULL,
            instance text NOT NULL,
            started_at bigint NOT NULL,
            finished_at bigint
        );
        CREATE TABLE migrate_progress (
            step text PRIMARY KEY,
            position bigint,
            rows bigint NOT NULL DEFAULT 0,
            done boolean NOT NULL DEFAULT false
        );
        """

    /// The tables that hold data (an empty database has none in any of them).
    static var dataTables: [String] {
        ["usage_records", "user_ordinals", "lifetime_totals", "price_changes", "operation_credits"]
            + rollupTables.values.sorted() + userSetTables.values.sorted()
    }
}

/// Writing a copy of another store (`tokenmeter migrate`): each piece in one transaction with its
/// step's progress row, which is checked (`FOR UPDATE`) to be where this run left it, so a piece is
/// committed once or not at all. Records go through the write path's id claim and insert
/// (`claimRecordIDs`, `insertRecords`); rollup, user-set and lifetime rows are plain inserts: the target held none
/// when the copy began, and each piece is written once, so a conflict would be a fault, not a merge.
extension PostgresStore {
    static let copyLock: Int32 = 4

    /// Runs `body` while holding the store-wide copy lock (one `migrate` at a time); nil when another
    /// process holds it.
    public func withCopyLock<T: Sendable>(_ body: () async throws -> T) async throws -> T? {
        try await withMaintenanceLock(Self.copyLock, body)
    }

    /// Starts a copy of the source with `fingerprint` (`source` names it in messages), or finds where
    /// an earlier run of the same copy stopped. Refuses a database that holds data not copied from
    /// this source, a source whose content changed since its copy began, and another instance name.
    public func beginCopy(fingerprint: String, source: String) async throws -> StoreCopyProgress {
        let instance = self.instance
        let now = self.now().unixMilliseconds
        return try await guardedTransaction { connection in
            let existing = try await connection.query(
                "SELECT fingerprint, source, instance, finished_at FROM migrate_source FOR UPDATE", logger: logger).collect().first
            if let existing {
                let (storedFingerprint, storedSource, storedInstance, finished) = try existing.decode((String, String, String, Int64?).self)
                guard storedFingerprint == fingerprint else {
                    throw StoreError("\(self.location) already holds a copy of \(storedSource) whose content differs from \(source) now (another store, or this one changed since it was copied): nothing was written; copy into an empty database")
                }
                guard storedInstance == instance else {
                    throw StoreError("\(source) was copied to \(self.location) as instance '\(storedInstance)': run migrate with --instance \(storedInstance)")
                }
                var progress = StoreCopyProgress(finishedBefore: finished != nil)
                let rows = try await connection.query("SELECT step, position, rows, done FROM migrate_progress", logger: logger)
                for try await (step, position, count, done) in rows.decode((String, Int64?, Int64, Bool).self) {
                    if let step = StoreCopy.Step(rawValue: step) { progress[step] = .init(position: position, rows: count, done: done) }
                }
                return progress
            }
            var holding: [String] = []
            for table in PostgresSchema.dataTables {
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table))"), logger: logger)
                if try await rows.collect().first?.decode(Bool.self) == true { holding.append(table) }
            }
            guard holding.isEmpty else {
                throw StoreError("\(self.location) already holds data that was not copied from \(source) (in \(holding.joined(separator: ", "))): nothing was written; migrate into an empty database")
            }
            try await connection.query("""
                INSERT INTO migrate_source (fingerprint, source, instance, started_at) VALUES (\(fingerprint), \(source), \(instance), \(now))
                """, logger: logger)
            let steps = StoreCopy.Step.allCases.map(\.rawValue)
            try await connection.query("INSERT INTO migrate_progress (step) SELECT unnest(\(steps)::text[])", logger: logger)
            return StoreCopyProgress()
        }
    }

    /// Commits one piece of `step`: the step's progress must be at `after` (nil: nothing yet) and not
    /// done; it moves to `through` with `rows` more, and to done when `done`.
    func copyPiece(_ step: StoreCopy.Step, after: Int64?, through: Int64?, rows: Int, done: Bool,
                   _ body: @Sendable (PostgresConnection) async throws -> Void) async throws {
        try await guardedTransaction { connection in
            let row = try await connection.query(
                "SELECT position, done FROM migrate_progress WHERE step = \(step.rawValue) FOR UPDATE", logger: logger).collect().first
            guard let state = try row?.decode((Int64?, Bool).self), state.0 == after, !state.1 else {
                throw StoreError("the copy's progress for \(step.rawValue) moved on meanwhile (another migrate?): run migrate again to resume")
            }
            try await body(connection)
            try await connection.query("""
                UPDATE migrate_progress SET position = \(through), rows = rows + \(Int64(rows)), done = \(done) WHERE step = \(step.rawValue)
                """, logger: logger)
        }
    }

    /// Marks `step` done with nothing (more) to copy: its progress must be at `after`.
    public func finishStep(_ step: StoreCopy.Step, after: Int64?) async throws {
        try await copyPiece(step, after: after, through: after, rows: 0, done: true) { _ in }
    }

    /// User ordinals, as the source numbered them (records and user sets refer to them); the
    /// ordinal sequence continues after the largest.
    public func importUserOrdinals(_ users: [(ordinal: Int64, userID: String)], after: Int64?, done: Bool) async throws {
        let ordinals = users.map(\.ordinal), ids = users.map(\.userID)
        try await copyPiece(.userOrdinals, after: after, through: ordinals.last ?? after, rows: users.count, done: done) { connection in
            guard !users.isEmpty else { return }
            try await connection.query("""
                INSERT INTO user_ordinals (ordinal, user_id) SELECT * FROM unnest(\(ordinals)::bigint[], \(ids)::text[])
                """, logger: self.logger)
            try await connection.query("""
                SELECT setval(pg_get_serial_sequence('user_ordinals', 'ordinal'), (SELECT max(ordinal) FROM user_ordinals))
                """, logger: self.logger)
        }
    }

    /// Records (pending ones too) with their stored prices, received and completed times and user
    /// ordinals, through the write path's insert; `after`/`through`: the source's keys.
    public func importRecords(_ records: [ExportedRecord], after: Int64?, done: Bool) async throws {
        try await copyPiece(.records, after: after, through: records.last?.seq ?? after, rows: records.count, done: done) { connection in
            var ordinals: [[UInt8]: Int64] = [:]
            for record in records {
                if let user = record.priced.record.userID, let ordinal = record.userOrdinal { ordinals[Array(user.utf8)] = ordinal }
            }
            // The insert takes one received time per call: records of one source batch share theirs.
            var start = records.startIndex
            while start < records.endIndex {
                let receivedAt = records[start].receivedAtMs
                var end = start + 1
                while end < records.endIndex && records[end].receivedAtMs == receivedAt { end += 1 }
                // As a write does: the ids claimed in the key table first, then only those inserted.
                let piece = records[start..<end].map(\.priced).sorted { $0.record.id.utf8.lexicographicallyPrecedes($1.record.id.utf8) }
                let claimed = try await self.claimRecordIDs(piece, connection)
                _ = try await self.insertRecords(piece.filter { claimed.contains(Array($0.record.id.utf8)) }, ordinals: ordinals,
                                                 receivedAt: receivedAt, connection)
                start = end
            }
            let completed = records.filter { $0.completedAtMs != nil }
            guard !completed.isEmpty else { return }
            let ids = completed.map(\.priced.record.id), times = completed.map { $0.priced.record.timestamp.unixMilliseconds }
            let completedAt = completed.map { $0.completedAtMs! }
            try await connection.query("""
                UPDATE usage_records AS r SET completed_at = v.completed_at
                FROM unnest(\(ids)::text[], \(times)::bigint[], \(completedAt)::bigint[]) AS v(id, ts, completed_at)
                WHERE r.id = v.id AND r.ts = v.ts
                """, logger: self.logger)
        }
    }

    /// Rollup rows of one granularity, `after < bucket <= through`.
    public func importRollupRows(_ rows: [BatchAggregate.RollupRow], step: StoreCopy.Step, after: Int64?, through: Int64, done: Bool) async throws {
        guard let granularity = step.rollupGranularity, let table = PostgresSchema.rollupTables[granularity] else {
            throw StoreError("\(step.rawValue) is not a rollup table")
        }
        try await copyPiece(step, after: after, through: through, rows: rows.count, done: done) { connection in
            try await self.insert(into: table, columns: PostgresAggregateColumns.rollupColumns, types: PostgresAggregateColumns.rollupTypes,
                                  PostgresAggregateColumns.rollups(rows), rows: rows.count, connection)
        }
    }

    /// User-set rows of one granularity, `after < bucket <= through`, members as they are.
    public func importUserSetRows(_ rows: [BatchAggregate.UserSetRow], step: StoreCopy.Step, after: Int64?, through: Int64, done: Bool) async throws {
        guard let granularity = step.userSetGranularity, let table = PostgresSchema.userSetTables[granularity] else {
            throw StoreError("\(step.rawValue) is not a user-set table")
        }
        try await copyPiece(step, after: after, through: through, rows: rows.count, done: done) { connection in
            try await self.insert(into: table, columns: PostgresAggregateColumns.userSetColumns, types: PostgresAggregateColumns.userSetTypes,
                                  PostgresAggregateColumns.userSets(rows), rows: rows.count, connection)
        }
    }

    /// The source's lifetime totals, as this instance's own (the counters `serve --instance` resumes).
    public func importLifetimeTotals(_ totals: [UsageTotals]) async throws {
        let instance = self.instance
        try await copyPiece(.lifetimeTotals, after: nil, through: nil, rows: totals.count, done: true) { connection in
            try await self.insert(into: "lifetime_totals", columns: PostgresAggregateColumns.lifetimeColumns, types: PostgresAggregateColumns.lifetimeTypes,
                                  PostgresAggregateColumns.lifetime(totals, instance: instance), rows: totals.count, connection)
        }
    }

    /// The price-change log in the source's order (the replay order), with the times of the changes.
    public func importPriceChanges(_ changes: [ExportedPriceChange]) async throws {
        try await copyPiece(.priceChanges, after: nil, through: nil, rows: changes.count, done: true) { connection in
            for item in changes {
                let row = item.change
                try await connection.query("""
                    INSERT INTO price_changes (kind, model, valid_from, entry_json, created_at, layer)
                    VALUES (\(row.kind), \(row.model), \(row.validFrom), \(row.entryJSON), \(item.createdAtMs), \(row.layer))
                    """, logger: self.logger)
            }
            if !changes.isEmpty {
                try await connection.query("UPDATE store_meta SET value = value + 1 WHERE key = 'price_generation'", logger: self.logger)
            }
        }
    }

    /// The run-time `credits_per_operation` changes.
    public func importOperationCredits(_ credits: [String: Int64]) async throws {
        let sorted = credits.sorted { $0.key < $1.key }
        let operations = sorted.map(\.key), micro = sorted.map(\.value)
        try await copyPiece(.operationCredits, after: nil, through: nil, rows: sorted.count, done: true) { connection in
            guard !sorted.isEmpty else { return }
            try await connection.query("""
                INSERT INTO operation_credits (operation, credits_micro) SELECT * FROM unnest(\(operations)::text[], \(micro)::bigint[])
                """, logger: self.logger)
        }
    }

    /// Marks the copy complete (a later run finds nothing to do). `userSetsCompleteFrom`: the source's
    /// start of complete user sets, kept so active-user reports plan the same.
    public func finishCopy(userSetsCompleteFrom: Int64?) async throws {
        let now = self.now().unixMilliseconds
        try await guardedTransaction { connection in
            let open = try await connection.query("SELECT count(*) FROM migrate_progress WHERE NOT done", logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
            guard open == 0 else { throw StoreError("the copy is not complete (\(open) tables left): run migrate again") }
            if let userSetsCompleteFrom {
                try await connection.query("""
                    INSERT INTO store_meta (key, value) VALUES ('user_sets_complete_from', \(userSetsCompleteFrom))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: logger)
            }
            try await connection.query("UPDATE migrate_source SET finished_at = coalesce(finished_at, \(now))", logger: logger)
        }
    }

    /// Multi-row plain inserts (no conflict expected), as many rows per statement as the protocol's
    /// parameter limit allows.
    /// A plain insert of column arrays (the write path's binding): a conflict is a fault, not a merge.
    private func insert(into table: String, columns: [String], types: [String], _ arrays: [PostgresColumnArray], rows: Int,
                        _ connection: PostgresConnection) async throws {
        guard rows > 0 else { return }
        let sql = PostgresSQL.insertUnnest(into: table, columns: columns, types: types)
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: PostgresSQL.bindings(arrays)), logger: logger)
    }
}

extension PostgresStore {
    /// One connection to `location` and back, so a command fails at once, with the reason, on a
    /// server that is down, refuses the credentials or lacks the database (the pool would retry).
    public static func checkReachable(_ location: PostgresLocation, logger: Logger) async throws {
        do {
            let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 0, logger: logger)
            defer { Task { try? await connection.close() } }
            _ = try await connection.query("SELECT 1", logger: logger).collect()
        } catch {
            throw StoreError("cannot connect to the PostgreSQL store at \(location): \(PostgresFaults.classify(error))")
        }
    }
}
