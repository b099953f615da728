import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Rollups equal the sums over raw records")
struct RollupConsistencyTests {
    /// Random inserts (some duplicates), pending records completed later, then pruning: every
    /// rollup granularity still equals the brute-force sums over the records that were kept.
    @Test(arguments: [UInt64(1), 2, 3])
    func rollupsMatchRawSumsAfterDuplicatesCompletionsAndPruning(seed: UInt64) async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("r.sqlite").path, synchronous: .normal)
        let now = RFC3339.parse("2026-11-25T12:00:00Z")!
        var generator = RandomUsage(rng: SeededGenerator(seed: seed), start: now.addingTimeInterval(-5 * 86400), span: 5 * 86400)
        var truth: [String: PricedRecord] = [:]
        for batch in 0..<20 {
            var records: [PricedRecord] = []
            for i in 0..<100 {
                let id = "r\(batch)-\(i)"
                records.append(generator.record(id: id))
            }
            // Duplicates: ids already stored, and one repeated inside the batch, with different figures.
            if let old = truth.keys.sorted().first { records.append(generator.record(id: old)) }
            records.append(generator.record(id: "r\(batch)-0"))
            let outcomes = try await store.commit(records)
            for (record, outcome) in zip(records, outcomes) where outcome == .accepted {
                #expect(truth[record.record.id] == nil)
                truth[record.record.id] = record
            }
            #expect(outcomes.filter { $0 == .duplicate }.count == (truth.count > 100 ? 2 : 1))
        }
        // Complete every pending record: half success, half error, with new token counts.
        let pricing = PricingService(base: [])
        for (id, record) in truth.sorted(by: { $0.key < $1.key }) where record.record.status == .pending {
            let status: RecordStatus = id.hashValue % 2 == 0 ? .success : .error
            let completion = RecordCompletion(status: status, tokenFields: ["output_tokens": .int(7777), "reasoning_tokens": .int(7)], durationMs: 12)
            guard case .completed(let priced, _) = try await store.complete(id: id, with: completion, reprice: { pricing.price($0) }) else {
                Issue.record("not completed")
                continue
            }
            truth[id] = priced
            let again = try await store.complete(id: id, with: completion, reprice: { pricing.price($0) })
            #expect(again == .alreadyCompleted(status))
        }
        let records = Array(truth.values)
        try await Self.expectRollupsMatch(store, records)

        // Prune with a short retention: raw records and fine rollups go, coarser rollups stay exact.
        let retention = RetentionPolicy(rawDays: 2, minuteRollupDays: 1, hourRollupDays: 3)
        let summary = try await store.prune(retention: retention, now: now)
        #expect(summary.records > 0 && summary.minuteRows > 0 && summary.hourRows > 0)
        let rawLeft = try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM usage_records")! }
        #expect(rawLeft == records.filter { $0.record.timestamp >= now.addingTimeInterval(-2 * 86400) }.count)
        try await Self.expectRollupsMatch(store, records, keptFrom: [
            .minute: now.addingTimeInterval(-86400), .hour: now.addingTimeInterval(-3 * 86400), .day: .distantPast,
        ])
    }

    static func expectRollupsMatch(_ store: SQLiteStore, _ records: [PricedRecord], keptFrom: [Granularity: Date] = [:]) async throws {
        for granularity in Granularity.allCases {
            let cutoff = keptFrom[granularity] ?? .distantPast
            var expected: [[String]: RollupFigures] = [:]
            for record in records where record.record.status != .pending {
                let bucket = granularity.bucket(record.record.timestamp.unixMilliseconds)
                guard bucket >= cutoff.unixMilliseconds || keptFrom.isEmpty else { continue }
                let d = RollupDimensions(record)
                expected[[String(bucket), d.service, d.operation, d.category, d.provider, d.model, d.status, d.resourceType], default: RollupFigures()] += RollupFigures(record)
            }
            let table = StoreSchema.rollupTables[granularity]!
            let actual = try await store.database.read { db -> [[String]: RollupFigures] in
                var result: [[String]: RollupFigures] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table)") {
                    let key: [String] = [String(row["bucket"] as Int64), row["service"], row["operation"], row["category"], row["provider"], row["model"], row["status"], row["resource_type"]]
                    result[key] = RollupFigures(columnValues: StoreSchema.figureColumns.map { row[$0] as Int64 })
                }
                return result
            }
            #expect(actual.count == expected.count, "\(granularity)")
            #expect(actual == expected, "\(granularity) rollups differ from the raw sums")
        }
    }
}

@Suite("Query planner")
struct QueryPlannerTests {
    static let day = Granularity.day.milliseconds
    static let hour = Granularity.hour.milliseconds
    static let minute = Granularity.minute.milliseconds

    @Test func wholeDaysComeFromDayRollupsAndEdgesFromFinerData() {
        let from = 10 * Self.day + 3 * Self.hour + 7 * Self.minute + 500
        let to = 40 * Self.day + 5 * Self.hour + 9 * Self.minute + 1
        let plan = QueryPlan.make(from: from, to: to) { _ in Int64.min }
        #expect(!plan.rounded)
        #expect(plan.segments.contains(.init(source: .rollup(.day), from: 11 * Self.day, to: 40 * Self.day)))
        #expect(plan.segments.contains(.init(source: .rollup(.hour), from: 10 * Self.day + 4 * Self.hour, to: 11 * Self.day)))
        #expect(plan.segments.contains(.init(source: .rollup(.hour), from: 40 * Self.day, to: 40 * Self.day + 5 * Self.hour)))
        #expect(plan.segments.contains(.init(source: .raw, from: from, to: 10 * Self.day + 3 * Self.hour + 8 * Self.minute)))
        #expect(plan.segments.contains(.init(source: .raw, from: 40 * Self.day + 5 * Self.hour + 9 * Self.minute, to: to)))
        // Contiguous, no overlap, covering [from, to).
        #expect(plan.segments.first?.from == from && plan.segments.last?.to == to)
        for (a, b) in zip(plan.segments, plan.segments.dropFirst()) { #expect(a.to == b.from) }
        // Raw records are only read for less than a minute on each side.
        #expect(plan.segments.filter { $0.source == .raw }.allSatisfy { $0.to - $0.from < Self.minute })
    }

    @Test func prunedMinutesFallBackToRawAndPrunedRawRounds() {
        let from = 100 * Self.day + 3 * Self.hour + 7 * Self.minute
        let to = 101 * Self.day
        // Minute rollups kept only from day 200, raw from day 50: the 7 minutes come from raw.
        let plan = QueryPlan.make(from: from, to: to) { source in
            switch source {
            case .rollup(.minute): 200 * Self.day
            case .raw: 50 * Self.day
            default: Int64.min
            }
        }
        #expect(!plan.rounded)
        #expect(plan.segments.contains(.init(source: .raw, from: from, to: 100 * Self.day + 4 * Self.hour)))
        // Raw gone too: the edges are rounded outward to the hour rollups that hold them.
        let rounded = QueryPlan.make(from: from, to: to) { source in
            switch source {
            case .rollup(.minute): 200 * Self.day
            case .raw: 200 * Self.day
            default: Int64.min
            }
        }
        #expect(rounded.rounded)
        #expect(rounded.segments == [.init(source: .rollup(.hour), from: 100 * Self.day + 3 * Self.hour, to: 101 * Self.day)])
        #expect(rounded.coveredFrom == 100 * Self.day + 3 * Self.hour && rounded.coveredTo == 101 * Self.day)
    }
}

extension QueryPlannerTests {
    @Test func roundingNeverOverlapsTheSegmentsThatFollow() {
        // Raw kept from 20:17 on day 100, hours from 21:00: a range from 06:00 that day must not
        // round its inner edge up to midnight (that would count 20:17..24:00 twice).
        let rawFrom = 100 * Self.day + 20 * Self.hour + 17 * Self.minute
        let from = 100 * Self.day + 6 * Self.hour
        let to = 130 * Self.day
        let plan = QueryPlan.make(from: from, to: to) { source in
            switch source {
            case .raw: rawFrom
            case .rollup(.minute): 128 * Self.day
            case .rollup(.hour): 100 * Self.day + 21 * Self.hour
            case .rollup(.day): Int64.min
            }
        }
        #expect(plan.rounded)
        for (a, b) in zip(plan.segments, plan.segments.dropFirst()) { #expect(a.to <= b.from, "\(a) overlaps \(b)") }
        #expect(plan.segments.last?.to == to)
        // The day that holds the cutoff comes whole from its day rollup: nothing it holds is dropped.
        #expect(plan.segments.first == .init(source: .rollup(.day), from: 100 * Self.day, to: 101 * Self.day))
        #expect(plan.coveredFrom == 100 * Self.day && plan.coveredTo == to)
        for (a, b) in zip(plan.segments, plan.segments.dropFirst()) { #expect(a.to == b.from, "gap between \(a) and \(b)") }
    }
}
