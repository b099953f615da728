import TokenMeterCore
import Prometheus
import Synchronization


/// The in-process Prometheus series of CONTRACT section 5. Every label value passes the cardinality
/// guard, and label handles are cached, so a client can neither grow the registry without bound nor
/// make it hit a registration conflict: names, label names and help texts are fixed here.
public final class UsageMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let state: Mutex<MetricsState>
    private let ingestAccepted, ingestDuplicate, ingestRejected: Counter
    private let storeWrite: ValueHistogram
    private let queueDepth: Gauge
    private let queueCapacity: Gauge
    private let refusedQueueFull, refusedStoreError, refusedShuttingDown: Counter
    public let storeHealth: StoreHealthMetrics

    public init(limits: MetricsLimits = MetricsLimits(), version: String = TokenMeterVersion.string) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.state = Mutex(MetricsState(registry: registry, limits: limits))
        func ingest(_ result: String) -> Counter {
            registry.makeCounter(descriptor: MetricNames.descriptor(MetricNames.ingestRecords), labels: [("result", result)])
        }
        ingestAccepted = ingest("accepted")
        ingestDuplicate = ingest("duplicate")
        ingestRejected = ingest("rejected")
        storeWrite = registry.makeValueHistogram(descriptor: MetricNames.descriptor(MetricNames.storeWrite), buckets: MetricNames.storeWriteBuckets)
        queueDepth = registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.queueDepth))
        queueCapacity = registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.queueCapacity))
        func refused(_ reason: String) -> Counter {
            registry.makeCounter(descriptor: MetricNames.descriptor(MetricNames.ingestRefused), labels: [("reason", reason)])
        }
        refusedQueueFull = refused("queue_full")
        refusedStoreError = refused("store_error")
        refusedShuttingDown = refused("shutting_down")
        storeHealth = StoreHealthMetrics(registry: registry)
        registry.makeGauge(descriptor: MetricNames.descriptor(MetricNames.buildInfo), labels: [("version", version)]).set(to: 1.0)
        // Families that must be present (with TYPE and HELP) before the first record arrives.
        for window in ["today", "month"] { setSpend(window: window, usd: 0) }
        for window in ["1d", "7d", "30d"] { setActiveUsers(window: window, count: 0) }
    }

    /// Counts one committed, completed record (success or error).
    public func record(_ record: PricedRecord) {
        add(UsageTotals(record), durationsMs: record.record.durationMs.map { [$0] } ?? [])
        countUsageFindings([record])
    }

    /// `tokenmeter_unrecognized_usage_total` (one per record and field not understood) and
    /// `tokenmeter_router_cost_mismatch_total` (one per record whose router cost disagrees).
    public func countUsageFindings(_ records: some Sequence<PricedRecord>) {
        var unrecognized: [[String]: Int64] = [:]
        var mismatched: [[String]: Int64] = [:]
        var order: [(mismatch: Bool, key: [String])] = []
        for record in records {
            for field in record.record.unrecognizedUsage.keys.sorted() {
                let key = [record.provider, field]
                if unrecognized[key] == nil { order.append((false, key)) }
                unrecognized[key, default: 0] += 1
            }
            if record.routerCostDisagrees {
                let key = [record.provider, record.model]
                if mismatched[key] == nil { order.append((true, key)) }
                mismatched[key, default: 0] += 1
            }
        }
        guard !order.isEmpty else { return }
        let counters = state.withLock { state -> [Counter] in
            var handles: [Counter] = []
            for (mismatch, key) in order {
                handles.append(mismatch ? state.routerMismatchCounter(provider: key[0], model: key[1])
                                        : state.unrecognizedCounter(provider: key[0], field: key[1]))
            }
            return handles
        }
        for ((mismatch, key), counter) in zip(order, counters) {
            counter.increment(by: (mismatch ? mismatched : unrecognized)[key]!)
        }
    }

    /// Counts committed, completed records: summed per label set first, so a batch takes the
    /// lock and the label guards once per label set rather than once per record.
    public func record(batch records: some Sequence<PricedRecord>) {
        var groups: [LabelSetKey: (totals: UsageTotals, durationsMs: [Double])] = [:]
        // In order of first appearance, so the label guards admit values in arrival order.
        var order: [LabelSetKey] = []
        for record in records where record.record.status != .pending {
            let totals = UsageTotals(record)
            let key = LabelSetKey(dimensions: RollupDimensions(record), errorType: totals.errorType)
            if let index = groups.index(forKey: key) {  // one lookup, then changed in place
                groups.values[index].totals.add(totals)
                if let duration = record.record.durationMs { groups.values[index].durationsMs.append(duration) }
            } else {
                groups[key] = (totals, record.record.durationMs.map { [$0] } ?? [])
                order.append(key)
            }
        }
        for key in order { add(groups[key]!.totals, durationsMs: groups[key]!.durationsMs) }
        // Pending records are counted when they complete, like their usage.
        countUsageFindings(records.lazy.filter { $0.record.status != .pending })
    }

    /// Adds lifetime totals from the store (on start) or the figures of records with one label set.
    public func add(_ totals: UsageTotals, durationsMs: [Double] = []) {
        guard totals.status != .pending else { return }
        let handles = state.withLock { $0.handles(for: totals, withDuration: !durationsMs.isEmpty) }
        let t = totals.tokens
        (totals.status == .error ? handles.usage.requestsError : handles.usage.requestsSuccess).increment(by: totals.requests)
        if t.input > 0 { handles.usage.tokensInput.increment(by: t.input) }
        if t.cachedInput > 0 { handles.usage.tokensCached.increment(by: t.cachedInput) }
        if t.cacheWrite > 0 { handles.usage.tokensCacheWrite.increment(by: t.cacheWrite) }
        if t.output > 0 { handles.usage.tokensOutput.increment(by: t.output) }
        if t.reasoning > 0 { handles.usage.reasoning.increment(by: t.reasoning) }
        if totals.costNanoUSD > 0 { handles.usage.cost.increment(by: Money.usd(fromNano: totals.costNanoUSD)) }
        if totals.creditsMicro > 0 { handles.usage.credits.increment(by: Money.value(fromMicro: totals.creditsMicro)) }
        handles.resourceRequests.increment(by: totals.requests)
        if totals.costNanoUSD > 0 { handles.resourceCost.increment(by: Money.usd(fromNano: totals.costNanoUSD)) }
        if let errors = handles.errors { errors.increment(by: totals.requests) }
        if let unpriced = handles.unpriced, totals.unpricedRequests > 0 { unpriced.increment(by: totals.unpricedRequests) }
        if let histogram = handles.duration {
            for durationMs in durationsMs { histogram.record(durationMs / 1000) }
        }
    }

    /// Pending records per (service, operation, model). A series is removed when it reaches 0, so the
    /// exposition is the same before and after a restart (which rebuilds it from the store).
    /// This process's own writes move it, unless the gauge follows the store (`followStorePending`).
    public func pendingChanged(service: String, operation: String, model: String, by delta: Int64) {
        state.withLock { state in
            guard !state.pendingFromStore else { return }
            state.changePending(service: service, operation: operation, model: model, by: delta)
        }
    }

    /// From now on `tokenmeter_pending_requests` shows only what `setPending` last read from the
    /// store (a store other processes write too: every instance then exports the store-wide counts,
    /// so `max` over instances is the store's, never a multiple of it); this process's own writes no
    /// longer move it between two reads.
    public func followStorePending() {
        state.withLock { $0.pendingFromStore = true }
    }

    public func setPending(_ counts: [PendingCount]) {
        state.withLock { state in
            state.clearPending()
            for entry in counts {
                state.changePending(service: entry.service, operation: entry.operation, model: entry.model, by: entry.count)
            }
        }
    }

    public func ingested(accepted: Int, duplicates: Int, rejected: Int) {
        if accepted > 0 { ingestAccepted.increment(by: Int64(accepted)) }
        if duplicates > 0 { ingestDuplicate.increment(by: Int64(duplicates)) }
        if rejected > 0 { ingestRejected.increment(by: Int64(rejected)) }
    }

    public func storeWrite(seconds: Double) { storeWrite.record(seconds) }
    public func setQueueDepth(_ records: Int) { queueDepth.set(to: Double(records)) }
    public func setQueueCapacity(_ records: Int) { queueCapacity.set(to: Double(records)) }

    public enum RefusalReason: Sendable { case queueFull, storeError, shuttingDown }

    /// An ingest request answered 503: nothing from it was stored.
    public func refused(_ reason: RefusalReason) {
        switch reason {
        case .queueFull: refusedQueueFull.increment()
        case .storeError: refusedStoreError.increment()
        case .shuttingDown: refusedShuttingDown.increment()
        }
    }

    public func setSpend(window: String, usd: Double) {
        state.withLock { $0.gauge(MetricNames.spend, [("window", window)]) }.set(to: usd)
    }

    public func setActiveUsers(window: String, count: Int) {
        state.withLock { $0.gauge(MetricNames.activeUsers, [("window", window)]) }.set(to: Double(count))
    }

    public func setBudget(name: String, window: String, limitUSD: Double, spentUSD: Double) {
        let (limit, spent) = state.withLock {
            ($0.gauge(MetricNames.budget, [("budget", name), ("window", window)]),
             $0.gauge(MetricNames.budgetSpent, [("budget", name), ("window", window)]))
        }
        limit.set(to: limitUSD)
        spent.set(to: spentUSD)
    }

    /// Prometheus text format 0.0.4.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

/// The labels of a record's usage series (before the cardinality guard).
private struct LabelSetKey: Hashable {
    var dimensions: RollupDimensions
    var errorType: String?
}
