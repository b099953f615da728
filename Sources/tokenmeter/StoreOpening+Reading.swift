import ArgumentParser
import Foundation
import Logging
import TokenMeterCore
import TokenMeterPostgres
import TokenMeterServer
import TokenMeterSQLite

extension StoreOpening {
    /// Runs `body` on the configured store opened for reading: a SQLite file read-only (it must
    /// exist), or a PostgreSQL store (`PostgresStore.withReader`: no instance registered, nothing written).
    static func withReadStore<T: Sendable>(_ config: ServerConfig, for command: String,
                                           _ body: (any UsageStore) async throws -> T) async throws -> T {
        switch try StoreLocation(config.databasePath) {
        case .sqlite(let path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no database at \(path) (set --db or TOKENMETER_DB)")
            }
            return try await body(try SQLiteStore(path: path, readonly: true))
        case .postgres(let location):
            var logger = Logger(label: "tokenmeter.\(command)")
            logger.logLevel = .error
            do {
                return try await PostgresStore.withReader(location, logger: logger) { try await body($0) }
            } catch let error as StoreError {
                throw ValidationError("\(command): \(error)")
            }
        }
    }
}
