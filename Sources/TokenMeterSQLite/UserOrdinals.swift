import GRDB
import GRDBSQLite
import TokenMeterCore
import Synchronization

/// The store's user id → ordinal dictionary (`user_ordinals`), with an in-memory cache of ids
/// whose ordinal is committed.
final class UserOrdinals: Sendable {
    /// Beyond this many cached ids the cache starts over (a miss costs one indexed SELECT).
    static let cacheLimit = 1_000_000
    private let cache = Mutex<[String: Int64]>([:])

    /// Ordinals looked up or assigned inside one write transaction. They go into the cache only
    /// through `remember` after the transaction commits: an ordinal assigned in a transaction that
    /// rolls back would otherwise be handed out twice.
    struct Resolved {
        fileprivate(set) var ordinals: [String: Int64] = [:]
    }

    /// The ordinal of `user`, assigned (INSERT) when it has none, on the writer's kept statements
    /// (`WriterStatements.userOrdinalSelect`, `.userOrdinalInsert`): through GRDB's statement cache
    /// each new user cost two lookups by SQL text (BENCHMARKS.md, issue 20, stop 30).
    func ordinal(of user: String, _ db: Database, _ statements: WriterStatements, _ resolved: inout Resolved) throws -> Int64 {
        // Swift compares strings by canonical equivalence, SQLite by bytes: "café" in NFC and NFD
        // are one dictionary key but two user ids. Only ASCII ids (where the two agree) are cached.
        let cacheable = user.utf8.allSatisfy { $0 < 0x80 }
        if cacheable, let known = resolved.ordinals[user] ?? cache.withLock({ $0[user] }) { return known }
        let ordinal = try Self.stored(user, statements.userOrdinalSelect) ?? Self.assign(user, db, statements)
        if cacheable { resolved.ordinals[user] = ordinal }
        return ordinal
    }

    static let selectSQL = "SELECT ordinal FROM user_ordinals WHERE user_id = ?"
    static let insertSQL = "INSERT INTO user_ordinals (user_id) VALUES (?)"

    private static func stored(_ user: String, _ select: Statement) throws -> Int64? {
        let statement = select.sqliteStatement
        var b = StatementBinder(resetting: statement)
        b.text(user)
        b.assertComplete()
        defer { sqlite3_reset(statement) }
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return sqlite3_column_int64(statement, 0)
        case SQLITE_DONE: return nil
        case let code: throw DatabaseError.stepFailure(code, statement, selectSQL)
        }
    }

    private static func assign(_ user: String, _ db: Database, _ statements: WriterStatements) throws -> Int64 {
        var b = StatementBinder(resetting: statements.userOrdinalInsert.sqliteStatement)
        b.text(user)
        b.assertComplete()
        try statements.step(statements.userOrdinalInsert)
        return sqlite3_last_insert_rowid(db.sqliteConnection)
    }

    /// Call after the transaction that resolved them committed.
    func remember(_ resolved: Resolved) {
        guard !resolved.ordinals.isEmpty else { return }
        cache.withLock { cache in
            if cache.count + resolved.ordinals.count > Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache.merge(resolved.ordinals) { _, new in new }
        }
    }
}
