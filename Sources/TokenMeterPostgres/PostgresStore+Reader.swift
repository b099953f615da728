import Foundation
import Logging
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    /// Runs `body` on the store for reading only (`tokenmeter report`, `prices list`): refused at once
    /// when the server cannot be reached or the database holds no tokenmeter store; the store is open
    /// under a throwaway instance name that is not registered, so no instance's totals or lock are touched.
    public static func withReader<T: Sendable>(_ location: PostgresLocation, logger: Logger,
                                               _ body: (PostgresStore) async throws -> T) async throws -> T {
        try await checkReachable(location, logger: logger)
        let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 0, logger: logger)
        let hasStore: Bool
        do {
            hasStore = try await connection.query("SELECT to_regclass('tokenmeter_migrations') IS NOT NULL", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
            try await connection.close()
        } catch {
            try? await connection.close()
            throw StoreError("cannot read the PostgreSQL store at \(location): \(PostgresFaults.classify(error))")
        }
        guard hasStore else { throw StoreError("there is no tokenmeter store at \(location) (no tokenmeter serve or migrate has written to it)") }
        let client = PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: logger)
        return try await running(client, open: {
            try await open(client: client, location: location, instance: "reader-\(UUID().uuidString.lowercased())", logger: logger, register: false)
        }, body)
    }
}
