import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Gauges from the store")
struct StoreGaugeTests {
    @Test func spendActiveUsersAndBudgetsComeFromTheStore() async throws {
        var config = testConfig()
        config.timeZone = TimeZone(identifier: "Europe/Moscow")!
        config.budgets = [Budget(name: "monthly", window: .month, usd: 100),
                          Budget(name: "bot-daily", window: .day, usd: 10, filters: ["service": "bot"])]
        let store = try SQLiteStore(path: config.databasePath, synchronous: .normal)
        let now = RFC3339.parse("2026-11-25T12:00:00Z")!  // 15:00 in Moscow
        func record(_ id: String, _ timestamp: String, service: String, user: String, cost: Double) -> PricedRecord {
            CostCalculator.price(UsageRecord(id: id, timestamp: RFC3339.parse(timestamp)!, userID: user, service: service,
                                             operation: "chat", model: "m", callerCostNanoUSD: Money.nanoUSD(fromUSD: cost)), entry: nil)
        }
        _ = try await store.commit([
            record("a", "2026-11-25T11:00:00Z", service: "bot", user: "u1", cost: 1.5),   // today (Moscow)
            record("b", "2026-11-24T21:30:00Z", service: "web", user: "u2", cost: 2),     // today in Moscow (00:30), yesterday in UTC
            record("c", "2026-11-24T20:30:00Z", service: "bot", user: "u3", cost: 4),     // yesterday in Moscow
            record("d", "2026-11-10T08:00:00Z", service: "bot", user: "u4", cost: 8),     // this month
            record("e", "2026-10-31T20:59:00Z", service: "bot", user: "u5", cost: 16),    // 23:59 on 31 October in Moscow
        ])
        let metrics = UsageMetrics()
        try await StoreGaugeRefresher(store: store, metrics: metrics, config: config, logger: .init(label: "test")).refresh(now: now)
        let text = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(text.value("tokenmeter_spend_usd", ["window": "today"]) == 3.5)
        #expect(text.value("tokenmeter_spend_usd", ["window": "month"]) == 15.5)
        #expect(text.value("tokenmeter_active_users", ["window": "1d"]) == 3)   // a, b, c are within 24 h
        #expect(text.value("tokenmeter_active_users", ["window": "30d"]) == 5)
        #expect(text.value("tokenmeter_budget_usd", ["budget": "monthly", "window": "month"]) == 100)
        #expect(text.value("tokenmeter_budget_spent_usd", ["budget": "monthly", "window": "month"]) == 15.5)
        #expect(text.value("tokenmeter_budget_spent_usd", ["budget": "bot-daily", "window": "day"]) == 1.5)
    }
}
