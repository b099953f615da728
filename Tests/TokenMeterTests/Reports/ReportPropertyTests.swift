import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// Thousands of random records over 120 days (duplicates, pending then completed, raw data pruned);
/// for many random ranges, time zones and groupings every report figure equals a brute-force sum.
/// Every test runs on each store (SQLite and PostgreSQL: `StoreKind`) with the same expected answers.
@Suite("Reports equal brute-force sums", .serialized)
struct ReportPropertyTests {
    static let now = RFC3339.parse("2026-11-25T12:34:56.789Z")!
    static let retention = RetentionPolicy()
    static let zones = ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Moscow", "Australia/Adelaide", "America/Santiago",
                        "Australia/Lord_Howe"]
    /// Raw records end at the cutoff; the UTC day holding it mixes pruned and kept time, so edges
    /// are exact from the next UTC midnight on (QueryPlan.make).
    static let rawCutoff = Date(unixMilliseconds: retention.oldestKept(nil, now: now).unixMilliseconds)
    static let exactFrom = Date(unixMilliseconds: (rawCutoff.unixMilliseconds / Granularity.day.milliseconds + 1) * Granularity.day.milliseconds)

    struct Fixture: Sendable {
        let store: any UsageStore
        let records: [PricedRecord]
    }

    static func makeFixture(_ kind: StoreKind, seed: UInt64, count: Int) async throws -> Fixture {
        let store = try await kind.makeStore()
        // Users then get ordinals from 4081 on: their sets straddle the first chunk boundary (4096).
        if let store = store as? SQLiteStore {
            try await store.database.write { db in try db.execute(sql: "INSERT INTO user_ordinals (ordinal, user_id) VALUES (4080, '(seed)')") }
        } else if let store = store as? PostgresStore {
            try await store.execute("ALTER TABLE user_ordinals ALTER COLUMN ordinal RESTART WITH 4081")
        }
        var generator = RandomUsage(rng: SeededGenerator(seed: seed), start: now.addingTimeInterval(-120 * 86400), span: 120 * 86400 - 1)
        var truth: [String: PricedRecord] = [:]
        var ids: [String] = []
        // Calls without a user (they rank among the top "users" by cost) and a model with priced
        // and unpriced calls (o3), for top_users and share_of_tokens.
        var tweak = SeededGenerator(seed: seed ^ 0x5EED)
        func tweaked(_ record: PricedRecord) -> PricedRecord {
            var record = record
            if Int.random(in: 0..<6, using: &tweak) == 0 { record.record.userID = nil }
            if record.model == "o3", Bool.random(using: &tweak) {
                record.costNanoUSD = 0
                record.costSource = .unpriced
            }
            return record
        }
        for batch in 0..<(count / 500) {
            var records = (0..<500).map { i in tweaked(generator.record(id: "b\(batch)-\(i)")) }
            records += ids.suffix(20).map { tweaked(generator.record(id: $0)) }  // duplicates with other figures
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

    static let fixtures = [StoreKind.sqlite: Task { try await makeFixture(.sqlite, seed: 42, count: 5000) },
                           .sqliteInMemory: Task { try await makeFixture(.sqliteInMemory, seed: 42, count: 5000) },
                           .postgres: Task { try await makeFixture(.postgres, seed: 42, count: 5000) }]

    @Test(arguments: StoreKind.allCases)
    func randomRangesGroupingsAndZonesMatchBruteForce(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        var rng = SeededGenerator(seed: 7)
        var exactChecks = 0
        var userChecks = 0
        var oldUserChecks = 0  // exact users for ranges older than raw retention: from the day user sets
        var resourceChecks = 0  // exact answers grouped or filtered by resource_type, resource, resource_id or tags
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
            let original: [ReportDimension] = [.service, .operation, .category, .provider, .model, .status, .user, .plan]
            var groupBy = original.filter { _ in Int.random(in: 0..<4, using: &rng) == 0 }
            var filters: [ReportDimension: [String]] = [:]
            if Int.random(in: 0..<3, using: &rng) == 0 {
                filters[.model] = [RandomUsage.models.randomElement(using: &rng)!, RandomUsage.models.randomElement(using: &rng)!]
            }
            // Resource and tag filters, from their own generator (the ranges above stay as they were).
            var resourceRNG = SeededGenerator(seed: 7_000 + UInt64(iteration))
            groupBy += [ReportDimension.resourceType, .resource].filter { _ in Int.random(in: 0..<4, using: &resourceRNG) == 0 }
            var resourceIDs: [String]?
            var tags: [String: String] = [:]
            switch Int.random(in: 0..<8, using: &resourceRNG) {
            case 0: filters[.resourceType] = [RandomUsage.resourceTypes.randomElement(using: &resourceRNG)!]
            case 1: filters[.resourceType] = ["", "job"]
            case 2: filters[.resource] = ["session/r\(Int.random(in: 0..<30, using: &resourceRNG))", "job/r\(Int.random(in: 0..<30, using: &resourceRNG))"]
            case 3: resourceIDs = ["r\(Int.random(in: 0..<30, using: &resourceRNG))", "r\(Int.random(in: 0..<30, using: &resourceRNG))"]
            case 4: tags["env"] = RandomUsage.tagValues.randomElement(using: &resourceRNG)!
            case 5:
                tags["env"] = "prod"
                tags["team"] = "t\(Int.random(in: 0..<3, using: &resourceRNG))"
            default: break
            }
            if from < Self.exactFrom {
                // Older than raw retention only the rollup dimension: exact from rollups and day user sets.
                groupBy.removeAll { $0 == .resource }
                filters[.resource] = nil
                resourceIDs = nil
                tags = [:]
            }
            var p = ReportParameters(from: from, to: to, groupBy: groupBy, filters: filters, timeZone: zone)
            p.resourceIDs = resourceIDs
            p.tags = tags
            let summary = try await service.summary(p, now: Self.now)
            let withinRaw = from >= Self.exactFrom
            let utcDays = from.unixMilliseconds % Granularity.day.milliseconds == 0 && to.unixMilliseconds % Granularity.day.milliseconds == 0
            if withinRaw || (utcDays && groupBy.allSatisfy(\.inRollups) && filters.keys.allSatisfy(\.inRollups) && resourceIDs == nil && tags.isEmpty) {
                #expect(!summary.rounded, "\(RFC3339.format(from))..\(RFC3339.format(to)) should be exact")
                #expect(!summary.active_users_rounded, "\(RFC3339.format(from))..\(RFC3339.format(to)) users should be exact")
            }
            guard !summary.rounded else { continue }
            exactChecks += 1
            let resourceDimensions: Set<ReportDimension> = [.resourceType, .resource]
            if !tags.isEmpty || resourceIDs != nil || !resourceDimensions.isDisjoint(with: Set(groupBy).union(filters.keys)) { resourceChecks += 1 }
            let expected = bruteForce(fixture.records, from: from, to: to, groupBy: groupBy, filters: filters, resourceIDs: resourceIDs, tags: tags)
            let kept = fixture.records.filter { r in
                filters.allSatisfy { $0.value.contains(dimensionValue(r, $0.key)) } && matches(r, resourceIDs: resourceIDs, tags: tags)
            }
            if !withinRaw && !summary.active_users_rounded { oldUserChecks += 1 }
            let users = !summary.active_users_rounded ? bruteForceUsers(kept, from: from, to: to, groupBy: groupBy) : nil
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
                let totalUsers = bruteForceUsers(kept, from: from, to: to, groupBy: [])[[]] ?? 0
                #expect(summary.totals.active_users == totalUsers)
                _ = users
            }
        }
        #expect(exactChecks > 150)
        #expect(resourceChecks > 60)
        #expect(userChecks > 100)
        #expect(oldUserChecks > 1)  // whole UTC days only: older local days have sub-hour or pruned-hour edges
    }

    /// `resource_type` is a rollup key: whole UTC days older than raw retention are exact, grouped
    /// or filtered by it (raw records of those days are gone).
    @Test(arguments: StoreKind.allCases)
    func resourceTypeIsExactFromRollupsPastRawRetention(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        var rng = SeededGenerator(seed: 2121)
        let day = Granularity.day.milliseconds
        var oldChecks = 0
        for iteration in 0..<24 {
            let startDay = Int64.random(in: 0..<30, using: &rng)
            let from = Date(unixMilliseconds: (Self.now.addingTimeInterval(-120 * 86400).unixMilliseconds / day + startDay) * day)
            let to = Date(unixMilliseconds: from.unixMilliseconds + Int64.random(in: 1...40, using: &rng) * day)
            var p = ReportParameters(from: from, to: to, groupBy: iteration % 2 == 0 ? [.resourceType] : [.resourceType, .model], timeZone: .gmt)
            if iteration % 3 == 0 { p.filters[.resourceType] = [["", "session"], ["pipeline_run"], ["job", "session"]][iteration % 9 / 3] }
            let summary = try await service.summary(p, now: Self.now)
            #expect(!summary.rounded, "\(RFC3339.format(from))..\(RFC3339.format(to))")
            let expected = bruteForce(fixture.records, from: from, to: to, groupBy: p.groupBy, filters: p.filters)
            #expect(summary.groups.count == expected.count)
            for group in summary.groups {
                let key = p.groupBy.map { group.key[$0.rawValue] ?? "?" }
                #expect(group.figures.cost_nano_usd == expected[key]?.costNanoUSD && group.figures.requests == expected[key]?.requests, "\(key)")
            }
            if from < Self.rawCutoff { oldChecks += 1 }
        }
        #expect(oldChecks > 10)
    }

    @Test(arguments: StoreKind.allCases)
    func topNWithOtherGroupSumsTheRest(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
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

    @Test(arguments: StoreKind.allCases)
    func timeseriesBucketsAddUpToTheSummary(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
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

// MARK: - Local calendars, retention edges and every report

extension ReportPropertyTests {
    static let edgeZones = ["America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]

    static func covered(_ c: Coverage) -> (from: Date, to: Date) {
        func instant(_ text: String) -> Date { Date(unixMilliseconds: Int64((RFC3339.parse(text)!.timeIntervalSince1970 * 1000).rounded())) }
        return (instant(c.from), instant(c.to))
    }

    static func total(_ groups: [[String]: RollupFigures]) -> RollupFigures {
        var sum = RollupFigures()
        for figures in groups.values { sum += figures }
        return sum
    }

    /// A random range: around a DST change of the zones above, across the raw-retention cutoff, or anywhere.
    static func randomRange(_ interval: ReportService.Interval, using rng: inout SeededGenerator) -> (Date, Date) {
        let span: ClosedRange<Double> = switch interval {
        case .hour: 3_600...(5 * 86400)
        case .day: 86400...(40 * 86400)
        case .week: (7 * 86400)...(80 * 86400)
        case .month: (20 * 86400)...(119 * 86400)
        }
        let anchors = ["2026-09-06T03:30:00Z", "2026-10-03T15:30:00Z", "2026-09-05T14:00:00Z"].map { RFC3339.parse($0)! }
        let length = Double.random(in: span, using: &rng)
        let from: Date = switch Int.random(in: 0..<3, using: &rng) {
        case 0: anchors.randomElement(using: &rng)!.addingTimeInterval(-Double.random(in: 0...min(length, 3 * 86400), using: &rng))
        case 1: rawCutoff.addingTimeInterval(Double.random(in: (-3 * 86400)...(86400), using: &rng) - length / 2)
        default: now.addingTimeInterval(-Double.random(in: length...(120 * 86400), using: &rng))
        }
        return (Date(unixMilliseconds: from.unixMilliseconds), Date(unixMilliseconds: min(from.addingTimeInterval(length), now).unixMilliseconds))
    }

    @Test(arguments: StoreKind.allCases)
    func timeseriesOfEveryIntervalInDSTZonesIsExactOverWhatEachBucketCovers(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        var rng = SeededGenerator(seed: 18)
        var roundedBuckets = 0
        var exactBuckets = 0
        for iteration in 0..<48 {
            let interval = ReportService.Interval.allCases[iteration % 4]
            let zone = TimeZone(identifier: Self.edgeZones[(iteration / 4) % Self.edgeZones.count])!
            let (from, to) = Self.randomRange(interval, using: &rng)
            guard from < to else { continue }
            let groupBy: [ReportDimension] = Bool.random(using: &rng) ? [.model] : []
            let p = ReportParameters(from: from, to: to, groupBy: groupBy, timeZone: zone)
            let series = try await service.timeseries(p, interval: interval, now: Self.now)
            let expectedBuckets = try #require(ReportCalendar(timeZone: zone).buckets(ReportCalendar.Unit(rawValue: interval.rawValue)!, from: from, to: to))
            let label = "\(zone.identifier) \(interval) \(RFC3339.format(from))..\(RFC3339.format(to))"
            #expect(series.series.map(\.start) == expectedBuckets.map { RFC3339.format($0.start) }, "\(label)")
            #expect(series.series.map(\.end) == expectedBuckets.map { RFC3339.format($0.end) }, "\(label)")
            // The buckets' coverages tile: nothing counted twice, nothing the store holds dropped.
            for (a, b) in zip(series.series, series.series.dropFirst()) { #expect(a.coverage.to == b.coverage.from, "\(label)") }
            if let first = series.series.first, let last = series.series.last {
                #expect(Self.covered(first.coverage).from <= from && Self.covered(last.coverage).to >= to, "\(label)")
            }
            #expect(series.rounded == series.series.contains(where: \.rounded))
            for bucket in series.series {
                let range = Self.covered(bucket.coverage)
                #expect(bucket.rounded == (bucket.coverage.from != bucket.start || bucket.coverage.to != bucket.end), "\(label) \(bucket.start)")
                if RFC3339.parse(bucket.start)! >= Self.exactFrom { #expect(!bucket.rounded, "\(label) \(bucket.start)") }
                if bucket.rounded { roundedBuckets += 1 } else { exactBuckets += 1 }
                let expected = bruteForce(fixture.records, from: range.from, to: range.to, groupBy: groupBy)
                let sum = Self.total(expected)
                #expect(bucket.totals.cost_nano_usd == sum.costNanoUSD && bucket.totals.requests == sum.requests, "\(label) \(bucket.start)")
                #expect(bucket.totals == FigureBlock(sum, activeUsers: bucket.totals.active_users), "\(label) \(bucket.start)")
                if !bucket.rounded {
                    let users = bruteForceUsers(fixture.records, from: range.from, to: range.to, groupBy: [])[[]] ?? 0
                    #expect(bucket.totals.active_users == users, "\(label) \(bucket.start)")
                }
                if !groupBy.isEmpty {
                    #expect(bucket.groups.count == expected.count)
                    for group in bucket.groups {
                        #expect(group.figures == FigureBlock(expected[[group.key["model"]!]] ?? RollupFigures(), activeUsers: group.figures.active_users))
                    }
                }
            }
        }
        #expect(roundedBuckets > 20 && exactBuckets > 200)
    }

    @Test(arguments: StoreKind.allCases)
    func pastRawRetentionEveryReportIsExactOverWhatItCoversAndFlagsTheRest(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        var rng = SeededGenerator(seed: 1818)
        var leftOut = 0
        var roundedOutward = 0
        for _ in 0..<40 {
            let from = Date(unixMilliseconds: Self.rawCutoff.addingTimeInterval(Double.random(in: (-5 * 86400)...(86400), using: &rng)).unixMilliseconds)
            let to = Date(unixMilliseconds: from.addingTimeInterval(Double.random(in: 3600...(10 * 86400), using: &rng)).unixMilliseconds)
            let zone = TimeZone(identifier: Self.edgeZones.randomElement(using: &rng)!)!
            let groupBy: [ReportDimension] = [[], [.model], [.plan], [.user, .service]].randomElement(using: &rng)!
            let p = ReportParameters(from: from, to: to, groupBy: groupBy, timeZone: zone)
            let summary = try await service.summary(p, now: Self.now)
            let range = Self.covered(summary.coverage)
            let label = "\(groupBy) \(RFC3339.format(from))..\(RFC3339.format(to))"
            #expect(summary.rounded == (range.from != from || range.to != to), "\(label)")
            if groupBy.contains(where: { !$0.inRollups }) {
                // Needs raw records: the older part is left out, and said so.
                #expect(range.from == min(max(from, Self.rawCutoff), to) && range.to == to, "\(label)")
                if from < Self.rawCutoff { leftOut += 1 }
            } else {
                // From rollups: rounded outward to whole UTC days, never less than asked.
                #expect(range.from <= from && range.to >= to, "\(label)")
                if summary.rounded { roundedOutward += 1 }
            }
            let expected = bruteForce(fixture.records, from: range.from, to: range.to, groupBy: groupBy)
            #expect(summary.totals == FigureBlock(Self.total(expected), activeUsers: summary.totals.active_users), "\(label)")
            for group in summary.groups {
                let key = groupBy.map { group.key[$0.rawValue]! }
                #expect(group.figures == FigureBlock(expected[key] ?? RollupFigures(), activeUsers: group.figures.active_users), "\(label) \(key)")
            }

            // Economics: each section says what it covers and equals the raw records over it.
            let economics = try await service.economics(ReportParameters(from: from, to: to, timeZone: zone), creditValueUSD: 0.01, now: Self.now)
            #expect(economics.rounded == (from < Self.exactFrom || to < Self.exactFrom))
            let plans = Self.covered(economics.coverage.by_plan)
            #expect(plans.from == min(max(from, Self.rawCutoff), to))
            let byPlan = bruteForce(fixture.records, from: plans.from, to: plans.to, groupBy: [.plan])
            for margin in economics.by_plan {
                let f = byPlan[[margin.key]] ?? RollupFigures()
                #expect(margin.requests == f.requests && margin.credits == Money.value(fromMicro: f.creditsMicro), "plan \(margin.key) \(label)")
                #expect(margin.cost_usd == Money.usd(fromNano: f.costNanoUSD))
                #expect(margin.margin_usd == Money.value(fromMicro: f.creditsMicro) * 0.01 - Money.usd(fromNano: f.costNanoUSD))
            }
            let models = Self.covered(economics.coverage.by_model)
            #expect(models.from <= from && models.to >= to)
            let byModel = bruteForce(fixture.records, from: models.from, to: models.to, groupBy: [.model])
            #expect(economics.by_model.count == byModel.count)
            for margin in economics.by_model { #expect(margin.requests == byModel[[margin.key]]?.requests, "model \(margin.key) \(label)") }

            // One user's usage: the same rule as a user filter.
            let user = "user-\(Int.random(in: 0..<40, using: &rng))"
            let usage = try await service.userUsage(userID: user, ReportParameters(from: from, to: to, timeZone: zone), limitTimeZone: zone, now: Self.now)
            let userRange = Self.covered(usage.coverage)
            #expect(usage.rounded == (from < Self.rawCutoff) && userRange.from == min(max(from, Self.rawCutoff), to))
            let mine = bruteForce(fixture.records, from: userRange.from, to: userRange.to, groupBy: [.model], filters: [.user: [user]])
            #expect(usage.totals == FigureBlock(Self.total(mine), activeUsers: usage.totals.active_users), "\(user) \(label)")
            #expect(usage.models.count == mine.count)
        }
        #expect(leftOut > 5 && roundedOutward > 5)
    }

    @Test(arguments: StoreKind.allCases)
    func economicsTopUsersAndUnpricedShareMatchBruteForce(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<12 {
            let from = Date(unixMilliseconds: Self.now.addingTimeInterval(-Double.random(in: 86400...(80 * 86400), using: &rng)).unixMilliseconds)
            let to = Date(unixMilliseconds: min(Self.now, from.addingTimeInterval(Double.random(in: 3600...(20 * 86400), using: &rng))).unixMilliseconds)
            let limit = Int.random(in: 1...12, using: &rng)
            let p = ReportParameters(from: from, to: to, limit: limit, timeZone: .gmt)
            let economics = try await service.economics(p, creditValueUSD: nil, now: Self.now)
            #expect(!economics.rounded)
            let byUser = bruteForce(fixture.records, from: from, to: to, groupBy: [.user])
            let ranked = byUser.filter { $0.key != [""] }.sorted { a, b in
                a.value.costNanoUSD != b.value.costNanoUSD ? a.value.costNanoUSD > b.value.costNanoUSD
                    : a.value.requests != b.value.requests ? a.value.requests > b.value.requests : a.key.lexicographicallyPrecedes(b.key)
            }
            #expect(economics.top_users.map(\.user_id) == ranked.prefix(limit).map { $0.key[0] }, "limit \(limit)")
            #expect(economics.top_users.count == min(limit, ranked.count))
            // Every unpriced call's tokens, also o3's (which had priced calls too).
            let inRange = fixture.records.filter { $0.record.status != .pending && $0.record.timestamp >= from && $0.record.timestamp < to }
            let unpricedTokens = inRange.filter(\.unpriced).reduce(Int64(0)) { $0 + $1.record.tokens.total }
            let allTokens = inRange.reduce(Int64(0)) { $0 + $1.record.tokens.total }
            #expect(economics.unpriced.requests == Int64(inRange.filter(\.unpriced).count))
            #expect(economics.unpriced.share_of_tokens == Double(unpricedTokens) / Double(allTokens))
            #expect(economics.unpriced.share_of_requests == Double(inRange.filter(\.unpriced).count) / Double(inRange.count))
            #expect(Set(economics.unpriced.models) == Set(inRange.filter(\.unpriced).map(\.model)))
            #expect(economics.unpriced.models.contains("o3"))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func monitoringMatchesBruteForceInTheQueryZone(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let fixture = try await Self.fixtures[kind]!.value
        let service = ReportService(source: fixture.store, retention: Self.retention, maxGroups: 100_000)
        // A week over Santiago's skipped midnight (2026-09-06), and the 30 days before the fixture's now.
        let cases: [(String, String, Date)] = [
            ("7d", "America/Santiago", RFC3339.parse("2026-09-08T12:00:00Z")!), ("7d", "Australia/Lord_Howe", RFC3339.parse("2026-10-06T01:00:00Z")!),
            ("30d", "Asia/Kolkata", Self.now), ("24h", "America/Santiago", Self.now), ("30d", "UTC", Self.now),
        ]
        for (range, zoneName, now) in cases {
            let zone = TimeZone(identifier: zoneName)!
            let calendar = ReportCalendar(timeZone: zone)
            let report = try await service.monitoring(range: range, timeZone: zone, now: now)
            let days = ReportService.monitoringRanges[range]!
            let from = now.addingTimeInterval(-days * 86400)
            let to = now.addingTimeInterval(0.001)
            #expect(!report.rounded && report.tz == ReportCalendar.name(of: zone))
            let dayBuckets = try #require(calendar.buckets(.day, from: calendar.startOfDay(from), to: to))
            #expect(report.api_costs.by_day.map(\.date) == dayBuckets.map { calendar.dateLabel($0.start) }, "\(zoneName) \(range)")
            for (day, bucket) in zip(report.api_costs.by_day, dayBuckets) {
                let sum = Self.total(bruteForce(fixture.records, from: max(bucket.start, from), to: bucket.end, groupBy: []))
                #expect(day.requests == sum.requests && day.tokens == sum.tokens.total && day.cost == Money.usd(fromNano: sum.costNanoUSD), "\(zoneName) \(day.date)")
            }
            let sum = Self.total(bruteForce(fixture.records, from: from, to: to, groupBy: []))
            #expect(report.api_costs.total_requests == sum.requests && report.api_costs.total_cost == Money.usd(fromNano: sum.costNanoUSD))
            func users(_ since: Date, paying: Bool = false) -> Int {
                Set(fixture.records.filter { $0.record.status != .pending && $0.record.timestamp >= since && $0.record.timestamp < to
                        && (!paying || $0.record.paying == true) }.compactMap(\.record.userID)).count
            }
            #expect(report.active_users.dau == users(now.addingTimeInterval(-86400)))
            let monthKept = now.addingTimeInterval(-30 * 86400) >= Self.rawCutoff  // the fixture was pruned at its own now
            if monthKept { #expect(report.active_users.mau == users(now.addingTimeInterval(-30 * 86400))) }
            // Decided: an active paying user made a paying call inside the range.
            let active = users(from)
            let activePaying = users(from, paying: true)
            #expect(report.unit_economics.active_users == active && report.unit_economics.active_paying_users == activePaying)
            if monthKept { #expect(report.unit_economics.paying_users == users(now.addingTimeInterval(-30 * 86400), paying: true)) }
            let cost = Money.usd(fromNano: sum.costNanoUSD)
            #expect(report.unit_economics.cost_per_active_user == cost / Double(active))
            #expect(report.unit_economics.cost_per_paying_user == cost / Double(activePaying))
            #expect(report.error_stats.error_rate == Double(sum.errors) / Double(sum.requests))
            #expect(report.error_stats.avg_response_time_ms == Double(sum.durationMicrosSum) / Double(sum.durationCount) / 1000)
        }
        // An empty window has no ratios: null, not 1 or 0.
        let empty = try await service.monitoring(range: "24h", timeZone: .gmt, now: Self.now.addingTimeInterval(400 * 86400))
        #expect(empty.unit_economics.cost_per_active_user == nil && empty.unit_economics.cost_per_paying_user == nil)
        #expect(empty.error_stats.error_rate == nil && empty.error_stats.avg_response_time_ms == nil)
        let nothing = try await service.summary(ReportParameters(from: Self.now.addingTimeInterval(3600), to: Self.now.addingTimeInterval(7200), timeZone: .gmt), now: Self.now)
        #expect(nothing.totals.success_rate == nil && nothing.totals.avg_duration_ms == nil)
    }
}

extension ReportPropertyTests {
    /// Raw records kept 10 days, hour rollups 30: past the raw cutoff edges round to hours, past
    /// the hour cutoff to days; every answer is exact over what it says it covers, and timeseries
    /// buckets tile.
    @Test(arguments: StoreKind.allCases)
    func hourRollupsOutlivingRawRecordsRoundToHoursAndBucketsTile(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let retention = RetentionPolicy(rawDays: 10, minuteRollupDays: 2, hourRollupDays: 30)
        let store = try await kind.makeStore()
        var generator = RandomUsage(rng: SeededGenerator(seed: 1010), start: Self.now.addingTimeInterval(-40 * 86400), span: 40 * 86400 - 1)
        var records: [PricedRecord] = []
        for batch in 0..<6 {
            let chunk = (0..<500).map { generator.record(id: "s\(batch)-\($0)") }
            for (record, outcome) in zip(chunk, try await store.commit(chunk)) where outcome == .accepted { records.append(record) }
        }
        _ = try await store.prune(retention: retention, now: Self.now)
        let service = ReportService(source: store, retention: retention, maxGroups: 100_000)
        let rawCutoff = Date(unixMilliseconds: retention.oldestKept(nil, now: Self.now).unixMilliseconds)
        let hourCutoff = retention.oldestKept(.hour, now: Self.now)
        var rng = SeededGenerator(seed: 2020)
        var hourRounded = 0
        for iteration in 0..<60 {
            let from = Date(unixMilliseconds: Self.now.addingTimeInterval(-Double.random(in: (5 * 86400)...(40 * 86400), using: &rng)).unixMilliseconds)
            let to = Date(unixMilliseconds: min(Self.now, from.addingTimeInterval(Double.random(in: 3600...(12 * 86400), using: &rng))).unixMilliseconds)
            let zone = TimeZone(identifier: Self.edgeZones[iteration % Self.edgeZones.count])!
            let groupBy: [ReportDimension] = [[], [.model], [.plan]][iteration % 3]
            let p = ReportParameters(from: from, to: to, groupBy: groupBy, timeZone: zone)
            let summary = try await service.summary(p, now: Self.now)
            let range = Self.covered(summary.coverage)
            let label = "\(groupBy) \(RFC3339.format(from))..\(RFC3339.format(to))"
            #expect(summary.rounded == (range.from != from || range.to != to), "\(label)")
            #expect(summary.totals == FigureBlock(Self.total(bruteForce(records, from: range.from, to: range.to, groupBy: [])),
                                                  activeUsers: summary.totals.active_users), "\(label)")
            if groupBy == [.plan] {
                #expect(range.from == min(max(from, rawCutoff), to), "\(label)")
            } else {
                #expect(range.from <= from && range.to >= to, "\(label)")
                if from < rawCutoff && from >= hourCutoff.addingTimeInterval(3600) {
                    // Raw is gone but the hour rollups hold the edge: rounded to the hour, not the day.
                    #expect(range.from.unixMilliseconds == from.unixMilliseconds / Granularity.hour.milliseconds * Granularity.hour.milliseconds, "\(label)")
                    hourRounded += 1
                }
            }
            let interval: ReportService.Interval = to.timeIntervalSince(from) < 3 * 86400 ? .hour : .day
            let series = try await service.timeseries(p, interval: interval, now: Self.now)
            // Rollup answers tile; raw-only answers leave out what is older (an empty coverage at the bucket's end).
            let nonEmpty = series.series.filter { $0.coverage.from != $0.coverage.to }
            for (a, b) in zip(nonEmpty, nonEmpty.dropFirst()) { #expect(a.coverage.to == b.coverage.from, "\(label) \(interval)") }
            for bucket in series.series {
                let covered = Self.covered(bucket.coverage)
                if groupBy == [.plan] { #expect(covered.from == min(max(RFC3339.parse(bucket.start)!, rawCutoff), RFC3339.parse(bucket.end)!)) }
                let expected = bruteForce(records, from: covered.from, to: covered.to, groupBy: [])
                #expect(bucket.totals == FigureBlock(Self.total(expected), activeUsers: bucket.totals.active_users),
                        "\(label) \(interval) \(zone.identifier) \(bucket.start)..\(bucket.end) covers \(bucket.coverage)")
            }
        }
        #expect(hourRounded > 5)
    }
}
