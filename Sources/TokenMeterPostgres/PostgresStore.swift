import Foundation
import Logging
import PostgresNIO
import Synchronization
import TokenMeterCore

/// The PostgreSQL implementation of `UsageStore`, for any number of tokenmeter instances sharing one
/// database (CONTRACT section 7). Same guarantees as the SQLite store:
/// - `write` commits a batch's records, completions, rollups, user sets and this instance's
///   lifetime totals in one transaction; when it returns the batch is committed; when it throws,
///   nothing was written.
/// - A record id is stored once across every instance: the id key table's unique key is checked in
///   the write transaction (`INSERT INTO usage_record_ids … ON CONFLICT (id) DO NOTHING RETURNING id`)
///   before the records go to their day partitions, and rollups are upserted only
///   for the rows that were new, pre-aggregated per batch and written in one fixed key order.
/// - Each instance keeps its own lifetime totals (by `instance` name); a second live process with
///   the same name is refused (a session-level advisory lock, held while the store is open).
/// - Every method is safe to call concurrently; queries run on the client's connection pool and never
///   block an event loop. Faults are `StoreFault`s; permanent ones are latched until restart.
public final class PostgresStore: UsageStore {
    public let instance: String
    public let location: PostgresLocation
    let client: PostgresClient
    let logger: Logger
    /// The advisory lock on the instance name, on its own connection, for the life of the store.
    let instanceLock: InstanceLock
    let ordinals = OrdinalCache()
    /// The wall clock received times, price-change times and instance start times are read from
    /// (the server's, passed to `open`).
    let now: WallClock
    private let permanentFault = Mutex<StoreFault?>(nil)

    private init(instance: String, location: PostgresLocation, client: PostgresClient, instanceLock: InstanceLock, now: @escaping WallClock,
                 logger: Logger) {
        self.instance = instance
        self.now = now
        self.location = location
        self.client = client
        self.instanceLock = instanceLock
        self.logger = logger
    }

    /// Opens the store on a client whose `run()` is already running: applies the migrations this
    /// binary knows (refusing a database migrated by a newer tokenmeter), takes the instance lock, and
    /// creates the time partitions records within `retention` and up to a day ahead of `now` go to
    /// (unless another instance is doing upkeep now; records without a partition go to the DEFAULT one).
    /// `register`: a writing instance, recorded in `instances`, that also does the partition upkeep
    /// (a reader such as `tokenmeter report` is neither: it writes no row and leaves upkeep to `serve`).
    public static func open(client: PostgresClient, location: PostgresLocation, instance: String, retention: RetentionPolicy = RetentionPolicy(),
                            now: @escaping WallClock = Date.init, logger: Logger, register: Bool = true) async throws -> PostgresStore {
        guard !instance.isEmpty, instance.utf8.count <= 200 else { throw StoreError("instance: the name must be 1 to 200 bytes") }
        do {
            try await PostgresMigrator.migrate(client, logger: logger)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot prepare the PostgreSQL store at \(location): \(PostgresFaults.classify(error))")
        }
        let lock: InstanceLock?
        do {
            lock = try await InstanceLock.take(instance: instance, location: location, logger: logger)
        } catch {
            throw StoreError("cannot take the instance lock on \(location): \(PostgresFaults.classify(error))")
        }
        guard let lock else {
            throw StoreError("another live tokenmeter already runs as instance '\(instance)' on \(location): give this one its own name (--instance or TOKENMETER_INSTANCE), or stop the other one first")
        }
        do {
            if register {
                try await client.query("""
                    INSERT INTO instances (name, started_at) VALUES (\(instance), \(now().unixMilliseconds))
                    ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at
                    """, logger: logger)
            }
        } catch {
            try? await lock.close()
            throw StoreError("cannot register the instance on \(location): \(PostgresFaults.classify(error))")
        }
        let store = PostgresStore(instance: instance, location: location, client: client, instanceLock: lock, now: now, logger: logger)
        guard register else { return store }
        do {
            _ = try await store.withMaintenanceLock(PostgresSchema.pruneLock) {
                try await store.createRecordPartitions(retention: retention, now: now())
            }
        } catch {
            logger.warning("PostgreSQL store: creating the record partitions failed (records go to the default partition until the next prune creates them): \(error)")
        }
        return store
    }

    /// Runs `body` with an open store: the client's `run()` in a child task for the store's whole
    /// life, cancelled (closing every pooled connection) once `body` and `close()` are done.
    public static func withStore<T: Sendable>(_ location: PostgresLocation, instance: String, retention: RetentionPolicy = RetentionPolicy(),
                                              now: @escaping WallClock = Date.init, logger: Logger,
                                              _ body: @Sendable (PostgresStore) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: logger)
        return try await running(client, open: {
            try await open(client: client, location: location, instance: instance, retention: retention, now: now, logger: logger)
        }, body)
    }

    /// Runs the client for the life of a store `open` opens, hands the store to `body`, then closes
    /// it (also when `body` throws) and cancels the client's `run()`, closing its connections.
    static func running<T: Sendable>(_ client: PostgresClient, open: () async throws -> PostgresStore,
                                     _ body: (PostgresStore) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = try await open()
            do {
                let value = try await body(store)
                try await store.close()
                return value
            } catch {
                try? await store.close()
                throw error
            }
        }
    }

    // MARK: - Condition and faults

    public func condition() -> StoreCondition {
        StoreCondition(fault: permanentFault.withLock { $0 }, freeBytes: nil)
    }

    /// Runs `body` in one transaction on a pooled connection; fails fast on a latched permanent
    /// fault and sorts PostgreSQL's errors into transient and permanent faults.
    func guardedTransaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        if let fault = permanentFault.withLock({ $0 }) { throw fault }
        do {
            try await instanceLock.ensureHeld()
            return try await client.withConnection { connection in
                try await connection.transaction(logger: logger) { connection in
                    try await instanceLock.verifyHeld(on: connection)
                    return try await body(connection)
                }
            }
        } catch let error as NormalizationError {
            throw error
        } catch {
            let fault = PostgresFaults.classify(error)
            if fault.isPermanent { permanentFault.withLock { if $0 == nil { $0 = fault } } }
            throw fault
        }
    }

    /// A read on a pooled connection, its errors sorted like a write's (nothing is latched).
    func read<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { try await body($0) }
        } catch {
            throw PostgresFaults.classify(error)
        }
    }

    /// Releases the instance lock (another process may then take the name).
    public func close() async throws {
        try await instanceLock.close()
    }
}

/// The dictionary of user ids whose ordinal is committed (ordinals never change once committed, so
/// every instance may cache them). Keys are the ids' UTF-8 bytes: PostgreSQL compares text by
/// bytes, Swift strings by canonical equivalence.
final class OrdinalCache: Sendable {
    static let limit = 1_000_000
    private let cache = Mutex<[[UInt8]: Int64]>([:])

    func lookup(_ ids: [[UInt8]]) -> [[UInt8]: Int64] {
        cache.withLock { cache in
            var found: [[UInt8]: Int64] = [:]
            for id in ids { if let ordinal = cache[id] { found[id] = ordinal } }
            return found
        }
    }

    /// Call after the transaction that resolved them committed.
    func remember(_ resolved: [[UInt8]: Int64]) {
        guard !resolved.isEmpty else { return }
        cache.withLock { cache in
            if cache.count + resolved.count > Self.limit { cache.removeAll(keepingCapacity: true) }
            cache.merge(resolved) { _, new in new }
        }
    }
}

extension PostgresStore {
    /// Runs `body` while holding the store-wide advisory lock `key` (taken on this instance's own
    /// session, so it dies with the process); nil when another instance holds it now.
    func withMaintenanceLock<T: Sendable>(_ key: Int32, _ body: () async throws -> T) async throws -> T? {
        let taken: Bool
        do {
            taken = try await instanceLock.connection.query("SELECT pg_try_advisory_lock(\(PostgresSchema.lockNamespace), \(key))", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
        } catch {
            throw PostgresFaults.classify(error)
        }
        guard taken else { return nil }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        _ = try? await instanceLock.connection.query("SELECT pg_advisory_unlock(\(PostgresSchema.lockNamespace), \(key))", logger: logger)
        return try result.get()
    }
}

extension PostgresStore {
    /// Runs one statement outside the write path (tests and the store's own set-up).
    func execute(_ sql: String) async throws {
        try await read { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// The rows of one query whose columns are all text (cast others with `::text`), for tests.
    func textRows(_ sql: String) async throws -> [[String?]] {
        try await read { connection in
            var rows: [[String?]] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) {
                rows.append(try row.map { try $0.decode(String?.self) })
            }
            return rows
        }
    }
}
