import TokenMeterCore
import Prometheus

struct UsageHandles {
    let requestsSuccess, requestsError: Counter
    let tokensInput, tokensCached, tokensCacheWrite, tokensOutput: Counter
    let reasoning, cost, credits: Counter
}

struct RecordHandles {
    let usage: UsageHandles
    let errors: Counter?
    let unpriced: Counter?
    let duration: ValueHistogram?
    /// `tokenmeter_resource_cost_usd_total` and `tokenmeter_resource_requests_total` of the record's resource type.
    let resourceCost: Counter
    let resourceRequests: Counter
}

/// Label guards and handle caches, only touched under `UsageMetrics`' lock.
struct MetricsState {
    let registry: PrometheusCollectorRegistry
    let limits: MetricsLimits
    var guards: [String: LabelGuard] = [:]
    var overflow: [String: Counter] = [:]
    var usage: [[String]: UsageHandles] = [:]
    var errors: [[String]: Counter] = [:]
    var unpriced: [[String]: Counter] = [:]
    var unrecognized: [[String]: Counter] = [:]
    var routerMismatch: [[String]: Counter] = [:]
    var durations: [[String]: ValueHistogram] = [:]
    var resourceCounters: [String: (cost: Counter, requests: Counter)] = [:]
    var pendingGauges: [[String]: Gauge] = [:]
    var pendingCounts: [[String]: Int64] = [:]
    /// The pending gauge is set from the store only (`UsageMetrics.followStorePending`).
    var pendingFromStore = false
    var gauges: [[String]: Gauge] = [:]
    /// The handles of label sets seen before, by the values as recorded: one lookup instead of the
    /// guards and caches below (about 35 string hashes and five arrays per label set, the larger
    /// part of the metrics' cost per single-record request; BENCHMARKS.md, issue 20, stop 29). Only
    /// sets that nothing folded into `__other__` are kept: an admitted value stays admitted and a
    /// handle stays registered, so the answer never changes, while a folded one must count its
    /// overflow every time.
    private var resolved: [ResolvedKey: RecordHandles] = [:]
    private var overflowsCounted = 0

    /// Every input `resolve` reads from the totals (a new one must be added here too).
    private struct ResolvedKey: Hashable {
        let service, operation, category, provider, model, resourceType: String
        /// Only for errors: the error series is per type.
        let errorType: String?
        let unpriced: Bool
        let withDuration: Bool
    }

    init(registry: PrometheusCollectorRegistry, limits: MetricsLimits) {
        self.registry = registry
        self.limits = limits
        // Exported at 0 from the start, so the first overflow is an increase() alerts can see.
        for label in ["service", "operation", "category", "provider", "model", "error_type", "field", "resource_type", "__series__"] {
            overflow[label] = registry.makeCounter(
                descriptor: MetricNames.descriptor(MetricNames.labelOverflow), labels: [("label", label)])
        }
    }

    /// `totals` may sum several records (a batch): overflows are counted once per record.
    mutating func handles(for totals: UsageTotals, withDuration: Bool) -> RecordHandles {
        let key = ResolvedKey(service: totals.service, operation: totals.operation, category: totals.category,
                              provider: totals.provider, model: totals.model, resourceType: totals.resourceType,
                              errorType: totals.status == .error ? totals.errorType ?? "unknown" : nil,
                              unpriced: totals.unpricedRequests > 0, withDuration: withDuration)
        if let handles = resolved[key] { return handles }
        let overflowsBefore = overflowsCounted
        let handles = resolve(totals, withDuration: withDuration)
        // Bounded like a metric's series.
        if overflowsCounted == overflowsBefore, resolved.count < limits.maxSeriesPerMetric { resolved[key] = handles }
        return handles
    }

    private mutating func resolve(_ totals: UsageTotals, withDuration: Bool) -> RecordHandles {
        let records = max(1, totals.requests)
        let service = guarded("service", totals.service, records)
        let operation = guarded("operation", totals.operation, records)
        let category = guarded("category", totals.category, records)
        let provider = guarded("provider", totals.provider, records)
        let model = guarded("model", totals.model, records)
        // tokens_total has four series per label set, so it bounds how many label sets fit.
        let usageKey = bounded([service, operation, category, provider, model], in: usage, limit: limits.maxSeriesPerMetric / 4, records)
        let usageHandles = usage[usageKey] ?? makeUsageHandles(usageKey)
        usage[usageKey] = usageHandles

        var errorCounter: Counter?
        if totals.status == .error {
            let errorType = guarded("error_type", totals.errorType ?? "unknown", records)
            let key = bounded([service, operation, provider, model, errorType], in: errors, limit: limits.maxSeriesPerMetric, records)
            errorCounter = errors[key] ?? counter(MetricNames.errors, ["service", "operation", "provider", "model", "error_type"], key)
            errors[key] = errorCounter
        }
        var unpricedCounter: Counter?
        if totals.unpricedRequests > 0 {
            let key = bounded([provider, model], in: unpriced, limit: limits.maxSeriesPerMetric, totals.unpricedRequests)
            unpricedCounter = unpriced[key] ?? counter(MetricNames.unpriced, ["provider", "model"], key)
            unpriced[key] = unpricedCounter
        }
        var histogram: ValueHistogram?
        if withDuration {
            let key = bounded([service, operation, provider, model], in: durations, limit: limits.maxSeriesPerMetric, records)
            histogram = durations[key] ?? registry.makeValueHistogram(
                descriptor: MetricNames.descriptor(MetricNames.duration), labels: zip(["service", "operation", "provider", "model"], key).map { ($0, $1) },
                buckets: MetricNames.durationBuckets)
            durations[key] = histogram
        }
        let resource = resourceHandles(totals.resourceType, records)
        return RecordHandles(usage: usageHandles, errors: errorCounter, unpriced: unpricedCounter, duration: histogram,
                             resourceCost: resource.cost, resourceRequests: resource.requests)
    }

    /// The resource-type series: one label, guarded like any other (beyond `max_label_values`
    /// types the rest count under `__other__`), so a client's types cannot grow the registry.
    private mutating func resourceHandles(_ resourceType: String, _ records: Int64) -> (cost: Counter, requests: Counter) {
        let value = guarded("resource_type", resourceType.isEmpty ? MetricNames.noResourceType : resourceType, records)
        if let handles = resourceCounters[value] { return handles }
        let handles = (counter(MetricNames.resourceCost, ["resource_type"], [value]),
                       counter(MetricNames.resourceRequests, ["resource_type"], [value]))
        resourceCounters[value] = handles
        return handles
    }

    /// The counter of records with a non-zero count in the usage field `field` that was not understood.
    mutating func unrecognizedCounter(provider: String, field: String) -> Counter {
        let key = bounded([guarded("provider", provider), guarded("field", field)], in: unrecognized, limit: limits.maxSeriesPerMetric)
        let handle = unrecognized[key] ?? counter(MetricNames.unrecognizedUsage, ["provider", "field"], key)
        unrecognized[key] = handle
        return handle
    }

    /// The counter of records whose router cost disagrees with the catalog price.
    mutating func routerMismatchCounter(provider: String, model: String) -> Counter {
        let key = bounded([guarded("provider", provider), guarded("model", model)], in: routerMismatch, limit: limits.maxSeriesPerMetric)
        let handle = routerMismatch[key] ?? counter(MetricNames.routerCostMismatch, ["provider", "model"], key)
        routerMismatch[key] = handle
        return handle
    }

    mutating func changePending(service: String, operation: String, model: String, by delta: Int64) {
        let key = bounded([guarded("service", service), guarded("operation", operation), guarded("model", model)],
                          in: pendingGauges, limit: limits.maxSeriesPerMetric)
        let count = (pendingCounts[key] ?? 0) + delta
        if count <= 0 {
            pendingCounts[key] = nil
            if let gauge = pendingGauges.removeValue(forKey: key) { registry.unregisterGauge(gauge) }
            return
        }
        pendingCounts[key] = count
        let gauge = pendingGauges[key] ?? registry.makeGauge(
            descriptor: MetricNames.descriptor(MetricNames.pending), labels: zip(["service", "operation", "model"], key).map { ($0, $1) })
        pendingGauges[key] = gauge
        gauge.set(to: Double(count))
    }

    mutating func clearPending() {
        for gauge in pendingGauges.values { registry.unregisterGauge(gauge) }
        pendingGauges.removeAll()
        pendingCounts.removeAll()
    }

    /// Gauges whose label values come from configuration or fixed windows, not from clients.
    mutating func gauge(_ name: String, _ labels: [(String, String)]) -> Gauge {
        let key = [name] + labels.map(\.1)
        if let gauge = gauges[key] { return gauge }
        let gauge = registry.makeGauge(descriptor: MetricNames.descriptor(name), labels: labels)
        gauges[key] = gauge
        return gauge
    }

    private mutating func guarded(_ label: String, _ value: String, _ records: Int64 = 1) -> String {
        var labelGuard = guards[label] ?? LabelGuard(maxValues: limits.maxValuesPerLabel)
        let (admitted, overflowed) = labelGuard.admit(value)
        guards[label] = labelGuard
        if overflowed { countOverflow(label, records) }
        return admitted
    }

    /// `key` if the cache has it or room for it, else the all-`__other__` key (which always fits).
    private mutating func bounded<V>(_ key: [String], in cache: [[String]: V], limit: Int, _ records: Int64 = 1) -> [String] {
        if cache[key] != nil || cache.count < limit { return key }
        countOverflow("__series__", records)
        return Array(repeating: LabelGuard.overflowValue, count: key.count)
    }

    private mutating func countOverflow(_ label: String, _ records: Int64 = 1) {
        overflowsCounted += 1
        let counter = overflow[label] ?? registry.makeCounter(
            descriptor: MetricNames.descriptor(MetricNames.labelOverflow), labels: [("label", label)])
        overflow[label] = counter
        counter.increment(by: max(1, records))
    }

    private func counter(_ name: String, _ labelNames: [String], _ values: [String]) -> Counter {
        registry.makeCounter(descriptor: MetricNames.descriptor(name), labels: zip(labelNames, values).map { ($0, $1) })
    }

    private func makeUsageHandles(_ key: [String]) -> UsageHandles {
        let labels = zip(["service", "operation", "category", "provider", "model"], key).map { ($0, $1) }
        func make(_ name: String, _ extra: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: MetricNames.descriptor(name), labels: labels + extra)
        }
        return UsageHandles(
            requestsSuccess: make(MetricNames.requests, [("status", "success")]),
            requestsError: make(MetricNames.requests, [("status", "error")]),
            tokensInput: make(MetricNames.tokens, [("type", "input")]),
            tokensCached: make(MetricNames.tokens, [("type", "cached_input")]),
            tokensCacheWrite: make(MetricNames.tokens, [("type", "cache_write")]),
            tokensOutput: make(MetricNames.tokens, [("type", "output")]),
            reasoning: make(MetricNames.reasoningTokens),
            cost: make(MetricNames.cost),
            credits: make(MetricNames.credits)
        )
    }
}
