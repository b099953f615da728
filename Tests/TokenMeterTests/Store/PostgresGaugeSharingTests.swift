import Foundation
import Synchronization
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// A report source that counts the figure queries sent to it (what computing the gauges costs).
final class CountingReports: ReportSource {
    let inner: any ReportSource
    let queries = Mutex(0)
    init(_ inner: any ReportSource) { self.inner = inner }
    var count: Int { queries.withLock { $0 } }

    func figures(_ query: FigureQuery, retention: RetentionPolicy, now: Date) async throws -> FigureResult {
        queries.withLock { $0 += 1 }
        return try await inner.figures(query, retention: retention, now: now)
    }
    func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> ActiveUsers {
        queries.withLock { $0 += 1 }
        return try await inner.activeUsers(query, paying: paying, retention: retention, now: now)
    }
    func unrecognizedUsage(from: Date, to: Date) async throws -> UnrecognizedUsage { try await inner.unrecognizedUsage(from: from, to: to) }
    func unpricedReasons(from: Date, to: Date, limit: Int) async throws -> [UnpricedReason] {
        try await inner.unpricedReasons(from: from, to: to, limit: limit)
    }
    func resourceSpan(type: String, id: String, from: Date, to: Date) async throws -> ResourceSpan {
        try await inner.resourceSpan(type: type, id: id, from: from, to: to)
    }
}

@Suite("Store gauges shared between instances")
struct PostgresGaugeSharingTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!

    static func refresher(_ store: PostgresStore, _ reports: CountingReports, _ metrics: UsageMetrics) -> StoreGaugeRefresher {
        var config = testConfig()
        config.statsInterval = .seconds(15)
        config.budgets = [Budget(name: "monthly", window: .month, usd: 100)]
        return StoreGaugeRefresher(store: reports, sharing: store, metrics: metrics, config: config, logger: .init(label: "test"))
    }

    static func spendToday(_ metrics: UsageMetrics) throws -> Double? {
        try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self)).value("tokenmeter_spend_usd", ["window": "today"])
    }

    /// Two instances open: the first to refresh computes the gauges and shares them, the other
    /// exports the shared values without a query; once the first is closed (its process gone) and
    /// the values are stale, the other computes them.
    @Test func theGaugeJobRunsOnOneInstanceAndAnotherTakesOverWhenItIsGone() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let a = try await database.store(instance: "a", now: { Self.now })
        let b = try await database.store(instance: "b", now: { Self.now })
        _ = try await a.commit([PostgresPartitionTests.record("r1", at: Self.now.addingTimeInterval(-60), user: "u1"),
                                PostgresPartitionTests.record("r2", at: Self.now.addingTimeInterval(-120), user: "u2")])
        let (reportsA, reportsB) = (CountingReports(a), CountingReports(b))
        let (metricsA, metricsB) = (UsageMetrics(), UsageMetrics())
        let (refresherA, refresherB) = (Self.refresher(a, reportsA, metricsA), Self.refresher(b, reportsB, metricsB))

        let first = try await refresherA.refresh(now: Self.now)
        #expect(first.computedBy == "a" && reportsA.count > 0)
        for offset in [1.0, 7.0, 14.0] {
            let shared = try await refresherB.refresh(now: Self.now.addingTimeInterval(offset))
            #expect(shared.computedBy == "a" && shared.values == first.values)
        }
        #expect(reportsB.count == 0, "instance b ran the gauge queries while a's were fresh")
        #expect(try Self.spendToday(metricsB) == Money.usd(fromNano: 2_000))
        #expect(try Self.spendToday(metricsB) == Self.spendToday(metricsA), "the instances export different values")
        #expect(try await b.textRows("SELECT computed_by FROM store_gauges") == [["a"]])

        // An interval on, a computes again (b still reads).
        let queriesA = reportsA.count
        #expect(try await refresherA.refresh(now: Self.now.addingTimeInterval(16)).computedBy == "a")
        #expect(reportsA.count > queriesA)
        #expect(try await refresherB.refresh(now: Self.now.addingTimeInterval(17)).computedBy == "a")
        #expect(reportsB.count == 0)

        // a is gone: past the interval, b takes the job over and shares its values.
        try await a.close()
        _ = try await b.commit([PostgresPartitionTests.record("r3", at: Self.now, user: "u3")])
        let takenOver = try await refresherB.refresh(now: Self.now.addingTimeInterval(40))
        #expect(takenOver.computedBy == "b" && reportsB.count > 0)
        #expect(takenOver.values.spendTodayNano == 3_000 && takenOver.values.activeUsers["1d"] == 3)
        #expect(try await b.textRows("SELECT computed_by FROM store_gauges") == [["b"]])
        #expect(try Self.spendToday(metricsB) == Money.usd(fromNano: 3_000))
    }

    /// While another instance holds the gauge lock (computing), one with stale values does not
    /// wait: it exports the shared values while under three intervals old, else computes its own.
    @Test func aStuckHolderIsNotWaitedFor() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let a = try await database.store(instance: "a", now: { Self.now })
        let b = try await database.store(instance: "b", now: { Self.now })
        let values = StoreGaugeValues(spendTodayNano: 5, spendMonthNano: 6, activeUsers: ["1d": 1], budgetSpentNano: [])
        #expect(try await a.sharedGauges(key: "k", maxAge: 10, now: Self.now) { values }.computedBy == "a")
        let holding = try await a.withMaintenanceLock(PostgresSchema.gaugeLock) { () async throws -> [SharedGaugeReading] in
            let other = StoreGaugeValues(spendTodayNano: 7, spendMonthNano: 8, activeUsers: [:], budgetSpentNano: [])
            return [try await b.sharedGauges(key: "k", maxAge: 10, now: Self.now.addingTimeInterval(20)) { other },
                    try await b.sharedGauges(key: "k", maxAge: 10, now: Self.now.addingTimeInterval(40)) { other }]
        }
        #expect(holding?[0].computedBy == "a" && holding?[0].values == values, "within three intervals: the shared values")
        #expect(holding?[1].computedBy == "b" && holding?[1].values.spendTodayNano == 7, "past three intervals: its own")
        #expect(try await b.textRows("SELECT computed_by FROM store_gauges") == [["a"]], "values computed without the lock are not shared")
    }

    @Test func aSQLiteStoreComputesItsGaugesItself() async throws {
        let store = try await StoreKind.sqlite.makeStore()
        let values = StoreGaugeValues(spendTodayNano: 1, spendMonthNano: 2, activeUsers: [:], budgetSpentNano: [])
        let calls = Mutex(0)
        for _ in 0..<2 {
            let reading = try await store.sharedGauges(key: "k", maxAge: 60, now: Self.now) {
                calls.withLock { $0 += 1 }
                return values
            }
            #expect(reading.computedBy == nil && reading.values == values)
        }
        #expect(calls.withLock { $0 } == 2)
    }
}
