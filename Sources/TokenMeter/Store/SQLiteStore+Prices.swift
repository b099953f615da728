import Foundation
import GRDB

extension SQLiteStore {
    public func loadPriceChanges() async throws -> [PriceChange] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, model, valid_from, entry_json FROM price_changes ORDER BY seq").map { row in
                let kind: String = row["kind"]
                if kind == "put", let json: String = row["entry_json"] {
                    return .put(try JSONDecoder().decode(PriceEntry.self, from: Data(json.utf8)))
                }
                let validFrom: Int64? = row["valid_from"]
                return .delete(model: row["model"], validFrom: validFrom.map(Date.init(unixMilliseconds:)))
            }
        }
    }

    public func savePriceChanges(_ changes: [PriceChange]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let rows: [(String, String, Int64?, String?)] = try changes.map { change in
            switch change {
            case .put(let entry):
                (("put", entry.model, entry.validFrom?.unixMilliseconds, String(decoding: try encoder.encode(entry), as: UTF8.self)))
            case .delete(let model, let validFrom):
                ("delete", model.lowercased(), validFrom?.unixMilliseconds, nil)
            }
        }
        let now = Date().unixMilliseconds
        let compaction = "DELETE FROM price_changes WHERE seq IN (\(StoreSchema.supersededPriceChanges(model: "?")))"
        try await guardedWrite { db in
            for (kind, model, validFrom, json) in rows {
                try db.execute(sql: "INSERT INTO price_changes (kind, model, valid_from, entry_json, created_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [kind, model, validFrom, json, now])
            }
            let statement = try db.cachedStatement(sql: compaction)
            for model in Set(rows.map(\.1)) { try statement.execute(arguments: [model]) }
        }
    }
}
