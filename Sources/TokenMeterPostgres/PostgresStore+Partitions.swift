import Foundation
import PostgresNIO
import TokenMeterCore

/// Upkeep of the time partitions of `usage_records` (`RecordPartitions`): run by `open` and by
/// every `prune`, under the store-wide maintenance lock, so one instance does it at a time.
extension PostgresStore {
    /// How long upkeep waits for the table lock that creating, detaching or dropping a partition
    /// takes (writers wait behind it meanwhile); past it, upkeep gives up until its next round and
    /// records go to the DEFAULT partition meanwhile, losing nothing.
    static let partitionLockTimeout = "5s"

    /// The day partitions attached to `usage_records`, by day.
    func recordPartitions() async throws -> [Int64: String] {
        let names = try await textRows("""
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'usage_records'::regclass
            """).compactMap { $0[0] }
        var days: [Int64: String] = [:]
        for name in names { if let day = RecordPartitions.day(fromName: name) { days[day] = name } }
        return days
    }

    /// Creates the partitions of every day from the raw-retention cutoff to `now` plus a day and
    /// 5 minutes that has none; returns the ones it created. Records of such a day that went to
    /// the DEFAULT partition meanwhile are moved into the new one in the same transaction.
    @discardableResult
    func createRecordPartitions(retention: RetentionPolicy, now: Date) async throws -> [String] {
        // A day table a crash left detached holds the name a new partition of that day would take.
        for name in try await detachedPartitions() { _ = try await dropDetached(name) }
        let existing = try await recordPartitions()
        var created: [String] = []
        for day in RecordPartitions.wanted(retention: retention, now: now) where existing[day] == nil {
            let name = RecordPartitions.name(day: day)
            let (from, to) = RecordPartitions.bounds(day: day)
            try await maintenanceTransaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(Self.partitionLockTimeout)'"), logger: logger)
                try await connection.query("LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE", logger: logger)
                let strays = try await connection.query("""
                    SELECT EXISTS (SELECT 1 FROM usage_records_default WHERE ts >= \(from) AND ts < \(to))
                    """, logger: logger).collect().first?.decode(Bool.self) ?? false
                if strays {
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        CREATE TEMP TABLE tokenmeter_moving ON COMMIT DROP AS
                        SELECT * FROM \(RecordPartitions.defaultPartition) WHERE ts >= \(from) AND ts < \(to)
                        """), logger: logger)
                    try await connection.query("DELETE FROM usage_records_default WHERE ts >= \(from) AND ts < \(to)", logger: logger)
                }
                try await connection.query(PostgresQuery(unsafeSQL: """
                    CREATE TABLE \(name) PARTITION OF usage_records FOR VALUES FROM (\(from)) TO (\(to))
                    """), logger: logger)
                if strays {
                    try await connection.query("INSERT INTO usage_records OVERRIDING SYSTEM VALUE SELECT * FROM tokenmeter_moving", logger: logger)
                }
            }
            created.append(name)
        }
        return created
    }

    /// Removes the raw records older than the raw-retention cutoff: each partition whose whole day
    /// is past it is detached and dropped (its pending records, which live until the pending
    /// timeout whatever their timestamp, as on SQLite, are moved to the DEFAULT partition first),
    /// and the few old rows of the DEFAULT partition are deleted. Their ids leave the key table with
    /// them. Returns the number of records removed.
    func pruneRecordPartitions(rawCutoff: Int64) async throws -> Int {
        var removed = 0
        for (day, name) in try await recordPartitions().sorted(by: { $0.key < $1.key })
        where RecordPartitions.isExpired(day: day, rawCutoff: rawCutoff) {
            try await maintenanceTransaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(Self.partitionLockTimeout)'"), logger: logger)
                try await connection.query("LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE usage_records DETACH PARTITION \(name)"), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO usage_records OVERRIDING SYSTEM VALUE SELECT * FROM \(name) WHERE status = 'pending'
                    """), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(name) WHERE status = 'pending'"), logger: logger)
            }
        }
        // The detached ones (and any a crash left detached before its drop).
        for name in try await detachedPartitions() {
            removed += try await dropDetached(name)
        }
        while true {
            let deleted = try await maintenanceTransaction { connection in
                Int(try await connection.query("""
                    WITH gone AS (
                        DELETE FROM usage_records_default WHERE ctid = ANY(ARRAY(
                            SELECT ctid FROM usage_records_default WHERE ts < \(rawCutoff) AND status <> 'pending' LIMIT 5000))
                        RETURNING id),
                    keys AS (DELETE FROM usage_record_ids WHERE id IN (SELECT id FROM gone))
                    SELECT count(*) FROM gone
                    """, logger: logger).collect().first?.decode(Int64.self) ?? 0)
            }
            removed += deleted
            if deleted == 0 { return removed }
            await Task.yield()
        }
    }

    /// Day tables of this schema that are no longer partitions of `usage_records`.
    private func detachedPartitions() async throws -> [String] {
        try await textRows("""
            SELECT relname::text FROM pg_class WHERE relkind = 'r' AND NOT relispartition AND pg_table_is_visible(oid)
            AND relname LIKE '\(RecordPartitions.prefix.replacingOccurrences(of: "_", with: "\\_"))%' ORDER BY relname
            """).compactMap { $0[0] }.filter { RecordPartitions.day(fromName: $0) != nil }
    }

    /// Drops a detached day table and the keys of its records, in one transaction that locks
    /// neither `usage_records` nor any partition writers use; returns its row count.
    private func dropDetached(_ name: String) async throws -> Int {
        try await maintenanceTransaction { connection in
            let count = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(name)"), logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
            try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM usage_record_ids k USING \(name) r WHERE k.id = r.id"), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"), logger: logger)
            return Int(count)
        }
    }

    /// One transaction of upkeep on a pooled connection: its errors are faults, but never latched
    /// (a lock timeout or a lost race here must not stop the writes).
    func maintenanceTransaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.transaction(logger: logger, body)
            }
        } catch {
            throw PostgresFaults.classify(error)
        }
    }
}
