import Foundation
import Testing
@testable import TokenMeter

/// Thousands of random records over 120 days (duplicates, pending then completed, raw data pruned);
/// for many random ranges, time zones and groupings every report figure equals a brute-force sum.
@Suite("Reports equal brute-force sums", .serialized)
struct ReportPropertyTests {
    static let now = RFC3339.parse("2026-11-25T12:34:56.789Z")!
    static let retention = RetentionPolicy()
    static let zones = ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Moscow", "Australia/Adelaide"]

    struct Fixture: Sendable {
        let store: SQLiteStore
        let records: [PricedRecord]
    }

    static func makeFixture(seed: UInt64, count: Int) async throws -> Fixture {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("p.sqlite").path, synchronous: .normal)
        // Users then get ordinals from 4081 on: their sets straddle the first chunk boundary (4096).
        try await store.pool.write { db in try db.execute(sql: "INSERT INTO user_ordinals (ordinal, user_id) VALUES (4080, '(seed)')") }
        var generator = RandomUsage(rng: SeededGenerator(seed: seed), start: now.addingTimeInterval(-120 * 86400), span: 120 * 86400 - 1)
        var truth: [String: PricedRecord] = [:]
        var ids: [String] = []
        for batch in 0..<(count / 500) {
            var records = (0..<500).map { i in generator.record(id: "b\(batch)-\(i)") }
            records += ids.suffix(20).map { generator.record(id: $0) }  // duplicates with other figures
            for (record, outcome) in zip(records, try await store.commit(records)) where outcome == .accepted {
                truth[record.record.id] = record
                ids.append(record.record.id)
            }
        }
        let pricing = PricingService(base: [])
        var flip = false
        for id in ids where truth[id]!.record.status == .pending {
            flip.toggle()
            if flip { continue }  // half stay pending: never counted
            let completion = RecordCompletion(status: .success, tokenFields: ["input_tokens": .int(1234)], durationMs: 42)
            if case .completed(let priced, _) = try await store.complete(id: id, with: completion, reprice: { pricing.price($0) }) {
                truth[id] = priced
            }
        }
        _ = try await store.prune(retention: retention, now: now)
        return Fixture(store: store, records: Array(truth.values))
    }

    static let fixture = Task { try await makeFixture(seed: 42, count: 5000) }

    @Test func randomRangesGroupingsAndZonesMatchBruteForce() async throws {
        let fixture = try await Self.fixture.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        var rng = SeededGenerator(seed: 7)
        var exactChecks = 0
        var userChecks = 0
        var oldUserChecks = 0  // exact users for ranges older than raw retention: from the day user sets
        for iteration in 0..<250 {
            let zone = TimeZone(identifier: Self.zones.randomElement(using: &rng)!)!
            let calendar = ReportCalendar(timeZone: zone)
            let earliest = Self.now.addingTimeInterval(-121 * 86400)
            var from: Date
            var to: Date
            switch iteration % 3 {
            case 0:  // arbitrary instants
                from = earliest.addingTimeInterval(Double.random(in: 0..<(121 * 86400), using: &rng))
                to = from.addingTimeInterval(Double.random(in: 1..<(60 * 86400), using: &rng))
            case 1:  // whole local days
                let start = calendar.startOfDay(earliest.addingTimeInterval(Double.random(in: 0..<(121 * 86400), using: &rng)))
                from = start
                to = calendar.addingDays(Int.random(in: 1...45, using: &rng), to: start)
            default:  // recent ranges, always within raw retention
                from = Self.now.addingTimeInterval(-Double.random(in: 60..<(85 * 86400), using: &rng))
                to = from.addingTimeInterval(Double.random(in: 1..<(5 * 86400), using: &rng))
            }
            from = Date(unixMilliseconds: from.unixMilliseconds)
            to = Date(unixMilliseconds: min(to, Self.now).unixMilliseconds)
            guard from < to else { continue }
            let groupBy = ReportDimension.allCases.filter { _ in Int.random(in: 0..<4, using: &rng) == 0 }
            var filters: [ReportDimension: [String]] = [:]
            if Int.random(in: 0..<3, using: &rng) == 0 {
                filters[.model] = [RandomUsage.models.randomElement(using: &rng)!, RandomUsage.models.randomElement(using: &rng)!]
            }
            let p = ReportParameters(from: from, to: to, groupBy: groupBy, filters: filters, timeZone: zone)
            let summary = try await service.summary(p, now: Self.now)
            let withinRaw = from >= Self.retention.oldestKept(nil, now: Self.now)
            let utcDays = from.unixMilliseconds % Granularity.day.milliseconds == 0 && to.unixMilliseconds % Granularity.day.milliseconds == 0
            if withinRaw || (utcDays && groupBy.allSatisfy(\.inRollups) && filters.keys.allSatisfy(\.inRollups)) {
                #expect(!summary.rounded, "\(RFC3339.format(from))..\(RFC3339.format(to)) should be exact")
                #expect(!summary.active_users_rounded, "\(RFC3339.format(from))..\(RFC3339.format(to)) users should be exact")
            }
            guard !summary.rounded else { continue }
            exactChecks += 1
            let expected = bruteForce(fixture.records, from: from, to: to, groupBy: groupBy, filters: filters)
            if !withinRaw && !summary.active_users_rounded { oldUserChecks += 1 }
            let users = !summary.active_users_rounded ? bruteForceUsers(fixture.records.filter { r in filters.allSatisfy { $0.value.contains(r.model) } },
                                                    from: from, to: to, groupBy: groupBy) : nil
            var total = RollupFigures()
            for figures in expected.values { total += figures }
            #expect(summary.totals.cost_nano_usd == total.costNanoUSD)
            #expect(summary.totals.requests == total.requests && summary.totals.errors == total.errors)
            #expect(summary.totals.input_tokens == total.tokens.input && summary.totals.output_tokens == total.tokens.output)
            #expect(summary.totals.credits == Money.value(fromMicro: total.creditsMicro))
            if groupBy.isEmpty {
                #expect(summary.totals == FigureBlock(total, activeUsers: users?[[]] ?? summary.totals.active_users))
            } else {
                #expect(summary.groups.count == expected.count)
                for group in summary.groups {
                    let key = groupBy.map { group.key[$0.rawValue] ?? "?" }
                    guard let figures = expected[key] else {
                        Issue.record("unexpected group \(key)")
                        continue
                    }
                    #expect(group.figures == FigureBlock(figures, activeUsers: users?[key] ?? group.figures.active_users), "\(key)")
                }
                // Sorted by cost, descending.
                #expect(summary.groups.map(\.figures.cost_nano_usd) == summary.groups.map(\.figures.cost_nano_usd).sorted(by: >))
            }
            if let users {
                userChecks += 1
                let totalUsers = bruteForceUsers(fixture.records.filter { r in filters.allSatisfy { $0.value.contains(r.model) } },
                                                 from: from, to: to, groupBy: [])[[]] ?? 0
                #expect(summary.totals.active_users == totalUsers)
                _ = users
            }
        }
        #expect(exactChecks > 150)
        #expect(userChecks > 100)
        #expect(oldUserChecks > 3)  // whole UTC days only: older local days have sub-hour or pruned-hour edges
    }

    @Test func topNWithOtherGroupSumsTheRest() async throws {
        let fixture = try await Self.fixture.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        let from = Self.now.addingTimeInterval(-30 * 86400)
        let p = ReportParameters(from: from, to: Self.now, groupBy: [.model, .operation], limit: 3, timeZone: .gmt)
        let summary = try await service.summary(p, now: Self.now)
        #expect(summary.groups.count == 4)
        let other = try #require(summary.groups.last)
        #expect(other.other == true && other.key == ["model": "other", "operation": "other"])
        let expected = bruteForce(fixture.records, from: from, to: Self.now, groupBy: [.model, .operation])
        let top = Set(summary.groups.prefix(3).map { [$0.key["model"]!, $0.key["operation"]!] })
        var rest = RollupFigures()
        for (key, figures) in expected where !top.contains(key) { rest += figures }
        let restRecords = fixture.records.filter { !top.contains([$0.model, $0.record.operation]) }
        let restUsers = bruteForceUsers(restRecords, from: from, to: Self.now, groupBy: [])[[]] ?? 0
        #expect(other.figures == FigureBlock(rest, activeUsers: restUsers))
        #expect(summary.totals.requests == summary.groups.reduce(0) { $0 + $1.figures.requests })
    }

    @Test func timeseriesBucketsAddUpToTheSummary() async throws {
        let fixture = try await Self.fixture.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        for zone in ["UTC", "Asia/Kolkata"] {
            let tz = TimeZone(identifier: zone)!
            let from = ReportCalendar(timeZone: tz).startOfDay(Self.now.addingTimeInterval(-20 * 86400))
            let p = ReportParameters(from: from, to: Self.now, timeZone: tz)
            let series = try await service.timeseries(p, interval: .day, now: Self.now)
            let summary = try await service.summary(p, now: Self.now)
            #expect(series.series.count == 21)
            #expect(series.series.reduce(0) { $0 + $1.totals.cost_nano_usd } == summary.totals.cost_nano_usd)
            #expect(series.series.reduce(0) { $0 + $1.totals.requests } == summary.totals.requests)
            let weekly = try await service.timeseries(p, interval: .week, now: Self.now)
            #expect(weekly.series.reduce(0) { $0 + $1.totals.cost_nano_usd } == summary.totals.cost_nano_usd)
        }
    }
}
