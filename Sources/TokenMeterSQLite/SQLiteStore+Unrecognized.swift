import Foundation
import GRDB
import TokenMeterCore

extension SQLiteStore {
    /// Completed records in [from, to) with usage fields tokenmeter did not understand, per provider,
    /// model and field. Read from raw records, so exact within raw retention.
    public func unrecognizedUsage(from: Date, to: Date) async throws -> UnrecognizedUsage {
        try await guardedRead { db in
            let range: StatementArguments = [from.unixMilliseconds, to.unixMilliseconds]
            let filter = "unrecognized_usage IS NOT NULL AND ts >= ? AND ts < ? AND status != 'pending'"
            let requests = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM usage_records WHERE \(filter)", arguments: range) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT provider, model, field.key AS field, COUNT(*) AS requests, SUM(field.value) AS count
                FROM usage_records, json_each(usage_records.unrecognized_usage) AS field
                WHERE \(filter)
                GROUP BY provider, model, field.key
                ORDER BY requests DESC, provider, model, field
                """, arguments: range)
            return UnrecognizedUsage(requests: requests, fields: rows.map { row in
                UnrecognizedUsage.Field(provider: row["provider"], model: row["model"], field: row["field"],
                                        requests: row["requests"], count: row["count"])
            })
        }
    }
}
