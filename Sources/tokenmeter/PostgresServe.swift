import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TokenMeterCore
import TokenMeterPostgres
import TokenMeterServer

/// `serve` on a shared PostgreSQL store (CONTRACT section 7).
enum PostgresServe {
    /// The instance name: configured, or derived from this machine's host name and the port.
    static func instanceName(_ config: ServerConfig) -> String {
        config.instance ?? "\(ProcessInfo.processInfo.hostName):\(config.port)"
    }

    /// Opens the store (the client's run() for the whole process), resumes this instance's counters,
    /// serves until SIGTERM/SIGINT, and polls the store for other instances' price changes meanwhile.
    static func run(_ config: ServerConfig, _ location: PostgresLocation, logger: Logger) async throws {
        let instance = instanceName(config)
        // The server's one wall clock, for the store (received times, price-change times, partition
        // upkeep) and the application alike.
        let now: WallClock = Date.init
        do {
            try await PostgresStore.withStore(location, instance: instance, retention: config.retention, now: now, logger: logger) { store in
                let components = try await AppComponents.open(config: config, store: store, now: now)
                logger.info("tokenmeter \(TokenMeterVersion.string) on \(config.host):\(config.port), store \(location) as instance '\(instance)', \(config.tokens.count) API tokens")
                let app = try buildApplication(components, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await store.watchPriceChanges(components.pricing) }
                    try await app.runService()
                    group.cancelAll()
                }
            }
        } catch let error as StoreError {
            throw ValidationError("cannot open the store: \(error)")
        }
    }
}
