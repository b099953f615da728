import Foundation
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    public func resourceSpan(type: String, id: String, from: Date, to: Date) async throws -> ResourceSpan {
        try await read { connection in
            let from = from.unixMilliseconds, to = to.unixMilliseconds
            var span = ResourceSpan()
            let rows = try await connection.query("""
                SELECT min(ts) AS first, max(ts) AS last, max(ts + coalesce(duration_us, 0) / 1000.0)::double precision AS last_end,
                    COUNT(DISTINCT user_id) AS users
                FROM usage_records
                WHERE resource_type = \(type) AND resource_id = \(id) AND ts >= \(from) AND ts < \(to) AND status <> 'pending'
                """, logger: logger)
            for try await row in rows {
                let c = row.makeRandomAccess()
                guard let first = try c["first"].decode(Int64?.self) else { break }
                span.firstCall = Date(unixMilliseconds: first)
                span.lastCall = Date(unixMilliseconds: try c["last"].decode(Int64.self))
                span.lastEnd = Date(timeIntervalSince1970: try c["last_end"].decode(Double.self) / 1000)
                span.userCount = Int(try c["users"].decode(Int64.self))
            }
            let limit = ResourceSpan.maxUsers
            let users = try await connection.query("""
                SELECT DISTINCT user_id FROM usage_records
                WHERE resource_type = \(type) AND resource_id = \(id) AND ts >= \(from) AND ts < \(to) AND status <> 'pending'
                    AND user_id IS NOT NULL
                ORDER BY user_id LIMIT \(limit)
                """, logger: logger)
            for try await row in users { span.users.append(try row.decode(String.self)) }
            return span
        }
    }

    public func loadOperationCredits() async throws -> [String: Int64] {
        try await read { connection in
            var credits: [String: Int64] = [:]
            for try await (operation, micro) in try await connection.query(
                "SELECT operation, credits_micro FROM operation_credits", logger: logger).decode((String, Int64).self) {
                credits[operation] = micro
            }
            return credits
        }
    }

    public func saveOperationCredits(_ operation: String, creditsMicro: Int64?) async throws {
        try await guardedTransaction { connection in
            if let creditsMicro {
                try await connection.query("""
                    INSERT INTO operation_credits (operation, credits_micro) VALUES (\(operation), \(creditsMicro))
                    ON CONFLICT (operation) DO UPDATE SET credits_micro = excluded.credits_micro
                    """, logger: logger)
            } else {
                try await connection.query("DELETE FROM operation_credits WHERE operation = \(operation)", logger: logger)
            }
        }
    }
}
