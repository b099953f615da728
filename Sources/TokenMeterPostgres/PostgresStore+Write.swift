import Foundation
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    /// Inserts and completions in one transaction. Locks are taken in one fixed order by every
    /// instance (user ordinals by id, records by id, completed records by id, rollup rows by key, user
    /// sets by key; lifetime rows are this instance's own), so concurrent batches wait for each other
    /// instead of deadlocking. Results are in arrival order: a completion sees a record inserted
    /// earlier in the batch, not one inserted later; a completion that does not fit is rejected alone.
    public func write(_ writes: [StoreWrite]) async throws -> [StoreWriteResult] {
        let (results, resolved) = try await guardedTransaction { connection in
            try await self.write(writes, connection)
        }
        ordinals.remember(resolved)
        return results
    }

    private func write(_ writes: [StoreWrite], _ connection: PostgresConnection) async throws -> ([StoreWriteResult], [[UInt8]: Int64]) {
        let now = self.now()
        // The first insert of each id in the batch; a later one of the same id is a duplicate.
        var firstInsert: [[UInt8]: Int] = [:]
        var inserts: [(key: [UInt8], record: PricedRecord)] = []
        var completionIDs: [[UInt8]: String] = [:]
        for (index, write) in writes.enumerated() {
            switch write {
            case .insert(let record):
                let key = Array(record.record.id.utf8)
                if firstInsert[key] == nil {
                    firstInsert[key] = index
                    inserts.append((key, record))
                }
            case .complete(let id, _, _):
                completionIDs[Array(id.utf8)] = id
            }
        }
        var resolved = try await resolveOrdinals(Set(inserts.compactMap { $0.record.record.userID.map { Array($0.utf8) } }), connection)
        inserts.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let accepted = try await insertRecords(inserts.map(\.record), ordinals: resolved, receivedAt: now.unixMilliseconds, connection)
        if !completionIDs.isEmpty {
            // Row locks of every record this batch completes, in id order, before any is read.
            let ids = completionIDs.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
            try await connection.query("SELECT id FROM usage_records WHERE id = ANY(\(ids)) ORDER BY id COLLATE \"C\" FOR UPDATE", logger: logger).collect()
        }
        var aggregate = BatchAggregate()
        var results: [StoreWriteResult] = []
        results.reserveCapacity(writes.count)
        for (index, write) in writes.enumerated() {
            switch write {
            case .insert(let record):
                let key = Array(record.record.id.utf8)
                if firstInsert[key] == index && accepted.contains(key) {
                    results.append(.accepted)
                    if record.record.status != .pending {
                        aggregate.add(record, userOrdinal: record.record.userID.flatMap { resolved[Array($0.utf8)] })
                    }
                } else {
                    results.append(.duplicate)
                }
            case .complete(let id, let completion, let reprice):
                let key = Array(id.utf8)
                if let later = firstInsert[key], later > index, accepted.contains(key) {
                    results.append(.notFound)  // its record arrives later in this batch
                    continue
                }
                results.append(try await complete(id: id, completion, reprice, completedAt: now, connection, &aggregate, &resolved))
            }
        }
        try await write(aggregate, connection)
        return (results, resolved)
    }

    /// The ordinal of every user id: cached, already stored, or assigned now (in id order, so two
    /// instances assigning the same new ids wait for each other instead of deadlocking).
    func resolveOrdinals(_ users: Set<[UInt8]>, _ connection: PostgresConnection) async throws -> [[UInt8]: Int64] {
        guard !users.isEmpty else { return [:] }
        var found = ordinals.lookup(Array(users))
        var missing = users.filter { found[$0] == nil }.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
        guard !missing.isEmpty else { return found }
        func collect(_ rows: PostgresRowSequence) async throws {
            for try await (user, ordinal) in rows.decode((String, Int64).self) { found[Array(user.utf8)] = ordinal }
        }
        try await collect(try await connection.query("SELECT user_id, ordinal FROM user_ordinals WHERE user_id = ANY(\(missing))", logger: logger))
        missing = missing.filter { found[Array($0.utf8)] == nil }
        guard !missing.isEmpty else { return found }
        try await collect(try await connection.query("""
            INSERT INTO user_ordinals (user_id) SELECT u FROM unnest(\(missing)::text[]) AS u ORDER BY u COLLATE "C"
            ON CONFLICT (user_id) DO NOTHING RETURNING user_id, ordinal
            """, logger: logger))
        missing = missing.filter { found[Array($0.utf8)] == nil }
        // Ids another instance inserted meanwhile: committed now (the insert waited for it).
        if !missing.isEmpty {
            try await collect(try await connection.query("SELECT user_id, ordinal FROM user_ordinals WHERE user_id = ANY(\(missing))", logger: logger))
        }
        return found
    }

    /// Inserts the records (sorted by id), skipping ids already stored by any instance; returns the
    /// ids that were new.
    func insertRecords(_ records: [PricedRecord], ordinals: [[UInt8]: Int64], receivedAt: Int64,
                               _ connection: PostgresConnection) async throws -> Set<[UInt8]> {
        var accepted = Set<[UInt8]>()
        let perStatement = 60_000 / PostgresRecordRow.columns.count
        var start = 0
        while start < records.count {
            let chunk = records[start..<min(start + perStatement, records.count)]
            start += chunk.count
            var bindings = PostgresBindings(capacity: chunk.count * PostgresRecordRow.columns.count)
            for record in chunk {
                PostgresRecordRow.bind(record, userOrdinal: record.record.userID.flatMap { ordinals[Array($0.utf8)] },
                                       receivedAtMs: receivedAt, instance: instance, to: &bindings)
            }
            let sql = "INSERT INTO usage_records (\(PostgresRecordRow.columns.joined(separator: ", "))) VALUES "
                + PostgresSQL.valueRows(chunk.count, width: PostgresRecordRow.columns.count)
                + " ON CONFLICT (id) DO NOTHING RETURNING id"
            for try await id in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).decode(String.self) {
                accepted.insert(Array(id.utf8))
            }
        }
        return accepted
    }

    private func complete(id: String, _ completion: RecordCompletion, _ reprice: (UsageRecord) throws -> PricedRecord,
                          completedAt: Date, _ connection: PostgresConnection, _ aggregate: inout BatchAggregate,
                          _ resolved: inout [[UInt8]: Int64]) async throws -> StoreWriteResult {
        let sql = "SELECT \(PostgresRecordRow.readColumns.joined(separator: ", ")) FROM usage_records WHERE id = $1"
        var bindings = PostgresBindings()
        bindings.append(id)
        guard let row = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).collect().first else {
            return .notFound
        }
        let (stored, pendingModel, storedOrdinal) = try PostgresRecordRow.record(from: row)
        guard stored.status == .pending else { return .alreadyCompleted(stored.status) }
        let priced: PricedRecord
        do {
            priced = try reprice(try completion.applied(to: stored))
        } catch let error as NormalizationError {
            return .rejected(error)
        }
        try await connection.query(PostgresRecordRow.completion(priced, completedAt: completedAt), logger: logger)
        var ordinal = storedOrdinal
        if ordinal == nil, let user = stored.userID {
            let found = try await resolveOrdinals([Array(user.utf8)], connection)
            resolved.merge(found) { _, new in new }
            ordinal = found[Array(user.utf8)]
        }
        aggregate.add(priced, userOrdinal: ordinal)
        return .completed(priced, pendingModel: pendingModel)
    }

    /// Upserts the rollup, user-set and lifetime rows of one batch: one multi-row statement per table
    /// (each key once, so no row is touched twice), rows in the aggregate's fixed key order.
    func write(_ aggregate: BatchAggregate, _ connection: PostgresConnection) async throws {
        guard !aggregate.isEmpty else { return }
        let figures = RollupFigures.columnNames
        let dimensions = PostgresSchema.dimensionColumns
        let rollups = aggregate.rollupRows
        for granularity in Granularity.allCases {
            let table = PostgresSchema.rollupTables[granularity]!
            let rows = rollups.filter { $0.granularity == granularity }
            try await upsert(rows, table: table, columns: ["bucket"] + dimensions + figures, key: ["bucket"] + dimensions,
                             update: figures.map { "\($0) = \(table).\($0) + excluded.\($0)" }, connection) { row, b in
                b.append(row.bucket)
                PostgresSQL.append(row.dimensions, to: &b)
                for value in row.figures.storedValues { b.append(value) }
            }
        }
        let sets = aggregate.userSetRows
        for granularity in UserSetAggregate.granularities {
            let table = PostgresSchema.userSetTables[granularity]!
            let rows = sets.filter { $0.granularity == granularity }
            try await upsert(rows, table: table, columns: ["bucket"] + dimensions + ["paying", "chunk", "members"],
                             key: ["bucket"] + dimensions + ["paying", "chunk"], update: ["members = \(table).members | excluded.members"],
                             condition: "(\(table).members | excluded.members) <> \(table).members", connection) { row, b in
                b.append(row.bucket)
                PostgresSQL.append(row.dimensions, to: &b)
                b.append(row.paying)
                b.append(row.chunk)
                b.append(BitChunk(words: row.words))
            }
        }
        let counters = ["requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                        "reasoning_tokens", "cost_nano", "credits_micro", "unpriced_requests"]
        try await upsert(aggregate.lifetimeRows, table: "lifetime_totals", columns: ["instance"] + dimensions + ["error_type"] + counters,
                         key: ["instance"] + dimensions + ["error_type"],
                         update: counters.map { "\($0) = lifetime_totals.\($0) + excluded.\($0)" }, connection) { t, b in
            b.append(instance)
            for value in [t.service, t.operation, t.category, t.provider, t.model, t.status.rawValue, t.resourceType, t.errorType ?? ""] { b.append(value) }
            for value in [t.requests, t.tokens.input, t.tokens.cachedInput, t.tokens.cacheWrite, t.tokens.output, t.tokens.reasoning,
                          t.costNanoUSD, t.creditsMicro, t.unpricedRequests] { b.append(value) }
        }
    }

    private func upsert<Row>(_ rows: [Row], table: String, columns: [String], key: [String], update: [String], condition: String? = nil,
                             _ connection: PostgresConnection, bind: (Row, inout PostgresBindings) -> Void) async throws {
        let perStatement = 60_000 / columns.count
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            start += chunk.count
            var bindings = PostgresBindings(capacity: chunk.count * columns.count)
            for row in chunk { bind(row, &bindings) }
            let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(PostgresSQL.valueRows(chunk.count, width: columns.count))"
                + " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(update.joined(separator: ", "))"
                + (condition.map { " WHERE \($0)" } ?? "")
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        }
    }
}

/// Small SQL-text helpers.
enum PostgresSQL {
    /// `($1, $2, …), (…)` for `count` rows of `width` parameters.
    static func valueRows(_ count: Int, width: Int) -> String {
        var text = ""
        text.reserveCapacity(count * width * 6)
        for row in 0..<count {
            if row > 0 { text += ", " }
            text += "("
            for column in 0..<width {
                if column > 0 { text += ", " }
                text += "$\(row * width + column + 1)"
            }
            text += ")"
        }
        return text
    }

    static func append(_ d: RollupDimensions, to bindings: inout PostgresBindings) {
        for value in [d.service, d.operation, d.category, d.provider, d.model, d.status, d.resourceType] { bindings.append(value) }
    }
}
