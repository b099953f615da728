import Foundation
import PostgresNIO
import TokenMeterCore

extension PostgresStore {
    /// Every instance writes this store: the pending gauge is read from it (`pendingCounts`).
    public var writtenByOtherProcesses: Bool { true }

    /// The store gauges, computed by one instance per interval and read by all (`store_gauges`,
    /// one row per gauge configuration). Fresh shared values (computed less than `maxAge` ago) are
    /// returned as they are; stale ones are recomputed by whoever takes the store-wide gauge lock
    /// first (a session-level advisory lock, released when that instance dies); an instance that
    /// finds the lock held returns the shared values while they are under three intervals old, and
    /// past that (the holder is stuck) computes its own, without sharing them.
    public func sharedGauges(key: String, maxAge: TimeInterval, now: Date,
                             compute: @Sendable () async throws -> StoreGaugeValues) async throws -> SharedGaugeReading {
        func age(_ reading: SharedGaugeReading) -> TimeInterval { now.timeIntervalSince(reading.computedAt) }
        func isFresh(_ reading: SharedGaugeReading, within limit: TimeInterval) -> Bool {
            // A reading from the future (another instance's clock ahead) counts as fresh within the same bound.
            abs(age(reading)) < limit
        }
        if let shared = try await sharedGaugeReading(key: key), isFresh(shared, within: maxAge) { return shared }
        let computed = try await withMaintenanceLock(PostgresSchema.gaugeLock) { () async throws -> SharedGaugeReading in
            // Another instance may have written them between the read above and the lock.
            if let shared = try await sharedGaugeReading(key: key), isFresh(shared, within: maxAge) { return shared }
            let reading = SharedGaugeReading(values: try await compute(), computedAt: now, computedBy: instance)
            try await saveSharedGauges(key: key, reading)
            return reading
        }
        if let computed { return computed }
        if let shared = try await sharedGaugeReading(key: key), isFresh(shared, within: 3 * maxAge) { return shared }
        return SharedGaugeReading(values: try await compute(), computedAt: now, computedBy: instance)
    }

    func sharedGaugeReading(key: String) async throws -> SharedGaugeReading? {
        let row = try await read { connection -> (Int64, String, String)? in
            let rows = try await connection.query("SELECT computed_at, computed_by, payload FROM store_gauges WHERE key = \(key)", logger: logger)
            for try await row in rows.decode((Int64, String, String).self) { return row }
            return nil
        }
        guard let (at, by, payload) = row,
              let values = try? JSONDecoder().decode(StoreGaugeValues.self, from: Data(payload.utf8)) else { return nil }
        return SharedGaugeReading(values: values, computedAt: Date(unixMilliseconds: at), computedBy: by)
    }

    private func saveSharedGauges(key: String, _ reading: SharedGaugeReading) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payload = String(decoding: try encoder.encode(reading.values), as: UTF8.self)
        let at = reading.computedAt.unixMilliseconds
        let by = reading.computedBy ?? instance
        try await read { connection in
            try await connection.query("""
                INSERT INTO store_gauges (key, computed_at, computed_by, payload) VALUES (\(key), \(at), \(by), \(payload))
                ON CONFLICT (key) DO UPDATE SET computed_at = excluded.computed_at, computed_by = excluded.computed_by, payload = excluded.payload
                """, logger: logger)
        }
    }
}
