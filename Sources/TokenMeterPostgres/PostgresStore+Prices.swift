import Foundation
import PostgresNIO
import TokenMeterCore

/// Price changes, shared by every instance: saved in one transaction with the log's compaction and a
/// bump of `price_generation`, which every instance polls (`watchPriceChanges`) to reload the catalog.
extension PostgresStore {
    private struct UpdateMeta: Codable {
        var catalog_version: String?
    }

    static let priceWriteLock: Int32 = 3

    public func loadPriceChanges() async throws -> [PriceChange] {
        try await read { connection in
            let decoder = JSONDecoder()
            var changes: [PriceChange] = []
            var update: (version: String?, entries: [PriceEntry])?
            func flush() {
                if let u = update { changes.append(.replaceShipped(catalogVersion: u.version, entries: u.entries)) }
                update = nil
            }
            let rows = try await connection.query("SELECT kind, model, valid_from, entry_json, layer FROM price_changes ORDER BY seq", logger: logger)
            for try await (kind, model, validFrom, json, layer) in rows.decode((String, String, Int64?, String?, String?).self) {
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
                    changes.append(.delete(model: model, validFrom: validFrom.map(Date.init(unixMilliseconds:))))
                }
            }
            flush()
            return changes
        }
    }

    public func savePriceChanges(_ changes: [PriceChange]) async throws {
        guard !changes.isEmpty else { return }  // `PricingService.apply([])` only reloads
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json(_ entry: PriceEntry) throws -> String { String(decoding: try encoder.encode(entry), as: UTF8.self) }
        var rows: [(kind: String, model: String, validFrom: Int64?, json: String?, layer: String?)] = []
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
        let now = Date().unixMilliseconds
        let toInsert = rows
        try await guardedTransaction { connection in
            // One price writer at a time across instances: the log's order is the replay order.
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.lockNamespace), \(Self.priceWriteLock))", logger: logger)
            for row in toInsert {
                try await connection.query("""
                    INSERT INTO price_changes (kind, model, valid_from, entry_json, created_at, layer)
                    VALUES (\(row.kind), \(row.model), \(row.validFrom), \(row.json), \(now), \(row.layer))
                    """, logger: logger)
            }
            // Rows a replay no longer needs go in the same transaction (as in the SQLite store).
            for model in Set(toInsert.map(\.model)).sorted() {
                try await connection.query("""
                    DELETE FROM price_changes WHERE seq IN (
                        SELECT a.seq FROM price_changes a WHERE a.model = \(model) AND (
                            (a.layer IS NULL AND EXISTS (
                                SELECT 1 FROM price_changes b WHERE b.layer IS NULL AND b.model = a.model AND b.seq > a.seq AND (
                                    (b.kind = 'delete' AND b.valid_from IS NULL)
                                    OR (b.valid_from IS NOT DISTINCT FROM a.valid_from AND NOT (a.kind = 'delete' AND a.valid_from IS NULL)))))
                            OR (a.layer = 'import' AND EXISTS (
                                SELECT 1 FROM price_changes b WHERE b.layer = 'import' AND b.model = a.model AND b.seq > a.seq
                                    AND b.valid_from IS NOT DISTINCT FROM a.valid_from))))
                    """, logger: logger)
            }
            if toInsert.contains(where: { $0.layer == "update" }) {
                try await connection.query("""
                    DELETE FROM price_changes WHERE layer = 'update'
                        AND seq < (SELECT max(seq) FROM price_changes WHERE layer = 'update' AND kind = 'delete')
                    """, logger: logger)
            }
            try await connection.query("UPDATE store_meta SET value = value + 1 WHERE key = 'price_generation'", logger: logger)
        }
    }

    /// The generation of the stored price changes (bumped by every save, from any instance).
    public func priceGeneration() async throws -> Int64 {
        try await read { connection in
            try await connection.query("SELECT value FROM store_meta WHERE key = 'price_generation'", logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
        }
    }

    /// Reloads `pricing` from the store whenever another instance (or this one) saved a price
    /// change, checking every `interval`, until cancelled. A failed check is retried the next round.
    /// The first check always reloads: a change saved between the catalog's load and the watcher's
    /// start is not missed.
    public func watchPriceChanges(_ pricing: PricingService, every interval: Duration = .seconds(2)) async {
        var seen: Int64? = nil
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                let generation = try await priceGeneration()
                if generation != seen {
                    try await pricing.apply([])
                    seen = generation
                    logger.debug("price changes reloaded from the shared store (generation \(generation))")
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("checking the shared store for price changes failed: \(error)")
            }
        }
    }
}
