import TokenMeterCore
/// Metric names, help texts and buckets: part of the external contract (CONTRACT section 5).
import Prometheus

enum MetricNames {
    /// The full name as the metric name, no unit suffix added: the names are fixed by the contract.
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name]!)
    }

    static let requests = "tokenmeter_requests_total"
    static let tokens = "tokenmeter_tokens_total"
    static let reasoningTokens = "tokenmeter_reasoning_tokens_total"
    static let cost = "tokenmeter_cost_usd_total"
    static let credits = "tokenmeter_credits_total"
    static let errors = "tokenmeter_errors_total"
    static let duration = "tokenmeter_request_duration_seconds"
    static let unpriced = "tokenmeter_unpriced_requests_total"
    static let pending = "tokenmeter_pending_requests"
    static let spend = "tokenmeter_spend_usd"
    static let activeUsers = "tokenmeter_active_users"
    static let budget = "tokenmeter_budget_usd"
    static let budgetSpent = "tokenmeter_budget_spent_usd"
    static let ingestRecords = "tokenmeter_ingest_records_total"
    static let storeWrite = "tokenmeter_store_write_seconds"
    static let labelOverflow = "tokenmeter_label_overflow_total"
    static let buildInfo = "tokenmeter_build_info"
    static let queueDepth = "tokenmeter_write_queue_records"
    static let queueCapacity = "tokenmeter_write_queue_capacity_records"
    static let ingestRefused = "tokenmeter_ingest_refused_total"
    static let storeReady = "tokenmeter_store_ready"
    static let storeLastSuccess = "tokenmeter_store_last_success_timestamp_seconds"
    static let storeFreeBytes = "tokenmeter_store_free_bytes"
    static let storeWriteStalled = "tokenmeter_store_write_stalled_seconds"
    static let storeWriteFailures = "tokenmeter_store_write_failures_total"
    static let pendingExpired = "tokenmeter_pending_expired_total"
    static let unrecognizedUsage = "tokenmeter_unrecognized_usage_total"
    static let routerCostMismatch = "tokenmeter_router_cost_mismatch_total"
    static let resourceCost = "tokenmeter_resource_cost_usd_total"
    static let resourceRequests = "tokenmeter_resource_requests_total"
    /// The `resource_type` label of calls that carry none.
    static let noResourceType = "(none)"

    /// 0.01 · 2ⁿ seconds, n = 0…16: 10 ms to 655.36 s.
    static let durationBuckets: [Double] = (0...16).map { 0.01 * Double(1 << $0) }
    /// 0.5 ms · 2ⁿ, n = 0…14: 0.5 ms to about 8 s.
    static let storeWriteBuckets: [Double] = (0...14).map { 0.0005 * Double(1 << $0) }

    static let help: [String: String] = [
        requests: "AI calls metered, by status (success or error).",
        tokens: "Tokens metered, by disjoint type (input, cached_input, cache_write, output); sum is billable tokens.",
        reasoningTokens: "Reasoning tokens, a part of the output tokens.",
        cost: "Cost of AI calls in USD.",
        credits: "Credits charged to users for AI calls.",
        errors: "Failed AI calls, by error type.",
        duration: "Wall time of AI calls in seconds.",
        unpriced: "AI calls with no cost given and no matching price.",
        pending: "AI calls recorded as pending and not yet completed.",
        spend: "Spend in USD in the current day or month (configured time zone), from the store.",
        activeUsers: "Distinct users with at least one call in the last 1, 7 or 30 days, from the store.",
        budget: "Configured budget in USD.",
        budgetSpent: "Spend in USD counted against a configured budget in its current window.",
        ingestRecords: "Records received by the ingest API, by result.",
        storeWrite: "Time to commit one batch of records to the store, in seconds.",
        labelOverflow: "Label values replaced by __other__ by the cardinality guard, by label.",
        buildInfo: "tokenmeter build information.",
        queueDepth: "Records waiting in the write queue.",
        queueCapacity: "Records the write queue holds before ingest answers 503.",
        unrecognizedUsage: "Records accepted with a non-zero count in a usage field tokenmeter does not understand, by provider and field.",
        routerCostMismatch: "Records whose router-reported cost (LiteLLM response_cost, OpenRouter usage.cost) differs from tokenmeter's catalog price by more than 5 %.",
        resourceCost: "Cost of AI calls and metered actions in USD, by resource_type only ((none): calls without one); guarded.",
        resourceRequests: "AI calls and metered actions, by resource_type only ((none): calls without one); guarded.",
        ingestRefused: "Ingest requests answered 503 (nothing stored), by reason: queue_full, store_error, shutting_down.",
        storeReady: "1 when the store takes writes now (what /readyz answers), else 0.",
        storeLastSuccess: "Unix time of the last successful store write (a batch, a completion or the readiness probe).",
        storeFreeBytes: "Bytes free on the database's file system.",
        storeWriteStalled: "Seconds the oldest running store write has been running (0: none running).",
        storeWriteFailures: "Store writes that failed, by kind: transient (may pass: busy, disk full) or permanent (an operator must act).",
        pendingExpired: "Pending records deleted because they were not completed within the pending timeout.",
    ]
}
