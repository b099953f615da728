import Foundation

/// What the store gauges show (spend today and this month, active users, budgets), as the
/// integers a store computes them from: nano-USD and user counts.
public struct StoreGaugeValues: Sendable, Equatable, Codable {
    public var spendTodayNano: Int64
    public var spendMonthNano: Int64
    /// Distinct active users per window label (`1d`, `7d`, `30d`).
    public var activeUsers: [String: Int]
    /// Spend of each configured budget, in the configuration's order.
    public var budgetSpentNano: [Int64]

    public init(spendTodayNano: Int64, spendMonthNano: Int64, activeUsers: [String: Int], budgetSpentNano: [Int64]) {
        self.spendTodayNano = spendTodayNano
        self.spendMonthNano = spendMonthNano
        self.activeUsers = activeUsers
        self.budgetSpentNano = budgetSpentNano
    }
}

/// Gauge values and where they come from.
public struct SharedGaugeReading: Sendable, Equatable {
    public var values: StoreGaugeValues
    /// When they were computed (the computing instance's clock).
    public var computedAt: Date
    /// The instance that computed them (nil: a store of one process, which computes them itself).
    public var computedBy: String?

    public init(values: StoreGaugeValues, computedAt: Date, computedBy: String?) {
        self.values = values
        self.computedAt = computedAt
        self.computedBy = computedBy
    }
}

/// Computing the store gauges once for every instance that shares the store, so the expensive
/// report queries run on one instance per interval and every instance exports the same values
/// (rules take `max` over instances).
/// - `sharedGauges` returns values computed less than `maxAge` before `now` by any instance with
///   the same configuration `key`, or else calls `compute` (on at most one instance at a time,
///   sharing the result); when the one computing them is gone or stuck, another computes them.
/// - A store of one process (SQLite) simply calls `compute`.
/// - `writtenByOtherProcesses`: other instances write the same store (PostgreSQL), so a gauge this
///   process could keep from its own writes (`tokenmeter_pending_requests`) is read from the store
///   instead, with the other store gauges. A store of one process (SQLite) answers false.
public protocol StoreGaugeSharing: Sendable {
    func sharedGauges(key: String, maxAge: TimeInterval, now: Date,
                      compute: @Sendable () async throws -> StoreGaugeValues) async throws -> SharedGaugeReading
    var writtenByOtherProcesses: Bool { get }
}

extension StoreGaugeSharing {
    public var writtenByOtherProcesses: Bool { false }
}
