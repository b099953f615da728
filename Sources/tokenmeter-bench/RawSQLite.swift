import Foundation
import GRDBSQLite
import TokenMeter

/// The reference writer: the same rows into the same `usage_records` schema through the sqlite3 C API,
/// one prepared INSERT, one transaction per batch, no rollups. The ceiling of what the storage can take.
final class RawSQLiteWriter {
    private var db: OpaquePointer?
    private var insert: OpaquePointer?
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// The store's own column list; `write` binds the values in that order.
    static let columns = SQLiteStore.usageRecordColumns

    /// `schema`: the CREATE statements of `usage_records` and its indexes, as the store made them.
    init(path: String, synchronous: String, schema: [String]) throws {
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            throw BenchError("open \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
        try exec("PRAGMA journal_mode = WAL")
        try exec("PRAGMA synchronous = \(synchronous)")
        try exec("PRAGMA cache_size = -65536")  // the same page cache as SQLiteStore
        for sql in schema { try exec(sql) }
        let sql = """
            INSERT INTO usage_records (\(Self.columns.joined(separator: ", ")))
            VALUES (\(Self.columns.map { _ in "?" }.joined(separator: ", ")))
            ON CONFLICT (id) DO NOTHING
            """
        guard sqlite3_prepare_v2(db, sql, -1, &insert, nil) == SQLITE_OK else { throw error("prepare") }
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_close_v2(db)
    }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
    }

    private func error(_ context: String) -> BenchError {
        BenchError("\(context): \(String(cString: sqlite3_errmsg(db)))")
    }

    /// One transaction.
    func write(_ records: ArraySlice<PricedRecord>) throws {
        try exec("BEGIN")
        for p in records {
            let r = p.record
            var i: Int32 = 0
            func text(_ s: String?) {
                i += 1
                if let s { sqlite3_bind_text(insert, i, s, -1, Self.transient) } else { sqlite3_bind_null(insert, i) }
            }
            func int(_ v: Int64?) {
                i += 1
                if let v { sqlite3_bind_int64(insert, i, v) } else { sqlite3_bind_null(insert, i) }
            }
            func real(_ v: Double?) {
                i += 1
                if let v { sqlite3_bind_double(insert, i, v) } else { sqlite3_bind_null(insert, i) }
            }
            func bool(_ v: Bool?) { int(v.map { $0 ? 1 : 0 }) }
            text(r.id); bool(r.idWasGiven); int(r.timestamp.unixMilliseconds); int(Date().unixMilliseconds)
            text(r.userID); text(r.plan); bool(r.paying)
            text(r.service); text(r.operation); text(p.category.rawValue); text(p.provider); text(p.model); text(r.model)
            text(r.status.rawValue)
            int(r.tokens.input); int(r.tokens.cachedInput); int(r.tokens.cacheWrite); int(r.tokens.output); int(r.tokens.reasoning)
            real(r.units.requests); real(r.units.images); real(r.units.seconds); real(r.units.minutes); real(r.units.characters)
            int(p.costNanoUSD); text(p.costSource.rawValue); int(r.callerCostNanoUSD); text(p.priceVersion); bool(p.unpriced)
            int(p.creditsMicro); int(r.creditsMicro); int(r.durationMicros)
            text(r.errorType); text(r.errorMessage); text(r.metadataJSON)
            int(r.userID.map { _ in 1 })  // user_ordinal: a stand-in of the same storage class (no dictionary lookup)
            guard sqlite3_step(insert) == SQLITE_DONE else { throw error("insert") }
            sqlite3_reset(insert)
        }
        try exec("COMMIT")
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
