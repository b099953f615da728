import Foundation
import GRDB
import TokenMeterCore

extension SQLiteStore {
    public func resourceSpan(type: String, id: String, from: Date, to: Date) async throws -> ResourceSpan {
        try await guardedRead { db in
            let arguments: StatementArguments = [type, id, from.unixMilliseconds, to.unixMilliseconds]
            let filter = "resource_type = ? AND resource_id = ? AND ts >= ? AND ts < ? AND status != 'pending'"
            var span = ResourceSpan()
            if let row = try Row.fetchOne(db, sql: """
                SELECT min(ts) AS first, max(ts) AS last, max(ts + coalesce(duration_us, 0) / 1000.0) AS last_end,
                    COUNT(DISTINCT user_id) AS users
                FROM usage_records WHERE \(filter)
                """, arguments: arguments), let first = row["first"] as Int64? {
                span.firstCall = Date(unixMilliseconds: first)
                span.lastCall = Date(unixMilliseconds: row["last"])
                let end: Double = row["last_end"]
                span.lastEnd = Date(timeIntervalSince1970: end / 1000)
                span.userCount = row["users"]
            }
            span.users = try String.fetchAll(db, sql: """
                SELECT DISTINCT user_id FROM usage_records WHERE \(filter) AND user_id IS NOT NULL ORDER BY user_id LIMIT \(ResourceSpan.maxUsers)
                """, arguments: arguments)
            return span
        }
    }
}
