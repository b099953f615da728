import Foundation
import GRDB
import TokenMeterCore

extension SQLiteStore {
    public func loadPriceChanges() async throws -> [PriceChange] {
        try await guardedRead { db in
            let decoder = JSONDecoder()
            var changes: [PriceChange] = []
            var update: (version: String?, entries: [PriceEntry])?
            func flush() {
                if let u = update { changes.append(.replaceShipped(catalogVersion: u.version, entries: u.entries)) }
                update = nil
            }
            let rows = try Row.fetchCursor(db, sql: "SELECT kind, model, valid_from, entry_json, layer FROM price_changes ORDER BY seq")
            while let row = try rows.next() {
                let kind: String = row["kind"]
                let layer: String? = row["layer"]
                let json: String? = row["entry_json"]
                let entry = try json.flatMap { kind == "put" ? try decoder.decode(PriceEntry.self, from: Data($0.utf8)) : nil }
                switch (layer, kind, entry) {
                case ("update", "delete", _):
                    flush()
                    let meta = try json.map { try decoder.decode(UpdateMeta.self, from: Data($0.utf8)) }
                    update = (meta?.catalog_version, [])
                case ("update", "put", let entry?):
                    update?.entries.append(entry)
                case ("import", "put", let entry?):
                    flush()
                    changes.append(.imported(entry))
                case (_, "put", let entry?):
                    flush()
                    changes.append(.put(entry))
                default:
                    flush()
                    let validFrom: Int64? = row["valid_from"]
                    changes.append(.delete(model: row["model"], validFrom: validFrom.map(Date.init(unixMilliseconds:))))
                }
            }
            flush()
            return changes
        }
    }

    private struct UpdateMeta: Codable {
        var catalog_version: String?
    }

    public func savePriceChanges(_ changes: [PriceChange]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json(_ entry: PriceEntry) throws -> String { String(decoding: try encoder.encode(entry), as: UTF8.self) }
        var rows: [(String, String, Int64?, String?, String?)] = []
        for change in changes {
            switch change {
            case .put(let entry):
                rows.append(("put", entry.model, entry.validFrom?.unixMilliseconds, try json(entry), nil))
            case .delete(let model, let validFrom):
                rows.append(("delete", model.lowercased(), validFrom?.unixMilliseconds, nil, nil))
            case .imported(let entry):
                rows.append(("put", entry.model, entry.validFrom?.unixMilliseconds, try json(entry), "import"))
            case .replaceShipped(let version, let entries):
                let meta = String(decoding: try encoder.encode(UpdateMeta(catalog_version: version)), as: UTF8.self)
                rows.append(("delete", "*", nil, meta, "update"))
                for entry in entries {
                    rows.append(("put", entry.model, entry.validFrom?.unixMilliseconds, try json(entry), "update"))
                }
            }
        }
        let now = self.now().unixMilliseconds
        let rowsToInsert = rows
        let compaction = "DELETE FROM price_changes WHERE seq IN (\(StoreSchema.supersededPriceChanges(model: "?")))"
        try await guardedWrite { db in
            let statement = try db.makeStatement(sql: "INSERT INTO price_changes (kind, model, valid_from, entry_json, created_at, layer) VALUES (?, ?, ?, ?, ?, ?)")
            for (kind, model, validFrom, json, layer) in rowsToInsert {
                try statement.execute(arguments: [kind, model, validFrom, json, now, layer])
            }
            // Rows a replay no longer needs go in the same transaction (see supersededPriceChanges).
            let compact = try db.cachedStatement(sql: compaction)
            for model in Set(rowsToInsert.map(\.1)) { try compact.execute(arguments: [model]) }
            if rowsToInsert.contains(where: { $0.4 == "update" }) {
                try db.execute(sql: StoreSchema.supersededShippedUpdates)
            }
        }
    }
}
