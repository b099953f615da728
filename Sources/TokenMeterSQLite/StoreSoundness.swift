import Foundation
import GRDB
import TokenMeterCore

/// Checks an existing database file before anything opens it for writing: GRDB's pool set-up writes
/// to the file (WAL mode, a probe table), and migrations write more, so a malformed file or one
/// written by a newer tokenmeter must be refused first, with the file left as it was.
enum StoreSoundness {
    static let header = Array("SQLite format 3\0".utf8)

    /// Throws a `StoreError` naming the file and what to do; returns when the file is absent or
    /// empty (a new store) or readable with migrations this binary knows.
    static func verify(path: String, knownMigrations: [String]) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw StoreError("cannot read the database file \(path): check its owner and permissions")
            }
            return
        }
        let start = (try? handle.read(upToCount: header.count)).map(Array.init) ?? []
        try? handle.close()
        if start.isEmpty { return }
        guard start == header else {
            throw StoreError("\(path) is not an SQLite database (its first bytes are not the SQLite header); tokenmeter did not write to it. Pass the right --db, or move this file away to start a new store")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "tokenmeter.soundness"
        let applied: [String]
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            applied = try queue.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master")
                guard try db.tableExists("grdb_migrations") else { return [] }
                let identifiers = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
                if try db.tableExists("lifetime_totals") {
                    _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM lifetime_totals")
                }
                return identifiers
            }
            try queue.close()
        } catch let error as DatabaseError where [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
            throw StoreError(malformed(path, error))
        }
        let unknown = applied.filter { !knownMigrations.contains($0) }
        if !unknown.isEmpty {
            throw StoreError("\(path) was written by a newer tokenmeter: its schema has migrations \(unknown.joined(separator: ", ")) that this binary (\(TokenMeterVersion.string), schema up to \(knownMigrations.last ?? "none")) does not know; tokenmeter did not write to it. Run the newer tokenmeter, or restore a backup made by this version")
        }
    }

    static func malformed(_ path: String, _ error: DatabaseError) -> String {
        "the database file \(path) is malformed (\(StoreFault.message(of: error))); tokenmeter did not write to it. To recover: stop every process using it, copy \(path) and \(path)-wal aside, run `sqlite3 \(path) .recover | sqlite3 \(path).recovered`, then start tokenmeter with --db \(path).recovered (or restore a backup)"
    }
}
