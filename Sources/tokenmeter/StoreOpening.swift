import ArgumentParser
import Foundation
import TokenMeterCore
import TokenMeterServer
import TokenMeterSQLite

/// The one place the command line turns the configured database into a store backend. `serve` on a
/// PostgreSQL URL goes through `PostgresServe` (its client runs for the process's life); the other
/// commands work on a SQLite file and say so for a URL.
enum StoreOpening {
    enum Access { case readWrite, readOnly }

    static func open(_ config: ServerConfig, _ access: Access = .readWrite, for command: String = "serve") throws -> any UsageStore {
        try requireSQLite(config, for: command)
        switch access {
        case .readWrite: return try SQLiteStore(path: config.databasePath, synchronous: config.synchronous)
        case .readOnly: return try SQLiteStore(path: config.databasePath, readonly: true)
        }
    }

    static func requireSQLite(_ config: ServerConfig, for command: String) throws {
        if case .postgres = try StoreLocation(config.databasePath) {
            throw ValidationError("tokenmeter \(command) works on a SQLite store; on PostgreSQL use the HTTP API of a running `tokenmeter serve`")
        }
    }
}
