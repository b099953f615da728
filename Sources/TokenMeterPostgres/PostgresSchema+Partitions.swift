import TokenMeterCore

extension PostgresSchema {
    /// pg-v2-partitions: `usage_records` becomes range-partitioned by `ts`, one partition per UTC
    /// day (`RecordPartitions`), with a DEFAULT partition for the rest. A unique key of a
    /// partitioned table must hold the partition key, while a record id is unique across all time
    /// (a retry of a record sent without timestamp gets a new received time and can land in
    /// another partition), so the key moves to `usage_record_ids (id PRIMARY KEY, ts)`: one narrow,
    /// unpartitioned table the write path claims ids in (`INSERT … ON CONFLICT DO NOTHING
    /// RETURNING id`, same transaction), holding exactly the ids of the stored records.
    ///
    /// An existing pg-v1 table is converted in the migration's one transaction: renamed, its rows
    /// copied into partitions created for every day they cover (their `seq` kept), their ids into
    /// the key table, then dropped. It rewrites the table once, so it takes time and free disk in
    /// proportion to the records kept.
    static var v2Partitions: String {
        let partition = RecordPartitions.prefix
        let width = RecordPartitions.widthMilliseconds
        return """
            ALTER TABLE usage_records RENAME TO usage_records_v1;
            DROP INDEX usage_records_ts;
            DROP INDEX usage_records_resource;
            DROP INDEX usage_records_pending;
            DROP INDEX usage_records_unrecognized;
            CREATE TABLE usage_records (
            \(recordColumns(idKey: "NOT NULL"))
            ) PARTITION BY RANGE (ts);
            CREATE TABLE \(RecordPartitions.defaultPartition) PARTITION OF usage_records DEFAULT;
            CREATE INDEX usage_records_id ON usage_records (id);
            CREATE INDEX usage_records_ts ON usage_records (ts);
            CREATE INDEX usage_records_resource ON usage_records (resource_type, resource_id, ts) WHERE resource_type IS NOT NULL;
            CREATE INDEX usage_records_pending ON usage_records (received_at) WHERE status = 'pending';
            CREATE INDEX usage_records_unrecognized ON usage_records (ts) WHERE unrecognized_usage IS NOT NULL;
            CREATE TABLE usage_record_ids (id text PRIMARY KEY, ts bigint NOT NULL);
            DO $$
            DECLARE day bigint;
            BEGIN
                FOR day IN SELECT DISTINCT floor(ts / \(width).0)::bigint FROM usage_records_v1 LOOP
                    EXECUTE format('CREATE TABLE %I PARTITION OF usage_records FOR VALUES FROM (%s) TO (%s)',
                        '\(partition)' || to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'), day * \(width), (day + 1) * \(width));
                END LOOP;
            END
            $$;
            INSERT INTO usage_record_ids (id, ts) SELECT id, ts FROM usage_records_v1;
            INSERT INTO usage_records OVERRIDING SYSTEM VALUE SELECT * FROM usage_records_v1;
            SELECT setval(pg_get_serial_sequence('usage_records', 'seq'), max(seq)) FROM usage_records_v1;
            DROP TABLE usage_records_v1;
            """
    }

    /// pg-v3-shared-gauges: the store gauges computed by one instance per interval, read by all
    /// (`PostgresStore+Gauges.swift`). `key` names the gauge configuration (time zone, retention,
    /// budgets), so instances configured alike share one row.
    static var v3SharedGauges: String {
        """
        CREATE TABLE store_gauges (key text PRIMARY KEY, computed_at bigint NOT NULL, computed_by text NOT NULL, payload text NOT NULL);
        """
    }
}
