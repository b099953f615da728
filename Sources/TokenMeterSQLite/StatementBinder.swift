import Foundation
import GRDB
import GRDBSQLite

/// Binds values, in parameter order, straight to a prepared statement through the sqlite3 C API (the
/// statement is reset first). The write path binds every row this way: GRDB's `StatementArguments`
/// built from `[any DatabaseValueConvertible]` cast each value dynamically and were the larger part
/// of a rollup upsert's instructions (callgrind, BENCHMARKS.md issue 20).
///
/// Text and blobs are bound with `SQLITE_TRANSIENT` (SQLite copies them), so the Swift values need not
/// outlive the call; text is passed with its UTF-8 length from the string's own storage, without
/// the temporary C string an implicit `String` to pointer conversion allocates.
struct StatementBinder {
    let statement: OpaquePointer
    private(set) var index: Int32 = 0

    init(resetting statement: OpaquePointer) {
        sqlite3_reset(statement)
        self.statement = statement
    }

    mutating func text(_ value: String?) {
        index += 1
        guard var value else {
            sqlite3_bind_null(statement, index)
            return
        }
        value.withUTF8 { bytes in
            if let base = bytes.baseAddress {
                sqlite3_bind_text(statement, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), Self.transient)
            } else {
                // An empty buffer may have no address, and a NULL pointer would bind SQL NULL, not ''.
                sqlite3_bind_text(statement, index, "", 0, Self.transient)
            }
        }
    }

    mutating func int(_ value: Int64?) {
        index += 1
        if let value { sqlite3_bind_int64(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    mutating func real(_ value: Double?) {
        index += 1
        if let value { sqlite3_bind_double(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    mutating func bool(_ value: Bool?) { int(value.map { $0 ? 1 : 0 }) }

    mutating func blob(_ value: Data) {
        index += 1
        value.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress, !bytes.isEmpty {
                sqlite3_bind_blob(statement, index, base, Int32(bytes.count), Self.transient)
            } else {
                // A zero-length blob, not NULL (SQLite binds NULL for a NULL pointer).
                sqlite3_bind_zeroblob(statement, index, 0)
            }
        }
    }

    /// Checks (in debug builds) that every parameter of the statement was bound: a parameter left
    /// out would keep the value bound for the row before.
    func assertComplete() {
        assert(index == sqlite3_bind_parameter_count(statement), "bound \(index) of \(sqlite3_bind_parameter_count(statement)) parameters")
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension Database {
    /// A cached statement to run with `execute()` after its values were bound with `StatementBinder`
    /// (GRDB's own argument checks are off for it: the binder binds every parameter, in order).
    func boundStatement(sql: String) throws -> Statement {
        let statement = try cachedStatement(sql: sql)
        statement.setUncheckedArguments([])
        return statement
    }
}

extension DatabaseError {
    /// A failed `sqlite3_step` of a statement run through the C API, as GRDB reports a failed
    /// statement (so the store sorts it into a fault like any other). The result code is extended
    /// where the connection has extended codes on, as GRDB's do.
    static func stepFailure(_ code: Int32, _ statement: OpaquePointer, _ sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))), sql: sql)
    }
}
