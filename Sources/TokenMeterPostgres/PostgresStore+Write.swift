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
        let claimed = try await claimRecordIDs(inserts.map(\.record), connection)
        inserts.removeAll { !claimed.contains($0.key) }
        let accepted = try await insertRecords(inserts.map(\.record), ordinals: resolved, receivedAt: now.unixMilliseconds, connection)
        var partitions: [[UInt8]: Int64] = [:]
        if !completionIDs.isEmpty {
            // Row locks of every record this batch completes, in id order, before any is read; each
            // looked up in its own time partition (by the timestamp its id key holds).
            let ids = completionIDs.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
            partitions = try await recordTimestamps(ids, connection)
            let timestamps = Array(Set(partitions.values)).sorted()
            try await connection.query("""
                SELECT id FROM usage_records WHERE id = ANY(\(ids)) AND ts = ANY(\(timestamps)) ORDER BY id COLLATE "C" FOR UPDATE
                """, logger: logger).collect()
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
                guard let timestamp = partitions[key] else {
                    results.append(.notFound)
                    continue
                }
                results.append(try await complete(id: id, timestamp: timestamp, completion, reprice, completedAt: now, connection, &aggregate, &resolved))
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

    /// Inserts the records (sorted by id; their ids just claimed by `claimRecordIDs`, so none is
    /// stored yet); returns their ids. One statement whatever the batch size: each column is one
    /// array parameter.
    func insertRecords(_ records: [PricedRecord], ordinals: [[UInt8]: Int64], receivedAt: Int64,
                               _ connection: PostgresConnection) async throws -> Set<[UInt8]> {
        guard !records.isEmpty else { return [] }
        let columns = PostgresRecordRow.columnArrays(records, userOrdinals: records.map { $0.record.userID.flatMap { ordinals[Array($0.utf8)] } },
                                                     receivedAtMs: receivedAt, instance: instance)
        let query = PostgresQuery(unsafeSQL: Self.insertRecordsSQL, binds: PostgresSQL.bindings(columns))
        var accepted = Set<[UInt8]>(minimumCapacity: records.count)
        for try await id in try await connection.query(query, logger: logger).decode(String.self) {
            accepted.insert(Array(id.utf8))
        }
        return accepted
    }

    private static let insertRecordsSQL = PostgresSQL.insertUnnest(into: "usage_records", columns: PostgresRecordRow.columns, types: PostgresRecordRow.types)
        + " RETURNING id"

    private func complete(id: String, timestamp: Int64, _ completion: RecordCompletion, _ reprice: (UsageRecord) throws -> PricedRecord,
                          completedAt: Date, _ connection: PostgresConnection, _ aggregate: inout BatchAggregate,
                          _ resolved: inout [[UInt8]: Int64]) async throws -> StoreWriteResult {
        let sql = "SELECT \(PostgresRecordRow.readColumns.joined(separator: ", ")) FROM usage_records WHERE id = $1 AND ts = $2"
        var bindings = PostgresBindings()
        bindings.append(id)
        bindings.append(timestamp)
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
        try await connection.query(PostgresRecordRow.completion(priced, completedAt: completedAt, partitionTimestamp: timestamp), logger: logger)
        var ordinal = storedOrdinal
        if ordinal == nil, let user = stored.userID {
            let found = try await resolveOrdinals([Array(user.utf8)], connection)
            resolved.merge(found) { _, new in new }
            ordinal = found[Array(user.utf8)]
        }
        aggregate.add(priced, userOrdinal: ordinal)
        return .completed(priced, pendingModel: pendingModel)
    }

    /// Upserts the rollup, user-set and lifetime rows of one batch in one statement (one round trip):
    /// each table's upsert a data-modifying `WITH` part whose rows are bound one array per column (each
    /// key once, so no row is touched twice) and come in the aggregate's fixed key order (`unnest`
    /// yields them in array order). Each part starts only once the one before has finished (it
    /// reads the previous part's row count first), so every instance locks the tables in one
    /// order: rollups minute, hour, day, then user sets hour, day, then its own lifetime rows.
    func write(_ aggregate: BatchAggregate, _ connection: PostgresConnection) async throws {
        guard !aggregate.isEmpty else { return }
        var parts: [PostgresSQL.UpsertPart] = []
        let rollups = aggregate.rollupRows
        for granularity in Granularity.allCases {
            let rows = rollups.filter { $0.granularity == granularity }
            if !rows.isEmpty { parts.append(PostgresSQL.UpsertPart(Self.rollupUpserts[granularity]!, PostgresAggregateColumns.rollups(rows))) }
        }
        let sets = aggregate.userSetRows
        for granularity in UserSetAggregate.granularities {
            let rows = sets.filter { $0.granularity == granularity }
            if !rows.isEmpty { parts.append(PostgresSQL.UpsertPart(Self.userSetUpserts[granularity]!, PostgresAggregateColumns.userSets(rows))) }
        }
        let lifetime = aggregate.lifetimeRows
        if !lifetime.isEmpty { parts.append(PostgresSQL.UpsertPart(Self.lifetimeUpsert, PostgresAggregateColumns.lifetime(lifetime, instance: instance))) }
        guard !parts.isEmpty else { return }
        try await connection.query(PostgresQuery(unsafeSQL: PostgresSQL.chainedUpserts(parts.map(\.upsert)), binds: PostgresSQL.bindings(parts.flatMap(\.columns))),
                                   logger: logger)
    }

    private static let rollupUpserts: [Granularity: PostgresSQL.Upsert] = PostgresSchema.rollupTables.mapValues { table in
        PostgresSQL.Upsert(table: table, columns: PostgresAggregateColumns.rollupColumns, types: PostgresAggregateColumns.rollupTypes,
                           onConflict: "(\((["bucket"] + PostgresSchema.dimensionColumns).joined(separator: ", "))) DO UPDATE SET "
                               + RollupFigures.columnNames.map { "\($0) = \(table).\($0) + excluded.\($0)" }.joined(separator: ", "))
    }

    private static let userSetUpserts: [Granularity: PostgresSQL.Upsert] = PostgresSchema.userSetTables.mapValues { table in
        PostgresSQL.Upsert(table: table, columns: PostgresAggregateColumns.userSetColumns, types: PostgresAggregateColumns.userSetTypes,
                           onConflict: "(\((["bucket"] + PostgresSchema.dimensionColumns + ["paying", "chunk"]).joined(separator: ", ")))"
                               + " DO UPDATE SET members = \(table).members | excluded.members WHERE (\(table).members | excluded.members) <> \(table).members")
    }

    private static let lifetimeUpsert = PostgresSQL.Upsert(
        table: "lifetime_totals", columns: PostgresAggregateColumns.lifetimeColumns, types: PostgresAggregateColumns.lifetimeTypes,
        onConflict: "(\((["instance"] + UsageTotals.keyColumnNames).joined(separator: ", "))) DO UPDATE SET "
            + PostgresAggregateColumns.lifetimeCounters.map { "\($0) = lifetime_totals.\($0) + excluded.\($0)" }.joined(separator: ", "))
}
