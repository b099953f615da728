import Foundation
import GRDBSQLite
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

/// The reference writer: the same rows into the same `usage_records` schema through the sqlite3 C API,
/// the store's own prepared idempotency check and INSERT (through the store's own function), one
/// transaction per batch, no rollups. The ceiling of what the storage can take.
///
/// `uniqueIDText`: the layout before v7 instead, for comparison: the same table with `id TEXT NOT
/// NULL UNIQUE` and no `id_hash` index, and `ON CONFLICT (id) DO NOTHING` as the check.
final class RawSQLiteWriter {
    private var db: OpaquePointer?
    private var insert: OpaquePointer?
    /// The store's idempotency check; nil for the layout before v7, whose INSERT checks by itself.
    private var check: OpaquePointer?
    /// The text of the row being inserted, as the store binds it.
    private let texts = TextArena()

    /// The store's own column list; `write` binds the values in that order.
    static let columns = SQLiteStore.usageRecordColumns

    /// `schema`: the CREATE statements of `usage_records` and its indexes, as the store made them.
    init(path: String, synchronous: String, schema: [String], uniqueIDText: Bool = false) throws {
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            throw BenchError("open \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
        try exec("PRAGMA journal_mode = WAL")
        try exec("PRAGMA synchronous = \(synchronous)")
        try exec("PRAGMA cache_size = -65536")  // the same page cache as SQLiteStore
        try exec("PRAGMA wal_autocheckpoint = \(SQLiteStore.walAutocheckpointPages)")  // and the same checkpoint interval
        var sql = SQLiteStore.usageRecordInsertSQL
        if uniqueIDText {
            let table = schema.filter { $0.hasPrefix("CREATE TABLE") }
            guard table.count == 1, let idColumn = table[0].range(of: #""id" TEXT NOT NULL"#) else {
                throw BenchError("cannot find the id column in \(schema)")
            }
            var create = table[0]
            create.replaceSubrange(idColumn, with: #""id" TEXT NOT NULL UNIQUE"#)
            try exec(create)
            for index in schema where index.hasPrefix("CREATE INDEX") && !index.contains("(id_hash)") { try exec(index) }
            sql = """
                INSERT INTO usage_records (\(Self.columns.joined(separator: ", ")))
                VALUES (\(Self.columns.map { _ in "?" }.joined(separator: ", ")))
                ON CONFLICT (id) DO NOTHING
                """
        } else {
            for statement in schema { try exec(statement) }
            guard sqlite3_prepare_v2(db, SQLiteStore.usageRecordStoredSQL, -1, &check, nil) == SQLITE_OK else { throw error("prepare") }
        }
        guard sqlite3_prepare_v2(db, sql, -1, &insert, nil) == SQLITE_OK else { throw error("prepare") }
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_finalize(check)
        sqlite3_close_v2(db)
    }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
    }

    private func error(_ context: String) -> BenchError {
        BenchError("\(context): \(String(cString: sqlite3_errmsg(db)))")
    }

    /// One transaction. Not inlined, so a profile (callgrind, perf) shows the raw side under its own name.
    @inline(never)
    func write(_ records: ArraySlice<PricedRecord>) throws {
        try exec("BEGIN")
        let receivedAt = Date().unixMilliseconds
        for p in records {
            // A stand-in ordinal of the same storage class: the raw side keeps no user dictionary.
            let ordinal = p.record.userID.map { _ in Int64(1) }
            if let check {
                _ = try SQLiteStore.insertUsageRecordUnlessStored(p, userOrdinal: ordinal, receivedAtMs: receivedAt, check: check, insert: insert!, texts: texts)
            } else {
                SQLiteStore.bindUsageRecord(p, userOrdinal: ordinal, receivedAtMs: receivedAt, to: insert!, texts: texts)
                guard sqlite3_step(insert) == SQLITE_DONE else { throw error("insert") }
                sqlite3_reset(insert)
            }
        }
        try exec("COMMIT")
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
