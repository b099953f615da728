import TokenMeterCore
import GRDB

extension StoreSchema {
    /// The SQL function of the id key (`RecordIDKey.key`), registered on every connection.
    static let idKeyFunction = "tokenmeter_id_hash"

    /// v7: the id index holds a 64-bit key of the id (`id_hash`, an integer index that is not
    /// unique) instead of the id text under `UNIQUE`. A random id (a UUIDv4, a provider's generation
    /// id) then touches one small leaf of an index of 8-byte integers instead of a leaf of an index
    /// of 36-byte strings, and a UUIDv7 (time-ordered) appends. Idempotency stays exact: the check
    /// compares the id text of the rows with the same key (`RecordRow.storedSQL`).
    ///
    /// SQLite drops a UNIQUE constraint only by rebuilding the table: every column `usage_records`
    /// has when this runs is copied (read from `PRAGMA table_info`, so columns added by earlier
    /// migrations come along; none has a CHECK or COLLATE clause, which table_info would not show),
    /// the keys are computed by the SQL function, and the other indexes are created again from
    /// their stored SQL.
    static func registerIDHash(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-id-hash") { db in
            var definitions: [String] = []
            var names: [String] = []
            for column in try Row.fetchAll(db, sql: "PRAGMA table_info(usage_records)") {
                let name = (column["name"] as String).quotedDatabaseIdentifier
                var definition = "\(name) \(column["type"] as String)"
                if (column["pk"] as Int) > 0 { definition += " PRIMARY KEY" }
                if column["notnull"] as Bool { definition += " NOT NULL" }
                if let defaultSQL = column["dflt_value"] as String? { definition += " DEFAULT (\(defaultSQL))" }
                definitions.append(definition)
                names.append(name)
            }
            let indexes = try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' AND sql IS NOT NULL ORDER BY name
                """)
            let list = names.joined(separator: ", ")
            try db.execute(sql: """
                CREATE TABLE usage_records_v7 (\(definitions.joined(separator: ", ")), id_hash INTEGER NOT NULL);
                INSERT INTO usage_records_v7 (\(list), id_hash) SELECT \(list), \(idKeyFunction)(id) FROM usage_records ORDER BY seq;
                DROP TABLE usage_records;
                ALTER TABLE usage_records_v7 RENAME TO usage_records;
                """)
            for sql in indexes { try db.execute(sql: sql) }
            try db.execute(sql: "CREATE INDEX usage_records_id_hash ON usage_records(id_hash)")
        }
    }
}
