import Foundation
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    /// Claims the ids of a batch's new records in `usage_record_ids` (the store-wide key since
    /// pg-v2: `usage_records` is partitioned by time and cannot hold a unique key on `id` alone) and
    /// returns the ids that were new. Every instance claims in the id order the records are sorted
    /// in, in the write transaction, so two instances sending the same id at the same moment wait on
    /// the key's index entry and exactly one gets it back; a claimed id's row is inserted in the
    /// same transaction, so the table holds exactly the ids of the stored records.
    func claimRecordIDs(_ records: [PricedRecord], _ connection: PostgresConnection) async throws -> Set<[UInt8]> {
        guard !records.isEmpty else { return [] }
        let ids = records.map(\.record.id)
        let timestamps = records.map(\.record.timestamp.unixMilliseconds)
        var claimed = Set<[UInt8]>()
        let rows = try await connection.query("""
            INSERT INTO usage_record_ids (id, ts) SELECT id, ts FROM unnest(\(ids)::text[], \(timestamps)::bigint[]) AS k(id, ts)
            ORDER BY id COLLATE "C" ON CONFLICT (id) DO NOTHING RETURNING id
            """, logger: logger)
        for try await id in rows.decode(String.self) { claimed.insert(Array(id.utf8)) }
        return claimed
    }

    /// The stored timestamp of each id that has a record (its key row; the transaction's own
    /// inserts included): the time partition a completion finds its record in, since a lookup by id
    /// alone would probe the id index of every partition.
    func recordTimestamps(_ ids: [String], _ connection: PostgresConnection) async throws -> [[UInt8]: Int64] {
        var found: [[UInt8]: Int64] = [:]
        let rows = try await connection.query("SELECT id, ts FROM usage_record_ids WHERE id = ANY(\(ids))", logger: logger)
        for try await (id, ts) in rows.decode((String, Int64).self) { found[Array(id.utf8)] = ts }
        return found
    }
}
