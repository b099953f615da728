import Foundation
import Logging
import PostgresNIO
import TokenMeterCore

/// The session-level advisory lock on this instance's name, on a connection of its own. The lock
/// dies with its session; when that connection is lost (a server restart, a failover, a dropped
/// link) `ensureHeld` takes it again on a new connection before the next write, and if another
/// process took the name meanwhile, this one stops writing: two live processes never count under
/// one name.
///
/// The client learns that its lock session ended only when its event loop reads the closed socket,
/// which under load can come after the next write. So every write transaction also asks the
/// server, in the transaction, whether the lock's session still holds it (`verifyHeld`).
actor InstanceLock {
    let instance: String
    let location: PostgresLocation
    let logger: Logger
    private(set) var connection: PostgresConnection
    /// The server process of the lock's session (`pg_backend_pid()`), to find its lock in `pg_locks`.
    private var backendPID: Int32

    private init(instance: String, location: PostgresLocation, session: LockedSession, logger: Logger) {
        self.instance = instance
        self.location = location
        self.connection = session.connection
        self.backendPID = session.backendPID
        self.logger = logger
    }

    private struct LockedSession {
        let connection: PostgresConnection
        let backendPID: Int32
    }

    /// Takes the lock on a new connection; nil when another live session holds it.
    static func take(instance: String, location: PostgresLocation, logger: Logger) async throws -> InstanceLock? {
        guard let session = try await lockedSession(instance: instance, location: location, logger: logger) else { return nil }
        return InstanceLock(instance: instance, location: location, session: session, logger: logger)
    }

    private static func lockedSession(instance: String, location: PostgresLocation, logger: Logger) async throws -> LockedSession? {
        let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 0, logger: logger)
        do {
            let rows = try await connection.query(
                "SELECT pg_try_advisory_lock(\(PostgresSchema.instanceNamespace), hashtext(\(instance))), pg_backend_pid()", logger: logger)
            guard let (locked, backendPID) = try await rows.collect().first?.decode((Bool, Int32).self), locked else {
                try? await connection.close()
                return nil
            }
            return LockedSession(connection: connection, backendPID: backendPID)
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Throws a transient fault when the lock cannot be checked now, a permanent one when another
    /// process holds the name.
    func ensureHeld() async throws {
        guard connection.isClosed else { return }
        let fresh: LockedSession?
        do {
            fresh = try await Self.lockedSession(instance: instance, location: location, logger: logger)
        } catch {
            throw PostgresFaults.classify(error)
        }
        guard let fresh else {
            throw StoreFault.permanent("another tokenmeter took the instance name '\(instance)' while this one's lock connection was down: stop one of them (each instance needs its own name)")
        }
        connection = fresh.connection
        backendPID = fresh.backendPID
        logger.notice("instance lock '\(instance)' taken again on a new connection")
    }

    /// Checks on `connection` (a write transaction's) that the lock's session still holds the lock.
    /// When it does not, the lock connection is closed, so the next `ensureHeld` takes the lock again
    /// (or finds the name taken), and this write fails as a transient fault: it is retried.
    func verifyHeld(on connection: PostgresConnection) async throws {
        let rows = try await connection.query("""
            SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = \(backendPID)
                AND classid = \(PostgresSchema.instanceNamespace)::int4::oid AND objid = hashtext(\(instance))::oid AND objsubid = 2)
            """, logger: logger)
        guard try await rows.collect().first?.decode(Bool.self) == true else {
            try? await self.connection.close()
            throw StoreFault.transient("the session holding the instance lock '\(instance)' ended (server process \(backendPID)); the lock is taken again before the next write")
        }
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
