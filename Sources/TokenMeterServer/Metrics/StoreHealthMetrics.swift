import TokenMeterCore
import Foundation
import Prometheus

/// The store's readiness as series, so an alert fires on what `/readyz` answers.
public final class StoreHealthMetrics: Sendable {
    private let ready, lastSuccess, freeBytes, stalled: Gauge
    private let faultTransient, faultPermanent: Counter
    private let pendingExpired: Counter

    init(registry: PrometheusCollectorRegistry) {
        ready = registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.storeReady))
        lastSuccess = registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.storeLastSuccess))
        freeBytes = registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.storeFreeBytes))
        stalled = registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.storeWriteStalled))
        faultTransient = registry.makeCounter(descriptor: MetricNames.descriptor(MetricNames.storeWriteFailures), labels: [("kind", "transient")])
        faultPermanent = registry.makeCounter(descriptor: MetricNames.descriptor(MetricNames.storeWriteFailures), labels: [("kind", "permanent")])
        pendingExpired = registry.makeCounter(descriptor: MetricNames.descriptor(MetricNames.pendingExpired))
        ready.set(to: 1)
    }

    func set(_ readiness: Readiness, lastSuccess at: Date) {
        ready.set(to: readiness.isReady ? 1 : 0)
        lastSuccess.set(to: at.timeIntervalSince1970)
        if let free = readiness.freeBytes { freeBytes.set(to: Double(free)) }
        stalled.set(to: readiness.stalledSeconds)
    }

    /// A batch, completion or probe that failed to commit.
    public func failed(_ fault: StoreFault) {
        (fault.isPermanent ? faultPermanent : faultTransient).increment()
    }

    public func pendingExpired(_ count: Int64) {
        if count > 0 { pendingExpired.increment(by: count) }
    }
}
