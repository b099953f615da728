import Foundation
import GRDB
import TokenMeterCore

/// The `user_sets_hour` / `user_sets_day` tables: per (bucket, rollup key, paying, chunk) the
/// users with at least one completed call, as a `UserSet` chunk. Distinct users over a range are
/// the union of these rows for its whole hours and days, plus raw records for the rest.
enum UserSetTables {
    static let unionFunction = "tokenmeter_user_set_union"
    static let containsFunction = "tokenmeter_user_set_contains"

    /// The merge functions the upsert uses; registered on every connection.
    static func registerFunctions(_ db: Database) {
        db.add(function: DatabaseFunction(unionFunction, argumentCount: 2, pure: true) { values in
            try UserSet.union(try chunk(values[0]), try chunk(values[1]))
        })
        db.add(function: DatabaseFunction(containsFunction, argumentCount: 2, pure: true) { values in
            try UserSet.contains(try chunk(values[0]), try chunk(values[1]))
        })
    }

    private static func chunk(_ value: DatabaseValue) throws -> Data {
        guard let data = Data.fromDatabaseValue(value) else { throw StoreError("user set chunk is not a blob") }
        return data
    }

    /// The dimension key columns of the tables as migration v2 made them: history, so spelled out
    /// rather than derived from today's rollup key (v8 added `resource_type`).
    private static let v2KeyColumns = ["service", "operation", "category", "provider", "model", "status"]

    /// The dimension key columns: the rollup key, or with `legacy` the tables as migration v2 made them.
    private static func keyColumns(legacy: Bool) -> ArraySlice<String> {
        legacy ? v2KeyColumns[...] : RollupDimensions.columnNames[...]
    }

    /// The upsert of one row's chunk. `legacy`: the tables as migration v2 made them (no
    /// `resource_type` key, added by v8).
    static func upsertSQL(_ granularity: Granularity, legacy: Bool = false) -> String {
        let table = StoreSchema.userSetTables[granularity]!
        let keys = (["bucket"] + keyColumns(legacy: legacy)).joined(separator: ", ")
        let width = 1 + keyColumns(legacy: legacy).count + 3
        return """
            INSERT INTO \(table) (\(keys), paying, chunk, members)
            VALUES (\(Array(repeating: "?", count: width).joined(separator: ", ")))
            ON CONFLICT (\(keys), paying, chunk) DO UPDATE SET
                members = \(unionFunction)(members, excluded.members)
                WHERE NOT \(containsFunction)(members, excluded.members)
            """
    }

    /// Upserts every chunk of `set` into the row of `key` with `statement` (an `upsertSQL`).
    static func upsert(_ set: UserSet, at key: UserSetAggregate.Key, dimensions: DimensionTable, _ statement: Statement,
                       legacy: Bool = false) throws {
        let keyValues = dimensions[key.dimension].columnValues.prefix(keyColumns(legacy: legacy).count)
        for (chunk, data) in set.encodedChunks {
            var b = StatementBinder(resetting: statement.sqliteStatement)
            b.int(key.bucket)
            for text in keyValues { b.text(text) }
            b.bool(key.paying); b.int(chunk); b.blob(data)
            b.assertComplete()
            try statement.execute()
        }
    }

    /// The backfill's write, on tables as migration v2 made them.
    private static func writeLegacy(_ aggregate: UserSetAggregate, dimensions: DimensionTable, _ db: Database) throws {
        for (key, set) in aggregate.sets {
            try upsert(set, at: key, dimensions: dimensions, try db.boundStatement(sql: upsertSQL(key.granularity, legacy: true)), legacy: true)
        }
    }

    /// Gives ordinals to the users of a store written before user sets existed, and builds their
    /// sets from the raw records still kept (older days keep only their rollups).
    static func backfill(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO user_ordinals (user_id)
            SELECT user_id FROM usage_records WHERE user_id IS NOT NULL GROUP BY user_id ORDER BY min(seq);
            UPDATE usage_records SET user_ordinal = (SELECT ordinal FROM user_ordinals o WHERE o.user_id = usage_records.user_id)
            WHERE user_id IS NOT NULL;
            """)
        let rows = try Row.fetchCursor(db, sql: """
            SELECT ts, service, operation, category, provider, model, status, paying, user_ordinal FROM usage_records
            WHERE user_ordinal IS NOT NULL AND status != 'pending'
            """)
        var aggregate = UserSetAggregate()
        var dimensions = DimensionTable()
        var pending = 0
        while let row = try rows.next() {
            let dimension = dimensions.id(RollupDimensions(service: row[1], operation: row[2], category: row[3],
                                                           provider: row[4], model: row[5], status: row[6]))
            aggregate.add(row[8], at: row[0], dimension: dimension, paying: (row[7] as Bool?) == true)
            pending += 1
            if pending == 100_000 {
                try writeLegacy(aggregate, dimensions: dimensions, db)
                aggregate = UserSetAggregate()
                pending = 0
            }
        }
        try writeLegacy(aggregate, dimensions: dimensions, db)
    }

    /// Adds the users of one plan segment to `groups`, keyed by the query's `groupBy` values.
    static func collect(_ query: FigureQuery, payingOnly: Bool, segment: QueryPlan.Segment, _ db: Database,
                        into groups: inout [[String]: UserSet]) throws {
        let raw = segment.source == .raw
        let width = query.groupBy.count
        let groupColumns = query.groupBy.map { raw ? $0.rawGroupExpression : $0.rawValue }
        let select = groupColumns.map { $0 + ", " }.joined()
        let (filters, filterArguments) = SQLiteStore.filterSQL(query, raw: raw)
        let paying = payingOnly ? " AND paying = 1" : ""
        let arguments: StatementArguments = StatementArguments([segment.from, segment.to] + filterArguments)
        if case .rollup(let granularity) = segment.source {
            let rows = try Row.fetchCursor(db, sql: """
                SELECT \(select)chunk, members FROM \(StoreSchema.userSetTables[granularity]!)
                WHERE bucket >= ? AND bucket < ?\(paying)\(filters)
                """, arguments: arguments)
            while let row = try rows.next() {
                let key = row.groupKey(width)
                let chunk: Int64 = row[width]
                try row.withUnsafeData(atIndex: width + 1) { data in
                    try groups[key, default: UserSet()].formUnion(chunk: chunk, encoded: data ?? Data())
                }
            }
        } else {
            let rows = try Row.fetchCursor(db, sql: """
                SELECT \(select)user_ordinal FROM usage_records
                WHERE ts >= ? AND ts < ? AND status != 'pending' AND user_ordinal IS NOT NULL\(paying)\(filters)
                """, arguments: arguments)
            while let row = try rows.next() {
                let key = row.groupKey(width)
                groups[key, default: UserSet()].insert(row[width])
            }
        }
    }
}
