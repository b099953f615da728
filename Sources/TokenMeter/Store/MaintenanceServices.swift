import Foundation
import Logging
import ServiceLifecycle

/// Deletes raw records and fine rollups past their retention, on an interval.
public struct RetentionPruner: Service {
    let store: any UsageStore
    let retention: RetentionPolicy
    let interval: Duration
    let metrics: UsageMetrics
    let logger: Logger

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let summary = try await store.prune(retention: retention, now: Date())
                if summary != PruneSummary() {
                    logger.info("pruned \(summary.records) raw records, \(summary.minuteRows) minute and \(summary.hourRows) hour rollup rows")
                }
                for pending in summary.pendingDeleted {
                    metrics.pendingChanged(service: pending.service, operation: pending.operation, model: pending.model, by: -pending.count)
                    metrics.storeHealth.pendingExpired(pending.count)
                }
                let expired = summary.pendingDeleted.reduce(0) { $0 + $1.count }
                if expired > 0 {
                    logger.warning("\(expired) pending records expired: not completed within \(retention.pendingTimeoutHours) h of being received")
                }
            } catch {
                logger.error("pruning failed (will retry): \(error)")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

/// Refreshes the gauges that come from the store: spend today and this month, active users, budgets.
public struct StoreGaugeRefresher: Service {
    let store: any UsageStore
    let metrics: UsageMetrics
    let config: ServerConfig
    let logger: Logger

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await refresh(now: Date())
            } catch {
                logger.error("refreshing store gauges failed (will retry): \(error)")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: config.statsInterval) }
        }
    }

    public func refresh(now: Date) async throws {
        let calendar = ReportCalendar(timeZone: config.timeZone)
        let today = calendar.startOfDay(now)
        let month = calendar.startOfMonth(now)
        func spend(from: Date, filters: [ReportDimension: [String]] = [:]) async throws -> Double {
            let result = try await store.figures(FigureQuery(from: from, to: now.addingTimeInterval(1), filters: filters),
                                                 retention: config.retention, now: now)
            return Money.usd(fromNano: result.groups.values.reduce(0) { $0 + $1.costNanoUSD })
        }
        metrics.setSpend(window: "today", usd: try await spend(from: today))
        metrics.setSpend(window: "month", usd: try await spend(from: month))
        for (window, days) in [("1d", 1.0), ("7d", 7.0), ("30d", 30.0)] {
            let users = try await store.activeUsers(FigureQuery(from: now.addingTimeInterval(-days * 86400), to: now.addingTimeInterval(1)),
                                                    paying: nil, retention: config.retention, now: now)
            metrics.setActiveUsers(window: window, count: users.total)
        }
        for budget in config.budgets {
            var filters: [ReportDimension: [String]] = [:]
            for (key, value) in budget.filters ?? [:] {
                if let dimension = ReportDimension(rawValue: key) { filters[dimension] = [value] }
            }
            let spent = try await spend(from: budget.window == .day ? today : month, filters: filters)
            metrics.setBudget(name: budget.name, window: budget.window.rawValue, limitUSD: budget.usd, spentUSD: spent)
        }
    }
}

extension RetentionPruner: CustomStringConvertible {
    public var description: String { "RetentionPruner" }
}

// Plain descriptions: the service group logs services, and the configuration holds secrets.
extension StoreGaugeRefresher: CustomStringConvertible {
    public var description: String { "StoreGaugeRefresher" }
}
