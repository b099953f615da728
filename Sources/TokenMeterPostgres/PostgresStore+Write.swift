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
    /// ids that were new. One statement whatever the batch size: each column is one array parameter.
    private func insertRecords(_ records: [PricedRecord], ordinals: [[UInt8]: Int64], receivedAt: Int64,
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
        + " ON CONFLICT (id) DO NOTHING RETURNING id"

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
        onConflict: "(\((["instance"] + PostgresSchema.dimensionColumns + ["error_type"]).joined(separator: ", "))) DO UPDATE SET "
            + PostgresAggregateColumns.lifetimeCounters.map { "\($0) = lifetime_totals.\($0) + excluded.\($0)" }.joined(separator: ", "))
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
}

/// One column of a multi-row statement, bound as one PostgreSQL array parameter (binary format,
/// NULL elements allowed) and turned back into rows by `unnest`: a batch of n rows binds one
/// parameter per column instead of one per row and column, and its statement text is the same
/// whatever the batch size (see `PostgresSQL.insertUnnest`).
enum PostgresColumnArray: Sendable, Equatable {
    case text([String?])
    case bigint([Int64?])
    case boolean([Bool?])
    case double([Double?])
    case bits([BitChunk])

    /// The element type the statement casts the array to (`$n::type[]`).
    var sqlType: String {
        switch self {
        case .text: "text"
        case .bigint: "bigint"
        case .boolean: "boolean"
        case .double: "double precision"
        case .bits: "bit(\(BitChunk.bits))"
        }
    }

    var count: Int {
        switch self {
        case .text(let v): v.count
        case .bigint(let v): v.count
        case .boolean(let v): v.count
        case .double(let v): v.count
        case .bits(let v): v.count
        }
    }

    var elementType: PostgresDataType {
        switch self {
        case .text: .text
        case .bigint: .int8
        case .boolean: .bool
        case .double: .float8
        case .bits: .bit
        }
    }
}

extension PostgresColumnArray: PostgresDynamicTypeEncodable {
    var psqlType: PostgresDataType {
        switch self {
        case .text: .textArray
        case .bigint: .int8Array
        case .boolean: .boolArray
        case .double: .float8Array
        case .bits: .bitArray
        }
    }

    var psqlFormat: PostgresFormat { .binary }

    /// PostgreSQL's binary array: dimensions (1, or 0 when empty), a has-NULLs flag, the element
    /// type, then the length and lower bound (1) of the dimension, then each element as its byte
    /// length (-1 for NULL) and its binary value.
    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        let hasNulls: Bool = switch self {
        case .text(let v): v.contains(nil)
        case .bigint(let v): v.contains(nil)
        case .boolean(let v): v.contains(nil)
        case .double(let v): v.contains(nil)
        case .bits: false
        }
        buffer.writeInteger(count == 0 ? 0 : 1, as: Int32.self)
        buffer.writeInteger(hasNulls ? 1 : 0, as: Int32.self)
        buffer.writeInteger(elementType.rawValue)
        guard count > 0 else { return }
        buffer.writeInteger(Int32(count))
        buffer.writeInteger(1, as: Int32.self)
        switch self {
        case .text(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(Int32(value.utf8.count))
                buffer.writeString(value)
            }
        case .bigint(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(8, as: Int32.self)
                buffer.writeInteger(value)
            }
        case .boolean(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(1, as: Int32.self)
                buffer.writeInteger(value ? 1 : 0, as: UInt8.self)
            }
        case .double(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(8, as: Int32.self)
                buffer.writeInteger(value.bitPattern)
            }
        case .bits(let values):
            for value in values {
                buffer.writeInteger(Int32(4 + BitChunk.bits / 8))
                value.encode(into: &buffer, context: context)
            }
        }
    }
}

extension PostgresSQL {
    /// `INSERT INTO table (columns) SELECT * FROM unnest($1::type[], …)`: one row per array index,
    /// in array order, the parameters numbered from `first`.
    static func insertUnnest(into table: String, columns: [String], types: [String], first: Int = 1) -> String {
        precondition(columns.count == types.count, "one type per column")
        let arrays = types.enumerated().map { "$\($0.offset + first)::\($0.element)[]" }.joined(separator: ", ")
        return "INSERT INTO \(table) (\(columns.joined(separator: ", "))) SELECT * FROM unnest(\(arrays))"
    }

    /// One table's upsert from column arrays: `INSERT INTO table (columns) SELECT * FROM unnest(…)
    /// ON CONFLICT onConflict`.
    struct Upsert: Sendable {
        var table: String
        var columns: [String]
        var types: [String]
        /// What follows `ON CONFLICT`: the key and the action.
        var onConflict: String
    }

    /// An upsert with the column arrays bound to it.
    struct UpsertPart: Sendable {
        var upsert: Upsert
        var columns: [PostgresColumnArray]
        init(_ upsert: Upsert, _ columns: [PostgresColumnArray]) {
            precondition(upsert.columns.count == columns.count, "one array per column")
            self.upsert = upsert
            self.columns = columns
        }
    }

    /// The upserts as one statement, run one after another: `WITH u1 AS (INSERT … RETURNING 1),
    /// u2 AS (INSERT … SELECT … WHERE (SELECT count(*) FROM u1) >= 0 …), … SELECT count(*) FROM uN`.
    /// A part's rows are read only after its gate, the count of the part before, is known (an
    /// uncorrelated subquery, evaluated once before the first row), so part k finishes before part
    /// k + 1 touches a row. Parameters are numbered across the parts in order.
    static func chainedUpserts(_ upserts: [Upsert]) -> String {
        precondition(!upserts.isEmpty, "at least one upsert")
        var first = 1
        var parts: [String] = []
        for (index, upsert) in upserts.enumerated() {
            let arrays = upsert.types.enumerated().map { "$\($0.offset + first)::\($0.element)[]" }.joined(separator: ", ")
            first += upsert.types.count
            let gate = index == 0 ? "" : " WHERE (SELECT count(*) FROM u\(index)) >= 0"
            parts.append("u\(index + 1) AS (INSERT INTO \(upsert.table) (\(upsert.columns.joined(separator: ", "))) SELECT * FROM unnest(\(arrays))"
                + gate + " ON CONFLICT \(upsert.onConflict) RETURNING 1)")
        }
        return "WITH " + parts.joined(separator: ", ") + " SELECT count(*) FROM u\(upserts.count)"
    }

    /// The bindings of `columns`, in order, each one array parameter.
    static func bindings(_ columns: [PostgresColumnArray]) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: columns.count)
        for column in columns { bindings.append(column) }
        return bindings
    }
}

/// A batch's rollup, user-set and lifetime rows as one array per column (for
/// `PostgresSQL.insertUnnest`), in the rows' order, which is the aggregate's fixed key order.
enum PostgresAggregateColumns {
    static let rollupColumns = ["bucket"] + PostgresSchema.dimensionColumns + RollupFigures.columnNames
    static let rollupTypes = ["bigint"] + PostgresSchema.dimensionColumns.map { _ in "text" } + RollupFigures.columnNames.map { _ in "bigint" }

    static func rollups(_ rows: [BatchAggregate.RollupRow]) -> [PostgresColumnArray] {
        let figures = rows.map(\.figures.storedValues)
        return [.bigint(rows.map { $0.bucket })] + dimensions(rows.map(\.dimensions))
            + RollupFigures.columnNames.indices.map { column in .bigint(figures.map { $0[column] }) }
    }

    static let userSetColumns = ["bucket"] + PostgresSchema.dimensionColumns + ["paying", "chunk", "members"]
    static let userSetTypes = ["bigint"] + PostgresSchema.dimensionColumns.map { _ in "text" } + ["boolean", "bigint", "bit(\(BitChunk.bits))"]

    static func userSets(_ rows: [BatchAggregate.UserSetRow]) -> [PostgresColumnArray] {
        [.bigint(rows.map { $0.bucket })] + dimensions(rows.map(\.dimensions))
            + [.boolean(rows.map { $0.paying }), .bigint(rows.map { $0.chunk }), .bits(rows.map { BitChunk(words: $0.words) })]
    }

    static let lifetimeCounters = ["requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                                   "reasoning_tokens", "cost_nano", "credits_micro", "unpriced_requests"]
    static let lifetimeColumns = ["instance"] + PostgresSchema.dimensionColumns + ["error_type"] + lifetimeCounters
    static let lifetimeTypes = ["text"] + PostgresSchema.dimensionColumns.map { _ in "text" } + ["text"] + lifetimeCounters.map { _ in "bigint" }

    static func lifetime(_ rows: [UsageTotals], instance: String) -> [PostgresColumnArray] {
        func text(_ value: (UsageTotals) -> String) -> PostgresColumnArray { .text(rows.map { value($0) }) }
        func int(_ value: (UsageTotals) -> Int64) -> PostgresColumnArray { .bigint(rows.map { value($0) }) }
        return [
            .text(Array(repeating: instance, count: rows.count)),
            text(\.service), text(\.operation), text(\.category), text(\.provider), text(\.model), text(\.status.rawValue),
            text(\.resourceType), text { $0.errorType ?? "" },
            int(\.requests), int(\.tokens.input), int(\.tokens.cachedInput), int(\.tokens.cacheWrite), int(\.tokens.output),
            int(\.tokens.reasoning), int(\.costNanoUSD), int(\.creditsMicro), int(\.unpricedRequests),
        ]
    }

    /// The seven dimension columns, in `PostgresSchema.dimensionColumns` order.
    private static func dimensions(_ d: [RollupDimensions]) -> [PostgresColumnArray] {
        [.text(d.map { $0.service }), .text(d.map { $0.operation }), .text(d.map { $0.category }), .text(d.map { $0.provider }),
         .text(d.map { $0.model }), .text(d.map { $0.status }), .text(d.map { $0.resourceType })]
    }
}
