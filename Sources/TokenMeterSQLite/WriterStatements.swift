import GRDB
import GRDBSQLite
import TokenMeterCore

/// The statements of the record write path, prepared once on the writer connection and kept, with
/// the transaction around them. Through GRDB each commit looked every statement up in its cache by
/// its SQL text (hashing kilobytes of SQL per statement) and prepared BEGIN and COMMIT anew: ~150k
/// instructions per commit, more than the record's own insert (callgrind, BENCHMARKS.md issue 20).
final class WriterStatements {
    let begin: Statement
    let commit: Statement
    let rollback: Statement
    let check: Statement
    let insert: Statement
    /// The text values of `insert`'s row, bound without SQLite's copy.
    let insertTexts = TextArena()
    /// Indexed by `Granularity.allCases`.
    let rollups: [Statement]
    /// Indexed by `UserSetAggregate.granularities`.
    let userSets: [Statement]
    let lifetime: Statement
    /// `UserOrdinals`' lookup and assignment.
    let userOrdinalSelect: Statement
    let userOrdinalInsert: Statement
    /// The connection they were prepared on.
    let connection: ObjectIdentifier

    init(_ db: Database) throws {
        begin = try db.makeStatement(sql: "BEGIN IMMEDIATE TRANSACTION")
        commit = try db.makeStatement(sql: "COMMIT TRANSACTION")
        rollback = try db.makeStatement(sql: "ROLLBACK TRANSACTION")
        check = try db.makeStatement(sql: RecordRow.storedSQL)
        insert = try db.makeStatement(sql: RecordRow.insertSQL)
        rollups = try Granularity.allCases.map { try db.makeStatement(sql: SQLiteStore.rollupUpsertSQL[$0]!) }
        userSets = try UserSetAggregate.granularities.map { try db.makeStatement(sql: UserSetTables.upsertSQL($0)) }
        lifetime = try db.makeStatement(sql: SQLiteStore.lifetimeUpsertSQL)
        userOrdinalSelect = try db.makeStatement(sql: UserOrdinals.selectSQL)
        userOrdinalInsert = try db.makeStatement(sql: UserOrdinals.insertSQL)
        for statement in rollups + userSets + [lifetime] { statement.setUncheckedArguments([]) }
        connection = ObjectIdentifier(db)
    }

    /// Runs `body` in an IMMEDIATE transaction (as GRDB's `write` does), committed when it returns
    /// and rolled back when it or the commit throws.
    func inTransaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try step(begin)
        do {
            let value = try body()
            try step(commit)
            return value
        } catch {
            // SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY …).
            if sqlite3_get_autocommit(db.sqliteConnection) == 0 { try? step(rollback) }
            throw error
        }
    }

    /// Steps a statement that returns no row, and resets it.
    func step(_ statement: Statement) throws {
        let code = sqlite3_step(statement.sqliteStatement)
        // The error message is read before the reset, which may replace it.
        let failure = code == SQLITE_DONE ? nil : DatabaseError.stepFailure(code, statement.sqliteStatement, statement.sql)
        sqlite3_reset(statement.sqliteStatement)
        if let failure { throw failure }
    }
}

/// The writer's `WriterStatements` and its committed user-set members, held by the store between
/// writes.
///
/// `@unchecked Sendable`: its state is read and written only inside the store's write closures
/// (`write`, retention's deletes, `close()`), which GRDB runs one at a time on the database's single
/// writer connection (a serial queue): never two at once.
final class WriterState: @unchecked Sendable {
    private var statements: WriterStatements?
    var committedUserSets = CommittedUserSets()

    /// The statements for `db`, prepared on the first write (and again should the writer connection change).
    func statements(_ db: Database, make: () throws -> WriterStatements) throws -> WriterStatements {
        if let statements, statements.connection == ObjectIdentifier(db) { return statements }
        statements = nil
        let made = try make()
        statements = made
        return made
    }

    /// Finalizes the statements (GRDB's `close()` refuses to close a connection with live statements).
    func release() { statements = nil }
}
