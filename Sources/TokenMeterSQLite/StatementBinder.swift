import Foundation
import GRDB
import GRDBSQLite

/// Binds values, in parameter order, straight to a prepared statement through the sqlite3 C API (the
/// statement is reset first). The write path binds every row this way: GRDB's `StatementArguments`
/// built from `[any DatabaseValueConvertible]` cast each value dynamically and were the larger part
/// of a rollup upsert's instructions (callgrind, BENCHMARKS.md issue 20).
///
/// `text(_:)` and `blob(_:)` bind with `SQLITE_TRANSIENT` (SQLite copies the value), so the Swift
/// values need not outlive the call; text is passed with its UTF-8 length from the string's own
/// storage, without the temporary C string an implicit `String` to pointer conversion allocates.
/// `text(_:in:)` binds with `SQLITE_STATIC` from a `TextArena` instead: no copy by SQLite, and the
/// bytes stay in the arena until the row is stepped.
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

    /// Text copied into `arena` and bound from there without SQLite's own copy (`SQLITE_STATIC`):
    /// SQLite's copy of a transient value is an allocation per value, most of the cost of binding
    /// a record (BENCHMARKS.md, issue 20, stop 29). The arena keeps the bytes until its next row.
    mutating func text(_ value: String?, in arena: TextArena) {
        index += 1
        guard var value else {
            sqlite3_bind_null(statement, index)
            return
        }
        let (base, count) = value.withUTF8 { arena.copy($0) }
        sqlite3_bind_text(statement, index, base, Int32(count), Self.static)
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

    /// `assertComplete` in every build, for rows with text from a `TextArena`: a parameter left out
    /// would point at arena bytes that now hold another value of this row.
    func requireComplete() {
        precondition(index == sqlite3_bind_parameter_count(statement), "bound \(index) of \(sqlite3_bind_parameter_count(statement)) parameters")
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    private static let `static` = unsafeBitCast(0, to: sqlite3_destructor_type.self)
}

/// Memory for the text values of one row bound with `SQLITE_STATIC`, reused row after row. SQLite
/// reads a value bound that way when the statement steps, so the bytes must stay put from the bind
/// until the row is stepped. The arena never moves bytes it handed out (a full block is followed
/// by another, not grown). The caller calls `startRow` only after the row before was stepped, and
/// binds every text parameter of the statement anew before the next step (`requireComplete`).
///
/// Not thread-safe: one arena belongs to one writer (the store's writer statements, the
/// benchmark's raw writer) and is used only where its statement is.
package final class TextArena {
    private var blocks: [UnsafeMutableRawBufferPointer] = []
    private var block = 0
    private var offset = 0
    private let blockSize: Int

    package init(blockSize: Int = 16 * 1024) { self.blockSize = blockSize }

    deinit { for block in blocks { block.deallocate() } }

    /// The blocks are free again: call before binding a row, after the row before was stepped.
    func startRow() {
        block = 0
        offset = 0
    }

    /// A copy of `bytes` that stays where it is until `startRow`; never a NULL pointer (SQLite would
    /// bind SQL NULL, not '', for one).
    func copy(_ bytes: UnsafeBufferPointer<UInt8>) -> (UnsafePointer<CChar>, Int) {
        while block < blocks.count && offset + bytes.count > blocks[block].count {
            block += 1
            offset = 0
        }
        if block == blocks.count {
            let fresh = UnsafeMutableRawBufferPointer.allocate(byteCount: max(blockSize, bytes.count, 1), alignment: 1)
            fresh.bindMemory(to: CChar.self)
            blocks.append(fresh)
            offset = 0
        }
        let start = blocks[block].baseAddress! + offset
        if let source = bytes.baseAddress { start.copyMemory(from: source, byteCount: bytes.count) }
        offset += bytes.count
        return (UnsafePointer(start.assumingMemoryBound(to: CChar.self)), bytes.count)
    }
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
