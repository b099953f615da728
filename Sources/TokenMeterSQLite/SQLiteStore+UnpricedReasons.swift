import Foundation
import GRDB
import TokenMeterCore

extension SQLiteStore {
    /// From the raw records still kept (records stored before the v4-price-match migration have no reason).
    public func unpricedReasons(from: Date, to: Date, limit: Int) async throws -> [UnpricedReason] {
        try await guardedRead { db in
            try Row.fetchAll(db, sql: """
                SELECT model, coalesce(unpriced_reason, 'no price (stored before reasons were kept)') AS reason, COUNT(*) AS n
                FROM usage_records WHERE unpriced = 1 AND ts >= ? AND ts < ?
                GROUP BY model, reason ORDER BY n DESC, model LIMIT ?
                """, arguments: [from.unixMilliseconds, to.unixMilliseconds, limit])
            .map { UnpricedReason(model: $0["model"], reason: $0["reason"], requests: $0["n"]) }
        }
    }
}
