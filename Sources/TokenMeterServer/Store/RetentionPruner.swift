import TokenMeterCore
import Foundation
import Logging
import ServiceLifecycle

/// Deletes raw records and fine rollups past their retention, on an interval.
public struct RetentionPruner: Service {
    let store: any StoreMaintenance
    let retention: RetentionPolicy
    let interval: Duration
    let metrics: UsageMetrics
    var now: WallClock = Date.init
    let logger: Logger

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let summary = try await store.prune(retention: retention, now: now())
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

extension RetentionPruner: CustomStringConvertible {
    public var description: String { "RetentionPruner" }
}
