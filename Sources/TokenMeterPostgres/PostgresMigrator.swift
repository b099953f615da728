import Logging
import PostgresNIO
import TokenMeterCore

/// Applies `PostgresSchema.migrations` in order, once, whichever instance starts first: under a
/// transaction-level advisory lock, so instances starting together wait for each other instead of
/// racing. A database that has a migration this binary does not know was written by a newer
/// tokenmeter and is refused unchanged.
enum PostgresMigrator {
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await migrate(client, upTo: nil, logger: logger)
    }

    /// Applies the migrations up to and including `last` (nil: all); tests build older schemas with it.
    static func migrate(_ client: PostgresClient, upTo last: String?, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.lockNamespace), \(PostgresSchema.migrationLock))", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS tokenmeter_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
                var applied: [String] = []
                for try await name in try await connection.query("SELECT name FROM tokenmeter_migrations", logger: logger).decode(String.self) {
                    applied.append(name)
                }
                let known = Set(PostgresSchema.migrations.map(\.name))
                if let unknown = applied.filter({ !known.contains($0) }).sorted().first {
                    throw StoreError("the PostgreSQL database was migrated by a newer tokenmeter (migration '\(unknown)' is unknown to this version): run the newer version, or point --db at another database")
                }
                var migrations = PostgresSchema.migrations
                if let last, let end = migrations.firstIndex(where: { $0.name == last }) { migrations = Array(migrations[...end]) }
                for migration in migrations where !applied.contains(migration.name) {
                    for statement in statements(migration.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO tokenmeter_migrations (name) VALUES (\(migration.name))", logger: logger)
                    logger.info("PostgreSQL store: applied migration \(migration.name)")
                }
            }
        }
    }

    /// One statement each (the extended query protocol takes one per query); no statement holds a
    /// semicolon at the end of a line except its own end, outside a dollar-quoted body (`DO $$ … $$`).
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var pending = ""
        for piece in sql.components(separatedBy: ";\n") {
            pending += pending.isEmpty ? piece : ";\n" + piece
            if pending.components(separatedBy: "$$").count % 2 == 1 {
                statements.append(pending)
                pending = ""
            }
        }
        if !pending.isEmpty { statements.append(pending) }
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
    }
}
