import Foundation
import GRDB
import TokenMeterCore

extension SQLiteStore {
    public func loadPriceChanges() async throws -> [PriceChange] {
        let rows = try await guardedRead { db in
            try Row.fetchAll(db, sql: "SELECT kind, model, valid_from, entry_json, layer FROM price_changes ORDER BY seq").map { row in
                StoredPriceChange(kind: row["kind"], model: row["model"], validFrom: row["valid_from"], entryJSON: row["entry_json"],
                                  layer: row["layer"])
            }
        }
        return try PriceChangeLog.changes(from: rows)
    }

    public func savePriceChanges(_ changes: [PriceChange]) async throws {
        let rows = try PriceChangeLog.rows(for: changes)
        let now = self.now().unixMilliseconds
        let rowsToInsert = rows
        let compaction = "DELETE FROM price_changes WHERE seq IN (\(StoreSchema.supersededPriceChanges(model: "?")))"
        try await guardedWrite { db in
            let statement = try db.makeStatement(sql: "INSERT INTO price_changes (kind, model, valid_from, entry_json, created_at, layer) VALUES (?, ?, ?, ?, ?, ?)")
            for row in rowsToInsert {
                try statement.execute(arguments: [row.kind, row.model, row.validFrom, row.entryJSON, now, row.layer])
            }
            // Rows a replay no longer needs go in the same transaction (see supersededPriceChanges).
            let compact = try db.cachedStatement(sql: compaction)
            for model in Set(rowsToInsert.map(\.model)) { try compact.execute(arguments: [model]) }
            if rowsToInsert.contains(where: { $0.layer == "update" }) {
                try db.execute(sql: StoreSchema.supersededShippedUpdates)
            }
        }
    }
}
