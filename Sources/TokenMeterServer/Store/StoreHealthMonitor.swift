import TokenMeterCore
import Foundation
import Logging
import ServiceLifecycle

/// Every `interval`: reads the store's condition (file identity, free space, latched faults),
/// probes it with a real write when no commit has happened for `probeAfter` (or the last write
/// failed), exports the result as metrics and logs each change of readiness once.
public struct StoreHealthMonitor: Service {
    let store: any StoreMaintenance
    let health: StoreHealth
    let queue: WriteQueue
    let metrics: UsageMetrics
    let interval: Duration
    let probeAfter: TimeInterval
    let now: WallClock
    let logger: Logger

    public init(store: any StoreMaintenance, health: StoreHealth, queue: WriteQueue, metrics: UsageMetrics,
                interval: Duration = .seconds(1), probeAfter: TimeInterval = 10,
                now: @escaping WallClock = Date.init, logger: Logger) {
        self.store = store
        self.health = health
        self.queue = queue
        self.metrics = metrics
        self.interval = interval
        self.probeAfter = probeAfter
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        var lastProblems: [Readiness.Problem] = []
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let readiness = check()
            if readiness.problems != lastProblems {
                if readiness.isReady {
                    logger.notice("store ready again")
                } else {
                    logger.error("store not ready\(readiness.permanent ? " (permanent: an operator must act)" : ""): \(readiness.reasons.joined(separator: "; "))")
                }
                lastProblems = readiness.problems
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One round: condition, probe if due, metrics. Returns the readiness it exported.
    @discardableResult
    func check() -> Readiness {
        let condition = store.condition()
        health.update(condition)
        let at = now()
        let readiness = health.readiness(now: at, queueDepth: queue.depth, queueCapacity: queue.capacity)
        let idle = at.timeIntervalSince(health.lastSuccessAt) >= probeAfter
        if condition.fault == nil, health.oldestWriteInFlight == nil, idle || !readiness.isReady {
            let token = health.started(now: at)
            // Unstructured and not awaited: a probe stuck on a frozen disk must not stop this loop,
            // which is what reports the stall.
            Task { [store, health, now] in
                do {
                    try await store.probeWrite(now: now())
                    health.finished(token, fault: nil, now: now())
                } catch {
                    health.finished(token, fault: StoreFault.of(error), now: now())
                }
            }
        }
        metrics.storeHealth.set(readiness, lastSuccess: health.lastSuccessAt)
        return readiness
    }
}

extension StoreHealthMonitor: CustomStringConvertible {
    public var description: String { "StoreHealthMonitor" }
}
