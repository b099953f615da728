import Foundation
import TokenMeterCore

extension SQLiteStore {
    /// One process owns a SQLite store: it computes its gauges itself, every time.
    public func sharedGauges(key: String, maxAge: TimeInterval, now: Date,
                             compute: @Sendable () async throws -> StoreGaugeValues) async throws -> SharedGaugeReading {
        SharedGaugeReading(values: try await compute(), computedAt: now, computedBy: nil)
    }
}
