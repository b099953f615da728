import Foundation
import Logging
import PostgresNIO
import TokenMeterCore

/// The session-level advisory lock on this instance's name, on a connection of its own. The lock
/// dies with its session; when that connection is lost (a server restart, a failover, a dropped
/// link) `ensureHeld` takes it again on a new connection before the next write, and if another
/// process took the name meanwhile, this one stops writing: two live processes never count under
/// one name.
actor InstanceLock {
    let instance: String
    let location: PostgresLocation
    let logger: Logger
    private(set) var connection: PostgresConnection

    private init(instance: String, location: PostgresLocation, connection: PostgresConnection, logger: Logger) {
        self.instance = instance
        self.location = location
        self.connection = connection
        self.logger = logger
    }

    /// Takes the lock on a new connection; nil when another live session holds it.
    static func take(instance: String, location: PostgresLocation, logger: Logger) async throws -> InstanceLock? {
        guard let connection = try await lockedConnection(instance: instance, location: location, logger: logger) else { return nil }
        return InstanceLock(instance: instance, location: location, connection: connection, logger: logger)
    }

    private static func lockedConnection(instance: String, location: PostgresLocation, logger: Logger) async throws -> PostgresConnection? {
        let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 0, logger: logger)
        do {
            let rows = try await connection.query(
                "SELECT pg_try_advisory_lock(\(PostgresSchema.instanceNamespace), hashtext(\(instance)))", logger: logger)
            guard try await rows.collect().first?.decode(Bool.self) == true else {
                try? await connection.close()
                return nil
            }
            return connection
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Throws a transient fault when the lock cannot be checked now, a permanent one when another
    /// process holds the name.
    func ensureHeld() async throws {
        guard connection.isClosed else { return }
        let fresh: PostgresConnection?
        do {
            fresh = try await Self.lockedConnection(instance: instance, location: location, logger: logger)
        } catch {
            throw PostgresFaults.classify(error)
        }
        guard let fresh else {
            throw StoreFault.permanent("another tokenmeter took the instance name '\(instance)' while this one's lock connection was down: stop one of them (each instance needs its own name)")
        }
        connection = fresh
        logger.notice("instance lock '\(instance)' taken again on a new connection")
    }

    func close() async throws {
        guard !connection.isClosed else { return }
        try await connection.close()
    }

    /// A lock that is dropped without `close()` still closes its connection (kept alive until closed).
    deinit {
        let connection = connection
        if !connection.isClosed { connection.close().whenComplete { _ in _ = connection } }
    }
}
