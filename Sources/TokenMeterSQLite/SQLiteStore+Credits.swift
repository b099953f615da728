import GRDB
import TokenMeterCore

extension SQLiteStore {
    public func loadOperationCredits() async throws -> [String: Int64] {
        try await guardedRead { db in
            var credits: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT operation, credits_micro FROM operation_credits") {
                credits[row["operation"]] = row["credits_micro"]
            }
            return credits
        }
    }

    public func saveOperationCredits(_ operation: String, creditsMicro: Int64?) async throws {
        try await guardedWrite { db in
            if let creditsMicro {
                try db.execute(sql: """
                    INSERT INTO operation_credits (operation, credits_micro) VALUES (?, ?)
                    ON CONFLICT (operation) DO UPDATE SET credits_micro = excluded.credits_micro
                    """, arguments: [operation, creditsMicro])
            } else {
                try db.execute(sql: "DELETE FROM operation_credits WHERE operation = ?", arguments: [operation])
            }
        }
    }
}
