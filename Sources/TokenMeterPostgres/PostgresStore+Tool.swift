import Foundation
import Logging
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    /// Runs `body` on the store for a command-line change that belongs to no instance (`tokenmeter
    /// prices set|import|update`): refused at once when the server cannot be reached; the store is
    /// created or migrated as `serve` would, and open under a throwaway instance name that is not
    /// registered (no instance's totals or lock are touched). Price changes saved through it bump the
    /// price generation every running instance polls, exactly as a change over HTTP does.
    public static func withUnregistered<T: Sendable>(_ location: PostgresLocation, logger: Logger,
                                                     _ body: (PostgresStore) async throws -> T) async throws -> T {
        try await checkReachable(location, logger: logger)
        let client = PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: logger)
        return try await running(client, open: {
            try await open(client: client, location: location, instance: "cli-\(UUID().uuidString.lowercased())", logger: logger, register: false)
        }, body)
    }
}
