import ArgumentParser
import Foundation
import Logging
import TokenMeterCore
import TokenMeterPostgres
import TokenMeterServer
import TokenMeterSQLite

/// The one place the command line turns the configured database into a store backend. `serve` on a
/// PostgreSQL URL goes through `PostgresServe` (its client runs for the process's life); the other
/// commands open either store for the length of their run.
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

    /// Runs `body` on the configured store opened for a change that belongs to no instance (`prices
    /// set|import|update`): a SQLite file read-write (created if missing), or a PostgreSQL store
    /// created or migrated as `serve` would, under an unregistered throwaway name
    /// (`PostgresStore.withUnregistered`): a price change saved there reaches every running instance
    /// within its price poll (2 s), as one made over HTTP.
    static func withChangeStore<T: Sendable>(_ config: ServerConfig, for command: String,
                                             _ body: (any UsageStore) async throws -> T) async throws -> T {
        switch try StoreLocation(config.databasePath) {
        case .sqlite:
            return try await body(try SQLiteStore(path: config.databasePath, synchronous: config.synchronous))
        case .postgres(let location):
            do {
                return try await PostgresStore.withUnregistered(location, logger: logger(command)) { try await body($0) }
            } catch let error as StoreError {
                throw ValidationError("\(command): \(error)")
            }
        }
    }

    /// Runs `body` on the configured store opened to write records (`ingest`): a SQLite file
    /// read-write, or a PostgreSQL store opened as the instance `config.instance`, which must be
    /// given there (`--instance`, TOKENMETER_INSTANCE or the config file's `instance`): the records'
    /// counts go to that instance's lifetime totals in the records' transaction, and a `serve`
    /// started under that name resumes its counters from them. A name a live process holds is refused.
    static func withRecordStore<T: Sendable>(_ config: ServerConfig, for command: String,
                                             _ body: @Sendable (any UsageStore) async throws -> T) async throws -> T {
        switch try StoreLocation(config.databasePath) {
        case .sqlite:
            return try await body(try SQLiteStore(path: config.databasePath, synchronous: config.synchronous))
        case .postgres(let location):
            guard let instance = config.instance, !instance.isEmpty else {
                throw ValidationError("""
                    \(command) on PostgreSQL counts the records in one instance's lifetime totals: name it with --instance NAME \
                    (or TOKENMETER_INSTANCE): a stopped `tokenmeter serve` instance, whose counters include the records when it \
                    starts again (a live instance's name is refused)
                    """)
            }
            do {
                try await PostgresStore.checkReachable(location, logger: logger(command))
                return try await PostgresStore.withStore(location, instance: instance, retention: config.retention,
                                                         logger: logger(command)) { try await body($0) }
            } catch let error as StoreError {
                throw ValidationError("\(command): \(error)")
            }
        }
    }

    /// Errors only, as for the readers (`withReadStore`): the command's own output is its answer.
    private static func logger(_ command: String) -> Logger {
        var logger = Logger(label: "tokenmeter.\(command)")
        logger.logLevel = .error
        return logger
    }
}
