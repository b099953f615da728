import Foundation
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    /// This instance's own lifetime totals: what its counters resume from.
    public func lifetimeTotals() async throws -> [UsageTotals] {
        try await read { connection in
            let keys = UsageTotals.keyColumnNames, counters = UsageTotals.counterColumnNames
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT \((keys + counters).joined(separator: ", ")) FROM lifetime_totals WHERE instance = $1
                """, binds: { var b = PostgresBindings(); b.append(instance); return b }()), logger: logger)
            var all: [UsageTotals] = []
            for try await row in rows {
                let c = row.makeRandomAccess()
                all.append(UsageTotals(keyValues: try keys.map { try c[$0].decode(String.self) },
                                       counterValues: try counters.map { try c[$0].decode(Int64.self) }))
            }
            return all
        }
    }

    /// Pending records in the whole store (every instance's).
    public func pendingCounts() async throws -> [PendingCount] {
        try await read { connection in
            let rows = try await connection.query("""
                SELECT service, operation, model, count(*) FROM usage_records WHERE status = 'pending' GROUP BY service, operation, model
                """, logger: logger)
            var counts: [PendingCount] = []
            for try await (service, operation, model, n) in rows.decode((String, String, String, Int64).self) {
                counts.append(PendingCount(service: service, operation: operation, model: model, count: n))
            }
            return counts
        }
    }

    /// Prunes under a store-wide advisory lock: one instance prunes at a time, the others skip this
    /// round (and take over when the one holding it is gone, since the lock dies with its session).
    /// Expired pending records first (with their counts), then partition upkeep: the partitions
    /// ahead created, the ones past raw retention dropped (`PostgresStore+Partitions.swift`); the
    /// rollups as on SQLite, by rows.
    public func prune(retention: RetentionPolicy, now: Date) async throws -> PruneSummary {
        let summary = PruneSummary()
        let rawCutoff = retention.oldestKept(nil, now: now).unixMilliseconds
        let minuteCutoff = retention.oldestKept(.minute, now: now).unixMilliseconds
        let hourCutoff = retention.oldestKept(.hour, now: now).unixMilliseconds
        let pendingCutoff = retention.pendingExpiry(now: now).unixMilliseconds
        let done = try await withMaintenanceLock(PostgresSchema.pruneLock) { () async throws -> PruneSummary in
            var summary = summary
            summary.pendingDeleted = try await guardedTransaction { connection in
                let rows = try await connection.query("""
                    WITH gone AS (DELETE FROM usage_records WHERE status = 'pending' AND received_at < \(pendingCutoff) RETURNING id, service, operation, model),
                    keys AS (DELETE FROM usage_record_ids WHERE id IN (SELECT id FROM gone))
                    SELECT service, operation, model FROM gone
                    """, logger: logger)
                var counts: [[String]: Int64] = [:]
                for try await (service, operation, model) in rows.decode((String, String, String).self) { counts[[service, operation, model], default: 0] += 1 }
                return counts.map { PendingCount(service: $0.key[0], operation: $0.key[1], model: $0.key[2], count: $0.value) }
            }
            // Raw records go by whole day partitions (the partitions ahead are created first).
            try await createRecordPartitions(retention: retention, now: now)
            summary.records = try await pruneRecordPartitions(rawCutoff: rawCutoff) + summary.pendingDeleted.reduce(0) { $0 + Int($1.count) }
            summary.minuteRows = try await deleteInChunks("DELETE FROM rollup_minute WHERE bucket < $1", minuteCutoff)
            summary.hourRows = try await deleteInChunks("DELETE FROM rollup_hour WHERE bucket < $1", hourCutoff)
            summary.hourUserSetRows = try await deleteInChunks("DELETE FROM user_sets_hour WHERE bucket < $1", hourCutoff)
            return summary
        }
        return done ?? summary
    }

    private func deleteInChunks(_ sql: String, _ cutoff: Int64) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await guardedTransaction { connection in
                var bindings = PostgresBindings()
                bindings.append(cutoff)
                let counted = PostgresQuery(unsafeSQL: "WITH deleted AS (\(sql) RETURNING 1) SELECT count(*) FROM deleted", binds: bindings)
                return Int(try await connection.query(counted, logger: logger).collect().first?.decode(Int64.self) ?? 0)
            }
            total += deleted
            if deleted == 0 || !sql.contains("LIMIT") { return total }
            await Task.yield()
        }
    }

    /// A real committed write (this instance's row of `instances`), for readiness when no records arrive.
    public func probeWrite(now: Date) async throws {
        let at = now.unixMilliseconds
        try await guardedTransaction { connection in
            try await connection.query("""
                INSERT INTO instances (name, started_at, last_probe) VALUES (\(instance), \(at), \(at))
                ON CONFLICT (name) DO UPDATE SET last_probe = excluded.last_probe
                """, logger: logger)
        }
    }
}
