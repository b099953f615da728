import Foundation
import GRDB
import TokenMeterCore

/// Reading the whole store out, table by table, for a copy into another store (`tokenmeter
/// migrate`): stored values as they are, in key order, in pieces. Only reads.
extension SQLiteStore {
    /// Rows per table and the content fingerprint, read in one transaction (one snapshot).
    public func exportSummary() async throws -> StoreCopySummary {
        try await guardedRead { db in
            func figures(_ sql: String) throws -> [Int64] {
                guard let row = try Row.fetchOne(db, sql: sql) else { return [] }
                return (0..<row.count).map { row.sum($0) }
            }
            var tables: [StoreCopy.Step: StoreCopySummary.Table] = [:]
            func table(_ step: StoreCopy.Step, _ sql: String) throws {
                let values = try figures(sql)
                tables[step] = StoreCopySummary.Table(rows: values.first ?? 0, figures: Array(values.dropFirst()))
            }
            try table(.userOrdinals, "SELECT count(*), coalesce(max(ordinal), 0) FROM user_ordinals")
            try table(.records, """
                SELECT count(*), coalesce(max(seq), 0), coalesce(sum(cost_nano), 0), coalesce(sum(status = 'pending'), 0),
                    coalesce(sum(received_at % 1000003), 0), coalesce(sum(coalesce(completed_at, 0) % 1000003), 0)
                FROM usage_records
                """)
            for step in StoreCopy.Step.allCases {
                if let granularity = step.rollupGranularity {
                    try table(step, """
                        SELECT count(*), coalesce(min(bucket), 0), coalesce(max(bucket), 0), coalesce(sum(requests), 0),
                            coalesce(sum(cost_nano), 0) FROM \(StoreSchema.rollupTables[granularity]!)
                        """)
                }
                if let granularity = step.userSetGranularity {
                    try table(step, """
                        SELECT count(*), coalesce(min(bucket), 0), coalesce(max(bucket), 0), coalesce(sum(length(members)), 0)
                        FROM \(StoreSchema.userSetTables[granularity]!)
                        """)
                }
            }
            try table(.lifetimeTotals, "SELECT count(*), coalesce(sum(requests), 0), coalesce(sum(cost_nano), 0) FROM lifetime_totals")
            try table(.priceChanges, "SELECT count(*), coalesce(max(seq), 0), coalesce(sum(created_at % 1000003), 0) FROM price_changes")
            try table(.operationCredits, "SELECT count(*), coalesce(sum(credits_micro), 0) FROM operation_credits")
            var completeFrom: Int64? = nil
            if try db.tableExists("store_meta") {
                completeFrom = try Int64.fetchOne(db, sql: "SELECT value FROM store_meta WHERE key = 'user_sets_complete_from'")
            }
            return StoreCopySummary(tables: tables, userSetsCompleteFrom: completeFrom)
        }
    }

    /// (ordinal, user id) after ordinal `after`, in ordinal order.
    public func exportUserOrdinals(after: Int64?, limit: Int) async throws -> [(ordinal: Int64, userID: String)] {
        try await guardedRead { db in
            try Row.fetchAll(db, sql: "SELECT ordinal, user_id FROM user_ordinals WHERE ordinal > ? ORDER BY ordinal LIMIT ?",
                             arguments: [after ?? Int64.min, limit]).map { ($0[0], $0[1]) }
        }
    }

    /// Records (pending ones too) after `seq`, in seq order, with every stored value.
    public func exportRecords(after seq: Int64?, limit: Int) async throws -> [ExportedRecord] {
        try await guardedRead { db in
            try Row.fetchAll(db, sql: "SELECT * FROM usage_records WHERE seq > ? ORDER BY seq LIMIT ?",
                             arguments: [seq ?? Int64.min, limit]).map(Self.exportedRecord)
        }
    }

    static func exportedRecord(_ row: Row) throws -> ExportedRecord {
        let costSource: String = row["cost_source"]
        guard let source = CostSource(rawValue: costSource) else {
            throw StoreError("record \(row["id"] as String? ?? "?"): unknown cost_source '\(costSource)'")
        }
        let categoryName: String = row["category"]
        guard let category = UsageCategory(rawValue: categoryName) else {
            throw StoreError("record \(row["id"] as String? ?? "?"): unknown category '\(categoryName)'")
        }
        let priced = PricedRecord(stored: RecordRow.record(from: row), model: row["model"], provider: row["provider"],
                                  category: category, costNanoUSD: row["cost_nano"],
                                  costSource: source, priceVersion: row["price_version"], creditsMicro: row["credits_micro"],
                                  priceMatch: row["price_match"], unpricedReason: row["unpriced_reason"])
        return ExportedRecord(seq: row["seq"], priced: priced, receivedAtMs: row["received_at"], completedAtMs: row["completed_at"],
                              userOrdinal: row["user_ordinal"])
    }

    /// Rows per bucket of a rollup or user-set table (`step`), in bucket order.
    public func exportBucketCounts(_ step: StoreCopy.Step) async throws -> [(bucket: Int64, rows: Int)] {
        let table = try Self.bucketTable(step)
        return try await guardedRead { db in
            try Row.fetchAll(db, sql: "SELECT bucket, count(*) FROM \(table) GROUP BY bucket ORDER BY bucket").map { ($0[0], $0[1]) }
        }
    }

    private static func bucketTable(_ step: StoreCopy.Step) throws -> String {
        if let granularity = step.rollupGranularity { return StoreSchema.rollupTables[granularity]! }
        if let granularity = step.userSetGranularity { return StoreSchema.userSetTables[granularity]! }
        throw StoreError("\(step.rawValue) is not a bucketed table")
    }

    private static let dimensionColumns = "service, operation, category, provider, model, status, resource_type"

    private static func dimensions(_ row: Row, from index: Int) -> RollupDimensions {
        RollupDimensions(service: row[index], operation: row[index + 1], category: row[index + 2], provider: row[index + 3],
                         model: row[index + 4], status: row[index + 5], resourceType: row[index + 6])
    }

    /// The rollup rows with `after < bucket <= through` (after nil: from the first).
    public func exportRollupRows(_ granularity: Granularity, after: Int64?, through: Int64) async throws -> [BatchAggregate.RollupRow] {
        let table = StoreSchema.rollupTables[granularity]!
        return try await guardedRead { db in
            try Row.fetchAll(db, sql: """
                SELECT bucket, \(Self.dimensionColumns), \(StoreSchema.figureColumns.joined(separator: ", ")) FROM \(table)
                WHERE bucket > ? AND bucket <= ? ORDER BY bucket, \(Self.dimensionColumns)
                """, arguments: [after ?? Int64.min, through]).map { row in
                BatchAggregate.RollupRow.stored(granularity: granularity, bucket: row[0], dimensions: Self.dimensions(row, from: 1),
                                         figures: RollupFigures(storedValues: (8..<row.count).map { row.sum($0) }))
            }
        }
    }

    /// The user-set rows with `after < bucket <= through`, each chunk as its 64 membership words.
    public func exportUserSetRows(_ granularity: Granularity, after: Int64?, through: Int64) async throws -> [BatchAggregate.UserSetRow] {
        let table = StoreSchema.userSetTables[granularity]!
        return try await guardedRead { db in
            try Row.fetchAll(db, sql: """
                SELECT bucket, \(Self.dimensionColumns), paying, chunk, members FROM \(table)
                WHERE bucket > ? AND bucket <= ? ORDER BY bucket, \(Self.dimensionColumns), paying, chunk
                """, arguments: [after ?? Int64.min, through]).map { row in
                let members: Data = row[10]
                return BatchAggregate.UserSetRow.stored(granularity: granularity, bucket: row[0], dimensions: Self.dimensions(row, from: 1),
                                                 paying: row[8], chunk: row[9], words: try UserSet.words(ofStoredChunk: members))
            }
        }
    }

    /// The price-change log in stored order, with the times the changes were saved.
    public func exportPriceChanges() async throws -> [ExportedPriceChange] {
        try await guardedRead { db in
            try Row.fetchAll(db, sql: "SELECT kind, model, valid_from, entry_json, layer, created_at FROM price_changes ORDER BY seq").map {
                ExportedPriceChange(change: StoredPriceChange(kind: $0["kind"], model: $0["model"], validFrom: $0["valid_from"],
                                                              entryJSON: $0["entry_json"], layer: $0["layer"]),
                                    createdAtMs: $0["created_at"])
            }
        }
    }
}
