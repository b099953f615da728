import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Resource-type metrics")
struct ResourceMetricsTests {
    static func record(type: String?, id: String = "1", cost: Int64 = 1_000_000, model: String = "m") -> PricedRecord {
        var usage = UsageRecord(timestamp: Date(), operation: "chat", model: model, tokens: TokenCounts(input: 1), callerCostNanoUSD: cost)
        usage.resourceType = type
        usage.resourceID = type == nil ? nil : id
        return CostCalculator.price(usage, entry: nil)
    }

    @Test func costIsCountedByResourceTypeOnlyNeverById() throws {
        let metrics = UsageMetrics()
        metrics.record(batch: (0..<50).map { Self.record(type: "pipeline_run", id: "run-\($0)") } + [Self.record(type: nil, cost: 3_000_000)])
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(text.value("tokenmeter_resource_cost_usd_total", ["resource_type": "pipeline_run"]) == 0.05)
        #expect(text.value("tokenmeter_resource_cost_usd_total", ["resource_type": "(none)"]) == 0.003)
        #expect(text.value("tokenmeter_resource_requests_total", ["resource_type": "pipeline_run"]) == 50)
        #expect(text.series("tokenmeter_resource_cost_usd_total").allSatisfy { Set($0.labels.keys) == ["resource_type"] })
        // The contract's usage counters keep their label set L.
        #expect(text.series("tokenmeter_cost_usd_total").allSatisfy { $0.labels["resource_type"] == nil })
    }

    @Test func resourceTypesBeyondTheLabelLimitBecomeOther() throws {
        let metrics = UsageMetrics(limits: MetricsLimits(maxValuesPerLabel: 5, maxSeriesPerMetric: 10_000))
        for i in 0..<40 { metrics.record(Self.record(type: "type_\(i)")) }
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        let types = Set(text.series("tokenmeter_resource_cost_usd_total").compactMap { $0.labels["resource_type"] })
        #expect(types.count == 6 && types.contains("__other__"))
        #expect(text.sum("tokenmeter_resource_requests_total") == 40)
        #expect(text.value("tokenmeter_label_overflow_total", ["label": "resource_type"]) == 35)
    }

    @Test func countersResumeFromLifetimeTotalsByResourceType() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("r.sqlite").path, synchronous: .normal)
        _ = try await store.commit([Self.record(type: "session"), Self.record(type: "session", id: "2"), Self.record(type: nil)])
        let resumed = UsageMetrics()
        for totals in try await store.lifetimeTotals() { resumed.add(totals) }
        let text = try PrometheusText(String(decoding: resumed.exposition(), as: UTF8.self))
        #expect(text.value("tokenmeter_resource_cost_usd_total", ["resource_type": "session"]) == 0.002)
        #expect(text.value("tokenmeter_resource_requests_total", ["resource_type": "(none)"]) == 1)
    }

    @Test func aMeteredActionWithoutAModelCountsRequestsAndCreditsButNoTokens() throws {
        let metrics = UsageMetrics()
        let usage = UsageRecord(timestamp: Date(), operation: "workflow_execution", category: .other, model: "", creditsMicro: 1000)
        metrics.record(CostCalculator.price(usage, entry: nil))
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(text.sum("tokenmeter_requests_total", where: ["model": "", "operation": "workflow_execution", "status": "success"]) == 1)
        #expect(text.sum("tokenmeter_credits_total", where: ["model": "", "operation": "workflow_execution", "provider": "", "category": "other"]) == 0.001)
        #expect(text.sum("tokenmeter_tokens_total") == 0)
        #expect(text.series("tokenmeter_unpriced_requests_total").isEmpty)
        #expect(text.sum("tokenmeter_label_overflow_total") == 0)
    }
}
