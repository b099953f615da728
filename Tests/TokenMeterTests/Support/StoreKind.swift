import Foundation
import GRDB
import Logging
import PostgresNIO
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// The stores the store-level suites run against: the same tests, the same expected answers. The
/// SQLite store runs twice: on a file (its `DatabasePool`) and over an in-memory GRDB
/// `DatabaseQueue` (any `DatabaseWriter`).
/// PostgreSQL needs `TOKENMETER_TEST_PG` (a server URL; `scripts/pg start` prints one). Without it
/// the PostgreSQL cases are skipped with a message, except under CI (`CI=true`), where they fail.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, sqliteInMemory = "sqlite-in-memory", postgres

    var testDescription: String { rawValue }

    static var postgresURL: String? {
        let url = ProcessInfo.processInfo.environment["TOKENMETER_TEST_PG"]
        return url?.isEmpty == false ? url : nil
    }

    /// False (and a message printed) when this case cannot run here; throws under CI.
    func available() throws -> Bool {
        guard self == .postgres, Self.postgresURL == nil else { return true }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            throw StoreError("CI=true but TOKENMETER_TEST_PG is not set: the PostgreSQL store tests must run in CI (eval \"$(scripts/pg start)\")")
        }
        print("◇ skipped the PostgreSQL case: TOKENMETER_TEST_PG is not set (eval \"$(scripts/pg start)\" to run it)")
        return false
    }

    /// A fresh, empty store of this kind.
    func makeStore(instance: String = "test") async throws -> any UsageStore {
        switch self {
        case .sqlite:
            return try SQLiteStore(path: temporaryDirectory().appendingPathComponent("s.sqlite").path, synchronous: .normal)
        case .sqliteInMemory:
            return try SQLiteStore(database: DatabaseQueue(configuration: SQLiteStore.configuration()), synchronous: .normal)
        case .postgres:
            return try await PostgresTestDatabase.create().store(instance: instance)
        }
    }
}

/// A fresh database on the test server, one per test, so tests never see each other's rows.
struct PostgresTestDatabase: Sendable {
    let location: PostgresLocation

    static func create() async throws -> PostgresTestDatabase {
        guard let url = StoreKind.postgresURL else { throw StoreError("TOKENMETER_TEST_PG is not set") }
        let server = try PostgresLocation(url: url)
        let name = "tm_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let logger = Logger(label: "test-pg")
        let connection = try await PostgresConnection.connect(configuration: try server.connectionConfiguration(), id: 1, logger: logger)
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        try await connection.close()
        var location = server
        location.database = name
        return PostgresTestDatabase(location: location)
    }

    /// A store on its own client (a separate connection pool, as a separate tokenmeter process has),
    /// whose run() goes on for the rest of the test process.
    func store(instance: String, retention: RetentionPolicy = RetentionPolicy(), now: @escaping WallClock = Date.init) async throws -> PostgresStore {
        try await PostgresStore.open(client: try client(), location: location, instance: instance, retention: retention, now: now, logger: logger)
    }

    /// A client of its own (run() going on for the rest of the test process).
    func client() throws -> PostgresClient {
        let client = PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: logger)
        Task { await client.run() }
        return client
    }

    var logger: Logger {
        var logger = Logger(label: "test-pg")
        logger.logLevel = .error
        return logger
    }
}
