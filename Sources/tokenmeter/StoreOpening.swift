import Foundation
import TokenMeterCore
import TokenMeterServer
import TokenMeterSQLite

/// The one place the command line turns the configured database into a store backend.
enum StoreOpening {
    enum Access { case readWrite, readOnly }

    static func open(_ config: ServerConfig, _ access: Access = .readWrite) throws -> any UsageStore {
        switch access {
        case .readWrite: try SQLiteStore(path: config.databasePath, synchronous: config.synchronous)
        case .readOnly: try SQLiteStore(path: config.databasePath, readonly: true)
        }
    }
}
