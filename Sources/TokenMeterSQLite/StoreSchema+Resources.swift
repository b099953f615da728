import GRDB
import TokenMeterCore

extension StoreSchema {
    /// "v8-resources": the unit of work a record belongs to and its tags, `resource_type` as a key
    /// of the rollups, user sets and lifetime totals (existing rows under ''), and the run-time
    /// `credits_per_operation` changes. `usage_records` only gains columns (ALTER TABLE ADD
    /// COLUMN), so this composes with migrations that rebuild that table before it.
    static func registerResources(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-resources") { db in
            try db.execute(sql: """
                ALTER TABLE usage_records ADD COLUMN resource_type TEXT;
                ALTER TABLE usage_records ADD COLUMN resource_id TEXT;
                ALTER TABLE usage_records ADD COLUMN tags TEXT;
                CREATE INDEX usage_records_resource ON usage_records(resource_type, resource_id, ts) WHERE resource_type IS NOT NULL;
                CREATE TABLE operation_credits (operation TEXT PRIMARY KEY, credits_micro INTEGER NOT NULL);
                """)
            let keys = "service, operation, category, provider, model, status"
            for table in rollupTables.values {
                try db.execute(sql: """
                    CREATE TABLE \(table)_v8 (
                        bucket INTEGER NOT NULL,
                        service TEXT NOT NULL, operation TEXT NOT NULL, category TEXT NOT NULL,
                        provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
                        resource_type TEXT NOT NULL DEFAULT '',
                        \(figureColumns.map { "\($0) INTEGER NOT NULL DEFAULT 0" }.joined(separator: ",\n")),
                        PRIMARY KEY (bucket, \(keys), resource_type)
                    ) WITHOUT ROWID;
                    INSERT INTO \(table)_v8 (bucket, \(keys), \(figureColumns.joined(separator: ", ")))
                        SELECT bucket, \(keys), \(figureColumns.joined(separator: ", ")) FROM \(table);
                    DROP TABLE \(table);
                    ALTER TABLE \(table)_v8 RENAME TO \(table);
                    """)
            }
            for table in userSetTables.values {
                try db.execute(sql: """
                    CREATE TABLE \(table)_v8 (
                        bucket INTEGER NOT NULL,
                        service TEXT NOT NULL, operation TEXT NOT NULL, category TEXT NOT NULL,
                        provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
                        resource_type TEXT NOT NULL DEFAULT '',
                        paying INTEGER NOT NULL,
                        chunk INTEGER NOT NULL,
                        members BLOB NOT NULL,
                        PRIMARY KEY (bucket, \(keys), resource_type, paying, chunk)
                    ) WITHOUT ROWID;
                    INSERT INTO \(table)_v8 (bucket, \(keys), paying, chunk, members)
                        SELECT bucket, \(keys), paying, chunk, members FROM \(table);
                    DROP TABLE \(table);
                    ALTER TABLE \(table)_v8 RENAME TO \(table);
                    """)
            }
            let totals = """
                requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
                cost_nano, credits_micro, unpriced_requests
                """
            try db.execute(sql: """
                CREATE TABLE lifetime_totals_v8 (
                    service TEXT NOT NULL, operation TEXT NOT NULL, category TEXT NOT NULL,
                    provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, error_type TEXT NOT NULL,
                    resource_type TEXT NOT NULL DEFAULT '',
                    requests INTEGER NOT NULL DEFAULT 0,
                    input_tokens INTEGER NOT NULL DEFAULT 0, cached_input_tokens INTEGER NOT NULL DEFAULT 0,
                    cache_write_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
                    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
                    cost_nano INTEGER NOT NULL DEFAULT 0, credits_micro INTEGER NOT NULL DEFAULT 0,
                    unpriced_requests INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (\(keys), error_type, resource_type)
                );
                INSERT INTO lifetime_totals_v8 (\(keys), error_type, \(totals))
                    SELECT \(keys), error_type, \(totals) FROM lifetime_totals ORDER BY rowid;
                DROP TABLE lifetime_totals;
                ALTER TABLE lifetime_totals_v8 RENAME TO lifetime_totals;
                """)
        }
    }
}
