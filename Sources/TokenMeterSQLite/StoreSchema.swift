import GRDB
import TokenMeterCore

/// Tables of the SQLite store. Times are Unix milliseconds (UTC); money is nano-USD; credits are
/// micro-credits; durations are microseconds; all integers, so sums are exact.
enum StoreSchema {
    static let rollupTables: [Granularity: String] = [.minute: "rollup_minute", .hour: "rollup_hour", .day: "rollup_day"]
    static let userSetTables: [Granularity: String] = [.hour: "user_sets_hour", .day: "user_sets_day"]

    /// A figure column of the rollup tables and the sum over raw records that gives the same figure.
    struct FigureColumn {
        var name: String
        var fromRawRecords: String
    }

    /// The figure columns (`RollupFigures.columnNames`) with the sum over raw records of each.
    static let figures = zip(RollupFigures.columnNames, [
        "COUNT(*)", "SUM(status = 'error')", "SUM(input_tokens)", "SUM(cached_input_tokens)", "SUM(cache_write_tokens)",
        "SUM(output_tokens)", "SUM(reasoning_tokens)", "SUM(cost_nano)", "SUM(credits_micro)", "SUM(unpriced)",
        "SUM(coalesce(duration_us, 0))", "COUNT(duration_us)",
    ]).map { FigureColumn(name: $0, fromRawRecords: $1) }
    static let figureColumns = figures.map(\.name)

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE usage_records (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    id_given INTEGER NOT NULL,
                    ts INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    completed_at INTEGER,
                    user_id TEXT,
                    plan TEXT,
                    paying INTEGER,
                    service TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    category TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    model_raw TEXT NOT NULL,
                    status TEXT NOT NULL,
                    input_tokens INTEGER NOT NULL,
                    cached_input_tokens INTEGER NOT NULL,
                    cache_write_tokens INTEGER NOT NULL,
                    output_tokens INTEGER NOT NULL,
                    reasoning_tokens INTEGER NOT NULL,
                    units_requests REAL, units_images REAL, units_seconds REAL, units_minutes REAL, units_characters REAL,
                    cost_nano INTEGER NOT NULL,
                    cost_source TEXT NOT NULL,
                    caller_cost_nano INTEGER,
                    price_version TEXT,
                    unpriced INTEGER NOT NULL,
                    credits_micro INTEGER NOT NULL,
                    caller_credits_micro INTEGER,
                    duration_us INTEGER,
                    error_type TEXT,
                    error_message TEXT,
                    metadata TEXT
                );
                CREATE INDEX usage_records_ts ON usage_records(ts);
                CREATE INDEX usage_records_pending ON usage_records(status) WHERE status = 'pending';
                """)
            for table in rollupTables.values {
                try db.execute(sql: """
                    CREATE TABLE \(table) (
                        bucket INTEGER NOT NULL,
                        service TEXT NOT NULL, operation TEXT NOT NULL, category TEXT NOT NULL,
                        provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
                        \(figureColumns.map { "\($0) INTEGER NOT NULL DEFAULT 0" }.joined(separator: ",\n")),
                        PRIMARY KEY (bucket, service, operation, category, provider, model, status)
                    ) WITHOUT ROWID
                    """)
            }
            try db.execute(sql: """
                CREATE TABLE user_day (
                    day INTEGER NOT NULL,
                    user_id TEXT NOT NULL,
                    plan TEXT,
                    paying INTEGER NOT NULL DEFAULT 0,
                    requests INTEGER NOT NULL DEFAULT 0,
                    errors INTEGER NOT NULL DEFAULT 0,
                    cost_nano INTEGER NOT NULL DEFAULT 0,
                    credits_micro INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (day, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX user_day_user ON user_day(user_id, day);
                CREATE TABLE lifetime_totals (
                    service TEXT NOT NULL, operation TEXT NOT NULL, category TEXT NOT NULL,
                    provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, error_type TEXT NOT NULL,
                    requests INTEGER NOT NULL DEFAULT 0,
                    input_tokens INTEGER NOT NULL DEFAULT 0, cached_input_tokens INTEGER NOT NULL DEFAULT 0,
                    cache_write_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
                    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
                    cost_nano INTEGER NOT NULL DEFAULT 0, credits_micro INTEGER NOT NULL DEFAULT 0,
                    unpriced_requests INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (service, operation, category, provider, model, status, error_type)
                );
                CREATE TABLE price_changes (
                    seq INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL CHECK (kind IN ('put', 'delete')),
                    model TEXT NOT NULL,
                    valid_from INTEGER,
                    entry_json TEXT,
                    created_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-user-sets") { db in
            // Users get integer ordinals so that per-bucket user sets are small bitmaps (UserSet).
            try db.execute(sql: """
                ALTER TABLE usage_records ADD COLUMN user_ordinal INTEGER;
                CREATE TABLE user_ordinals (
                    ordinal INTEGER PRIMARY KEY,
                    user_id TEXT NOT NULL UNIQUE
                );
                """)
            for table in userSetTables.values {
                try db.execute(sql: """
                    CREATE TABLE \(table) (
                        bucket INTEGER NOT NULL,
                        service TEXT NOT NULL, operation TEXT NOT NULL, category TEXT NOT NULL,
                        provider TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
                        paying INTEGER NOT NULL,
                        chunk INTEGER NOT NULL,
                        members BLOB NOT NULL,
                        PRIMARY KEY (bucket, service, operation, category, provider, model, status, paying, chunk)
                    ) WITHOUT ROWID
                    """)
            }
            // Sets are complete only from the oldest raw record kept at this upgrade (older days
            // have only day rollups): the planner treats older time as not covered.
            try db.execute(sql: """
                CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO store_meta (key, value)
                SELECT 'user_sets_complete_from',
                    coalesce((SELECT min(ts) FROM usage_records), (SELECT max(bucket) + 86400000 FROM rollup_day))
                WHERE EXISTS (SELECT 1 FROM rollup_day);
                """)
            try UserSetTables.backfill(db)
        }
        migrator.registerMigration("v3-drop-user-day") { db in
            // Per-user day rows answered active users before user sets did; nothing reads them now,
            // and they cost an upsert per user per batch.
            try db.execute(sql: "DROP TABLE user_day")
        }
        registerPriceMatch(&migrator)
        migrator.registerMigration("v5-price-log-compaction") { db in
            // The price-change log keeps only the rows a replay needs (see supersededPriceChanges),
            // so start-up and each change cost what the live versions cost, not every change ever made.
            try db.execute(sql: "CREATE INDEX price_changes_model ON price_changes(model, seq)")
            try db.execute(sql: "DELETE FROM price_changes WHERE seq IN (\(supersededPriceChanges(model: nil)))")
            try db.execute(sql: supersededShippedUpdates)
        }
        migrator.registerMigration("v6-usage-details") { db in
            // The 1-hour part of the cache writes (priced at its own rate), a router's own cost
            // figure, and the usage fields tokenmeter did not understand (JSON path → count).
            try db.execute(sql: """
                ALTER TABLE usage_records ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE usage_records ADD COLUMN router_cost_nano INTEGER;
                ALTER TABLE usage_records ADD COLUMN unrecognized_usage TEXT;
                CREATE INDEX usage_records_unrecognized ON usage_records(ts) WHERE unrecognized_usage IS NOT NULL;
                """)
        }
        registerIDHash(&migrator)
        registerResources(&migrator)
        return migrator
    }
}

extension StoreSchema {
    /// The seqs of price-change rows that a later row of the same model and layer makes irrelevant
    /// for a replay (`PriceChange.apply` replays each layer on its own: imports, then the
    /// operator's changes). Operator rows: a later delete of every version, or a later put or
    /// delete of the same version, unless the earlier row is a delete of every version (a put
    /// brings back one version only). Import rows: a later import of the same version. `model`
    /// limits it to one model (bound as `?`).
    static func supersededPriceChanges(model: String?) -> String {
        """
        SELECT a.seq FROM price_changes a WHERE \(model == nil ? "1" : "a.model = ?") AND (
            (a.layer IS NULL AND EXISTS (
                SELECT 1 FROM price_changes b WHERE b.layer IS NULL AND b.model = a.model AND b.seq > a.seq AND (
                    (b.kind = 'delete' AND b.valid_from IS NULL)
                    OR (b.valid_from IS a.valid_from AND NOT (a.kind = 'delete' AND a.valid_from IS NULL)))))
            OR (a.layer = 'import' AND EXISTS (
                SELECT 1 FROM price_changes b WHERE b.layer = 'import' AND b.model = a.model AND b.seq > a.seq
                    AND b.valid_from IS a.valid_from)))
        """
    }

    /// A `prices update` replaces the whole shipped layer: the rows of earlier updates go.
    static let supersededShippedUpdates = """
        DELETE FROM price_changes WHERE layer = 'update'
            AND seq < (SELECT max(seq) FROM price_changes WHERE layer = 'update' AND kind = 'delete')
        """
}
