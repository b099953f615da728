import Foundation
import Logging
import ServiceLifecycle
import TokenMeterCore

/// Refreshes the gauges that come from the store: spend today and this month, active users, budgets.
/// The values are computed through `sharing` when the store has several instances (PostgreSQL:
/// one instance computes them per interval, every instance exports the shared values, so `max`
/// over instances is right); without it, or on SQLite, each refresh computes them here.
/// With `pending` (a store other instances write too), each refresh also sets
/// `tokenmeter_pending_requests` from the store's pending counts (`UsageMetrics.followStorePending`),
/// so every instance exports the store-wide value, at most one interval old.
public struct StoreGaugeRefresher: Service {
    let store: any ReportSource
    let sharing: (any StoreGaugeSharing)?
    let pending: (any CounterSource)?
    let metrics: UsageMetrics
    let timeZone: TimeZone
    let retention: RetentionPolicy
    let budgets: [Budget]
    let interval: Duration
    let now: WallClock
    let logger: Logger

    public init(store: any ReportSource, sharing: (any StoreGaugeSharing)? = nil, pending: (any CounterSource)? = nil,
                metrics: UsageMetrics, config: ServerConfig, now: @escaping WallClock = Date.init, logger: Logger) {
        self.store = store
        self.sharing = sharing
        self.pending = pending
        self.metrics = metrics
        timeZone = config.timeZone
        retention = config.retention
        budgets = config.budgets
        interval = config.statsInterval
        self.now = now
        self.logger = logger
    }

    /// The refresher of a served store: its gauges shared through the store, and the pending gauge
    /// read from it when other processes write it too (`StoreGaugeSharing.writtenByOtherProcesses`).
    public init(serving store: any UsageStore, metrics: UsageMetrics, config: ServerConfig,
                now: @escaping WallClock = Date.init, logger: Logger) {
        self.init(store: store, sharing: store, pending: store.writtenByOtherProcesses ? store : nil,
                  metrics: metrics, config: config, now: now, logger: logger)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await refresh(now: now())
            } catch {
                logger.error("refreshing store gauges failed (will retry): \(error)")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Computes (or reads the shared) gauge values at `now` and sets the gauges; returns the reading.
    @discardableResult
    public func refresh(now: Date) async throws -> SharedGaugeReading {
        // One cheap query (a partial index holds the pending rows), on every instance: its own read,
        // not the shared one, so a completion through another instance shows within one interval.
        if let pending { metrics.setPending(try await pending.pendingCounts()) }
        let reading: SharedGaugeReading
        if let sharing {
            let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
            reading = try await sharing.sharedGauges(key: sharingKey, maxAge: seconds, now: now) { try await self.compute(now: now) }
        } else {
            reading = SharedGaugeReading(values: try await compute(now: now), computedAt: now, computedBy: nil)
        }
        export(reading.values)
        return reading
    }

    /// What names the values: instances configured alike share them; others compute their own.
    var sharingKey: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let budgetText = (try? encoder.encode(budgets)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        return "tz=\(timeZone.identifier);raw=\(retention.rawDays);minute=\(retention.minuteRollupDays);hour=\(retention.hourRollupDays);budgets=\(budgetText)"
    }

    /// The expensive part: the report queries behind every gauge.
    func compute(now: Date) async throws -> StoreGaugeValues {
        let calendar = ReportCalendar(timeZone: timeZone)
        let today = calendar.startOfDay(now)
        let month = calendar.startOfMonth(now)
        func spend(from: Date, filters: [ReportDimension: [String]] = [:]) async throws -> Int64 {
            let result = try await store.figures(FigureQuery(from: from, to: now.addingTimeInterval(1), filters: filters),
                                                 retention: retention, now: now)
            return result.groups.values.reduce(0) { $0 + $1.costNanoUSD }
        }
        var values = StoreGaugeValues(spendTodayNano: try await spend(from: today), spendMonthNano: try await spend(from: month),
                                      activeUsers: [:], budgetSpentNano: [])
        for (window, days) in Self.userWindows {
            let users = try await store.activeUsers(FigureQuery(from: now.addingTimeInterval(-days * 86400), to: now.addingTimeInterval(1)),
                                                    paying: nil, retention: retention, now: now)
            values.activeUsers[window] = users.total
        }
        for budget in budgets {
            var filters: [ReportDimension: [String]] = [:]
            for (key, value) in budget.filters ?? [:] {
                if let dimension = ReportDimension(rawValue: key) { filters[dimension] = [value] }
            }
            values.budgetSpentNano.append(try await spend(from: budget.window == .day ? today : month, filters: filters))
        }
        return values
    }

    static let userWindows: [(String, Double)] = [("1d", 1.0), ("7d", 7.0), ("30d", 30.0)]

    func export(_ values: StoreGaugeValues) {
        metrics.setSpend(window: "today", usd: Money.usd(fromNano: values.spendTodayNano))
        metrics.setSpend(window: "month", usd: Money.usd(fromNano: values.spendMonthNano))
        for (window, _) in Self.userWindows {
            metrics.setActiveUsers(window: window, count: values.activeUsers[window] ?? 0)
        }
        for (budget, spent) in zip(budgets, values.budgetSpentNano) {
            metrics.setBudget(name: budget.name, window: budget.window.rawValue, limitUSD: budget.usd, spentUSD: Money.usd(fromNano: spent))
        }
    }
}

// A plain description: the service group logs services.
extension StoreGaugeRefresher: CustomStringConvertible {
    public var description: String { "StoreGaugeRefresher" }
}
