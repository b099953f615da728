import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Cardinality guard")
struct CardinalityGuardTests {
    static func record(model: String, operation: String = "chat", status: RecordStatus = .success, errorType: String? = nil) -> PricedRecord {
        let usage = UsageRecord(timestamp: Date(), operation: operation, model: model, status: status,
                                tokens: TokenCounts(input: 1, output: 1), durationMs: 10, errorType: errorType)
        return CostCalculator.price(usage, entry: nil)
    }

    @Test func tenThousandDistinctModelsStayBounded() throws {
        let metrics = UsageMetrics(limits: MetricsLimits(maxValuesPerLabel: 200, maxSeriesPerMetric: 10_000))
        for i in 0..<10_000 {
            metrics.record(Self.record(model: "flood-model-\(i)", status: i % 2 == 0 ? .success : .error, errorType: "E\(i)"))
        }
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        let models = Set(text.series("tokenmeter_requests_total").compactMap { $0.labels["model"] })
        #expect(models.count == 201)  // 200 admitted + __other__
        #expect(models.contains("__other__"))
        #expect(text.sum("tokenmeter_requests_total") == 10_000)  // nothing is lost, only relabelled
        #expect(text.value("tokenmeter_label_overflow_total", ["label": "model"]) == 9_800)  // one per relabelled record
        #expect(text.series("tokenmeter_errors_total").count <= 201 * 201)
        #expect(text.sum("tokenmeter_errors_total") == 5_000)
        #expect(text.value("tokenmeter_unpriced_requests_total", ["provider": "unknown", "model": "__other__"]) == 9_800)
    }

    /// Label sets seen before take a shortcut to their handles; one folded into `__other__` must not:
    /// it counts its overflow on every record, however often it comes.
    @Test func aRepeatedLabelSetCountsTheSameAsItsFirstRecord() throws {
        let metrics = UsageMetrics(limits: MetricsLimits(maxValuesPerLabel: 1, maxSeriesPerMetric: 10_000))
        let records: [(model: String, status: RecordStatus, errorType: String?)] = [
            ("a", .success, nil), ("b", .success, nil), ("a", .success, nil), ("b", .success, nil),
            ("a", .error, "timeout"), ("a", .error, "rate_limit"), ("a", .error, "timeout"), ("b", .error, "timeout"),
        ]
        for _ in 0..<3 {
            for r in records { metrics.record(Self.record(model: r.model, status: r.status, errorType: r.errorType)) }
        }
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(text.sum("tokenmeter_requests_total", where: ["model": "a", "status": "success"]) == 6)
        #expect(text.sum("tokenmeter_requests_total", where: ["model": "a", "status": "error"]) == 9)
        #expect(text.sum("tokenmeter_requests_total", where: ["model": "__other__", "status": "success"]) == 6)
        #expect(text.sum("tokenmeter_requests_total", where: ["model": "__other__", "status": "error"]) == 3)
        // Nine records of model b, every one counted; one error type admitted, rate_limit folded.
        #expect(text.sum("tokenmeter_label_overflow_total", where: ["label": "model"]) == 9)
        #expect(text.sum("tokenmeter_label_overflow_total", where: ["label": "error_type"]) == 3)
        #expect(text.sum("tokenmeter_errors_total", where: ["model": "a", "error_type": "timeout"]) == 6)
        #expect(text.sum("tokenmeter_errors_total", where: ["model": "a", "error_type": "__other__"]) == 3)
        #expect(text.sum("tokenmeter_request_duration_seconds_count") == 24)
        #expect(text.sum("tokenmeter_unpriced_requests_total") == 24)
    }

    @Test func seriesLimitPerMetricFoldsNewLabelSetsIntoOther() throws {
        let metrics = UsageMetrics(limits: MetricsLimits(maxValuesPerLabel: 1000, maxSeriesPerMetric: 40))
        // 10 models × 10 operations = 100 label sets; tokens_total has 4 series per set, so 10 sets fit.
        for m in 0..<10 {
            for o in 0..<10 { metrics.record(Self.record(model: "m\(m)", operation: "op\(o)")) }
        }
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        let sets = text.series("tokenmeter_requests_total").filter { $0.labels["status"] == "success" }
        #expect(sets.count == 11)
        #expect(text.sum("tokenmeter_requests_total") == 100)
        #expect(text.value("tokenmeter_label_overflow_total", ["label": "__series__"])! >= 90)
        #expect(text.series("tokenmeter_tokens_total").count <= 44)
    }

    @Test func unrecognizedUsageFieldsAreCountedPerProviderAndFieldWithinTheGuard() throws {
        let metrics = UsageMetrics(limits: MetricsLimits(maxValuesPerLabel: 3, maxSeriesPerMetric: 10_000))
        var records: [PricedRecord] = []
        for i in 0..<10 {
            var r = Self.record(model: "claude-sonnet-4-5")
            r.provider = "anthropic"
            r.record.unrecognizedUsage = ["server_tool_use.web_search_requests": 2, "field_\(i)": 1]
            records.append(r)
        }
        metrics.record(batch: records)
        metrics.record(records[0])
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(text.types["tokenmeter_unrecognized_usage_total"] == "counter")
        // Records, not the fields' values, are counted: 10 in the batch and 1 more.
        #expect(text.value("tokenmeter_unrecognized_usage_total", ["provider": "anthropic", "field": "server_tool_use.web_search_requests"]) == 11)
        #expect(text.value("tokenmeter_unrecognized_usage_total", ["provider": "anthropic", "field": "field_0"]) == 2)
        // 3 field values admitted (field_0, field_1, the web search one, in sorted order per record), the rest folded.
        let fields = Set(text.series("tokenmeter_unrecognized_usage_total").compactMap { $0.labels["field"] })
        #expect(fields.count == 4 && fields.contains("__other__"))
        #expect(text.sum("tokenmeter_unrecognized_usage_total") == 22)
        #expect(text.value("tokenmeter_label_overflow_total", ["label": "field"]) == 8)
    }

    @Test func routerCostsThatDisagreeWithTheCatalogAreCounted() throws {
        let entry = PriceEntry(model: "gpt-4o-mini", provider: "openai", tokens: TokenPrices(
            input: PicoPrice(usdPerMillion: 0.15), output: PicoPrice(usdPerMillion: 0.6)))
        func priced(router: Int64?) -> PricedRecord {
            let usage = UsageRecord(timestamp: Date(), operation: "chat", model: "gpt-4o-mini",
                                    tokens: TokenCounts(input: 100_000, output: 10_000), routerCostNanoUSD: router)
            return CostCalculator.price(usage, entry: entry)  // 0.015 + 0.006 = 0.021 USD
        }
        let cases: [(Int64?, Bool)] = [(21_000_000, false), (21_900_000, false), (23_000_000, true), (10_000_000, true), (nil, false)]
        for (router, disagrees) in cases { #expect(priced(router: router).routerCostDisagrees == disagrees, "\(String(describing: router))") }
        let metrics = UsageMetrics()
        metrics.record(batch: cases.map { priced(router: $0.0) })
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(text.value("tokenmeter_router_cost_mismatch_total", ["provider": "openai", "model": "gpt-4o-mini"]) == 2)
    }

    @Test func labelGuardAdmitsFirstValuesOnly() {
        var guardian = LabelGuard(maxValues: 2)
        #expect(guardian.admit("a") == ("a", false))
        #expect(guardian.admit("b") == ("b", false))
        #expect(guardian.admit("c") == ("__other__", true))
        #expect(guardian.admit("a") == ("a", false))
    }

    @Test func everyContractMetricFamilyIsExposedWithItsType() throws {
        let metrics = UsageMetrics()
        metrics.record(Self.record(model: "gpt-4o", status: .error, errorType: "Timeout"))
        metrics.pendingChanged(service: "s", operation: "o", model: "m", by: 1)
        metrics.setBudget(name: "monthly", window: "month", limitUSD: 100, spentUSD: 3)
        metrics.ingested(accepted: 1, duplicates: 1, rejected: 1)
        metrics.storeWrite(seconds: 0.002)
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        let expected: [String: String] = [
            "tokenmeter_requests_total": "counter", "tokenmeter_tokens_total": "counter",
            "tokenmeter_reasoning_tokens_total": "counter", "tokenmeter_cost_usd_total": "counter",
            "tokenmeter_credits_total": "counter", "tokenmeter_errors_total": "counter",
            "tokenmeter_request_duration_seconds": "histogram", "tokenmeter_unpriced_requests_total": "counter",
            "tokenmeter_pending_requests": "gauge", "tokenmeter_spend_usd": "gauge", "tokenmeter_active_users": "gauge",
            "tokenmeter_budget_usd": "gauge", "tokenmeter_budget_spent_usd": "gauge",
            "tokenmeter_ingest_records_total": "counter", "tokenmeter_store_write_seconds": "histogram",
            "tokenmeter_build_info": "gauge",
        ]
        for (name, type) in expected { #expect(text.types[name] == type, "\(name)") }
        #expect(Set(text.series("tokenmeter_requests_total").first!.labels.keys) == ["service", "operation", "category", "provider", "model", "status"])
        #expect(Set(text.series("tokenmeter_errors_total").first!.labels.keys) == ["service", "operation", "provider", "model", "error_type"])
        #expect(Set(text.series("tokenmeter_pending_requests").first!.labels.keys) == ["service", "operation", "model"])
        #expect(text.value("tokenmeter_budget_spent_usd", ["budget": "monthly", "window": "month"]) == 3)
    }
}
