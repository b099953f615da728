import Foundation

/// One row of the stored price-change log, as every store keeps it (`price_changes`).
public struct StoredPriceChange: Sendable, Equatable {
    /// `put` or `delete`.
    public var kind: String
    /// The model (lower-cased for deletes), or `*` for the start of a shipped-catalog update.
    public var model: String
    public var validFrom: Int64?
    /// The entry for a put; the update's catalog version for the start of an update.
    public var entryJSON: String?
    /// nil: the operator's own change; `import`: an imported entry; `update`: a shipped-catalog update.
    public var layer: String?

    public init(kind: String, model: String, validFrom: Int64?, entryJSON: String?, layer: String?) {
        self.kind = kind
        self.model = model
        self.validFrom = validFrom
        self.entryJSON = entryJSON
        self.layer = layer
    }
}

/// How price changes are written to the log and replayed from it: the same in every store, so a
/// store's restart replays exactly what was saved.
public enum PriceChangeLog {
    private struct UpdateMeta: Codable {
        var catalog_version: String?
    }

    /// The rows that store `changes`, in order.
    public static func rows(for changes: [PriceChange]) throws -> [StoredPriceChange] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json(_ entry: PriceEntry) throws -> String { String(decoding: try encoder.encode(entry), as: UTF8.self) }
        var rows: [StoredPriceChange] = []
        for change in changes {
            switch change {
            case .put(let entry):
                rows.append(.init(kind: "put", model: entry.model, validFrom: entry.validFrom?.unixMilliseconds, entryJSON: try json(entry), layer: nil))
            case .delete(let model, let validFrom):
                rows.append(.init(kind: "delete", model: model.lowercased(), validFrom: validFrom?.unixMilliseconds, entryJSON: nil, layer: nil))
            case .imported(let entry):
                rows.append(.init(kind: "put", model: entry.model, validFrom: entry.validFrom?.unixMilliseconds, entryJSON: try json(entry), layer: "import"))
            case .replaceShipped(let version, let entries):
                let meta = String(decoding: try encoder.encode(UpdateMeta(catalog_version: version)), as: UTF8.self)
                rows.append(.init(kind: "delete", model: "*", validFrom: nil, entryJSON: meta, layer: "update"))
                for entry in entries {
                    rows.append(.init(kind: "put", model: entry.model, validFrom: entry.validFrom?.unixMilliseconds, entryJSON: try json(entry), layer: "update"))
                }
            }
        }
        return rows
    }

    /// Replays stored rows (in stored order) into the changes they were saved from.
    public static func changes(from rows: [StoredPriceChange]) throws -> [PriceChange] {
        let decoder = JSONDecoder()
        var changes: [PriceChange] = []
        var update: (version: String?, entries: [PriceEntry])?
        func flush() {
            if let u = update { changes.append(.replaceShipped(catalogVersion: u.version, entries: u.entries)) }
            update = nil
        }
        for row in rows {
            let entry = try row.entryJSON.flatMap { row.kind == "put" ? try decoder.decode(PriceEntry.self, from: Data($0.utf8)) : nil }
            switch (row.layer, row.kind, entry) {
            case ("update", "delete", _):
                flush()
                let meta = try row.entryJSON.map { try decoder.decode(UpdateMeta.self, from: Data($0.utf8)) }
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
                changes.append(.delete(model: row.model, validFrom: row.validFrom.map(Date.init(unixMilliseconds:))))
            }
        }
        flush()
        return changes
    }
}
