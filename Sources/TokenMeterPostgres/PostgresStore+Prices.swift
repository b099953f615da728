import Foundation
import PostgresNIO
import TokenMeterCore

/// Price changes, shared by every instance: saved in one transaction with the log's compaction and a
/// bump of `price_generation`, which every instance polls (`watchPriceChanges`) to reload the catalog.
extension PostgresStore {
    static let priceWriteLock: Int32 = 3

    public func loadPriceChanges() async throws -> [PriceChange] {
        let rows = try await read { connection in
            var rows: [StoredPriceChange] = []
            let result = try await connection.query("SELECT kind, model, valid_from, entry_json, layer FROM price_changes ORDER BY seq", logger: logger)
            for try await (kind, model, validFrom, json, layer) in result.decode((String, String, Int64?, String?, String?).self) {
                rows.append(StoredPriceChange(kind: kind, model: model, validFrom: validFrom, entryJSON: json, layer: layer))
            }
            return rows
        }
        return try PriceChangeLog.changes(from: rows)
    }

    public func savePriceChanges(_ changes: [PriceChange]) async throws {
        guard !changes.isEmpty else { return }  // `PricingService.apply([])` only reloads
        let rows = try PriceChangeLog.rows(for: changes)
        let now = self.now().unixMilliseconds
        let toInsert = rows
        try await guardedTransaction { connection in
            // One price writer at a time across instances: the log's order is the replay order.
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.lockNamespace), \(Self.priceWriteLock))", logger: logger)
            for row in toInsert {
                try await connection.query("""
                    INSERT INTO price_changes (kind, model, valid_from, entry_json, created_at, layer)
                    VALUES (\(row.kind), \(row.model), \(row.validFrom), \(row.entryJSON), \(now), \(row.layer))
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
