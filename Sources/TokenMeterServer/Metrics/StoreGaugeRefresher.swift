import Foundation
import Logging
import ServiceLifecycle
import TokenMeterCore

/// Refreshes the gauges that come from the store: spend today and this month, active users, budgets.
public struct StoreGaugeRefresher: Service {
    let store: any ReportSource
    let metrics: UsageMetrics
    let timeZone: TimeZone
    let retention: RetentionPolicy
    let budgets: [Budget]
    let interval: Duration
    let now: WallClock
    let logger: Logger

    public init(store: any ReportSource, metrics: UsageMetrics, config: ServerConfig, now: @escaping WallClock = Date.init, logger: Logger) {
        self.store = store
        self.metrics = metrics
        timeZone = config.timeZone
        retention = config.retention
        budgets = config.budgets
        interval = config.statsInterval
        self.now = now
        self.logger = logger
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

    public func refresh(now: Date) async throws {
        let calendar = ReportCalendar(timeZone: timeZone)
        let today = calendar.startOfDay(now)
        let month = calendar.startOfMonth(now)
        func spend(from: Date, filters: [ReportDimension: [String]] = [:]) async throws -> Double {
            let result = try await store.figures(FigureQuery(from: from, to: now.addingTimeInterval(1), filters: filters),
                                                 retention: retention, now: now)
            return Money.usd(fromNano: result.groups.values.reduce(0) { $0 + $1.costNanoUSD })
        }
        metrics.setSpend(window: "today", usd: try await spend(from: today))
        metrics.setSpend(window: "month", usd: try await spend(from: month))
        for (window, days) in [("1d", 1.0), ("7d", 7.0), ("30d", 30.0)] {
            let users = try await store.activeUsers(FigureQuery(from: now.addingTimeInterval(-days * 86400), to: now.addingTimeInterval(1)),
                                                    paying: nil, retention: retention, now: now)
            metrics.setActiveUsers(window: window, count: users.total)
        }
        for budget in budgets {
            var filters: [ReportDimension: [String]] = [:]
            for (key, value) in budget.filters ?? [:] {
                if let dimension = ReportDimension(rawValue: key) { filters[dimension] = [value] }
            }
            let spent = try await spend(from: budget.window == .day ? today : month, filters: filters)
            metrics.setBudget(name: budget.name, window: budget.window.rawValue, limitUSD: budget.usd, spentUSD: spent)
        }
    }
}

// A plain description: the service group logs services.
extension StoreGaugeRefresher: CustomStringConvertible {
    public var description: String { "StoreGaugeRefresher" }
}
