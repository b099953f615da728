import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// What every store guarantees, run against each store (SQLite and PostgreSQL) with the same
/// expected answers: idempotent inserts, completions, figures and exact active users equal to
/// brute-force sums over the records kept, lifetime totals, price changes, pruning.
@Suite("Store contract, on every store")
struct StoreContractTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!

    /// Random batches with duplicates (stored ones and repeats inside a batch), pending records then
    /// completed: figures for whole days, odd ranges and every grouping equal the brute-force sums;
    /// distinct users are exact; lifetime totals equal the sums over every completed record.
    @Test(arguments: StoreKind.allCases)
    func figuresUsersAndTotalsEqualBruteForce(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let store = try await kind.makeStore()
        let records = try await Self.load(store, seed: 7)
        let retention = RetentionPolicy()
        let day = Granularity.day.milliseconds
        let startDay = Date(unixMilliseconds: Granularity.day.bucket(Self.now.addingTimeInterval(-5 * 86400).unixMilliseconds))
        let ranges: [(Date, Date)] = [
            (startDay, Date(unixMilliseconds: startDay.unixMilliseconds + 6 * day)),
            (startDay.addingTimeInterval(3 * 3600 + 17), Self.now),
            (Self.now.addingTimeInterval(-86400 - 61), Self.now.addingTimeInterval(-3599)),
        ]
        let groupings: [[ReportDimension]] = [[], [.model], [.service, .operation, .category, .provider, .model, .status], [.user], [.plan, .model]]
        for (from, to) in ranges {
            for groupBy in groupings {
                let query = FigureQuery(from: from, to: to, groupBy: groupBy)
                let result = try await store.figures(query, retention: retention, now: Self.now)
                #expect(result.groups.filter { $0.value.requests > 0 } == bruteForce(records, from: from, to: to, groupBy: groupBy),
                        "\(kind) figures \(groupBy) \(from)…\(to)")
                let users = try await store.activeUsers(query, paying: nil, retention: retention, now: Self.now)
                #expect(users.groups.mapValues(\.count).filter { $0.value > 0 } == bruteForceUsers(records, from: from, to: to, groupBy: groupBy),
                        "\(kind) active users \(groupBy) \(from)…\(to)")
            }
            let paying = try await store.activeUsers(FigureQuery(from: from, to: to), paying: true, retention: retention, now: Self.now)
            let expected = Set(records.filter { $0.record.status != .pending && $0.record.paying == true && $0.record.timestamp >= from
                && $0.record.timestamp < to }.compactMap(\.record.userID)).count
            #expect(paying.total == expected, "\(kind) paying users")
        }
        let filtered = FigureQuery(from: startDay, to: Self.now, groupBy: [.operation], filters: [.model: ["o3", "gpt-4o-mini"]])
        #expect(try await store.figures(filtered, retention: retention, now: Self.now).groups.filter { $0.value.requests > 0 }
            == bruteForce(records, from: startDay, to: Self.now, groupBy: [.operation], filters: [.model: ["o3", "gpt-4o-mini"]]))
        var totals = UsageTotalsSum()
        for t in try await store.lifetimeTotals() { totals.add(t) }
        var expected = UsageTotalsSum()
        for r in records where r.record.status != .pending { expected.add(UsageTotals(r)) }
        #expect(totals == expected, "\(kind) lifetime totals")
    }

    @Test(arguments: StoreKind.allCases)
    func completionsAreFoundOnceAndRejectedAlone(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let store = try await kind.makeStore()
        let pricing = PricingService(base: [])
        var generator = RandomUsage(rng: SeededGenerator(seed: 3), start: Self.now.addingTimeInterval(-3600), span: 1800)
        let pending = generator.record(id: "p1", status: .pending)
        #expect(try await store.commit([pending]) == [.accepted])
        #expect(try await store.pendingCounts().reduce(0) { $0 + $1.count } == 1)
        let done = RecordCompletion(status: .success, tokenFields: ["output_tokens": .int(10), "reasoning_tokens": .int(0)], durationMs: 5)
        #expect(try await store.complete(id: "nope", with: done, reprice: { pricing.price($0) }) == .notFound)
        guard case .completed(let priced, let model) = try await store.complete(id: "p1", with: done, reprice: { pricing.price($0) }) else {
            Issue.record("\(kind): not completed")
            return
        }
        #expect(model == pending.model && priced.record.tokens.output == 10)
        #expect(try await store.complete(id: "p1", with: done, reprice: { pricing.price($0) }) == .alreadyCompleted(.success))
        #expect(try await store.pendingCounts().isEmpty)
        // In one batch: an insert, its completion, and a completion whose record arrives later.
        let later = generator.record(id: "p2", status: .pending)
        let results = try await store.write([
            .complete(id: "p2", completion: done, reprice: { pricing.price($0) }),
            .insert(later),
            .insert(generator.record(id: "p3", status: .pending)),
            .complete(id: "p3", completion: done, reprice: { pricing.price($0) }),
            .complete(id: "p1", completion: done, reprice: { _ in throw NormalizationError("does not fit") }),
        ])
        #expect(results[0] == .notFound && results[1] == .accepted && results[2] == .accepted)
        if case .completed = results[3] {} else { Issue.record("\(kind): p3 not completed in its own batch: \(results[3])") }
        #expect(results[4] == .alreadyCompleted(.success))
    }

    @Test(arguments: StoreKind.allCases)
    func priceChangesRoundTripInOrder(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let store = try await kind.makeStore()
        let entry = PriceEntry(model: "m-1", provider: "p")
        var later = entry
        later.validFrom = Self.now
        let changes: [PriceChange] = [.put(entry), .imported(entry), .put(later), .delete(model: "m-1", validFrom: Self.now)]
        try await store.savePriceChanges(changes)
        // The later put of the same version is superseded by its delete (the log keeps what a replay needs).
        #expect(try await store.loadPriceChanges() == [.put(entry), .imported(entry), .delete(model: "m-1", validFrom: Self.now)])
        try await store.savePriceChanges([.delete(model: "m-1", validFrom: nil)])
        #expect(try await store.loadPriceChanges() == [.imported(entry), .delete(model: "m-1", validFrom: nil)])
    }

    @Test(arguments: StoreKind.allCases)
    func pruningKeepsCoarserRollupsExact(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let store = try await kind.makeStore()
        let records = try await Self.load(store, seed: 11)
        let retention = RetentionPolicy(rawDays: 2, minuteRollupDays: 1, hourRollupDays: 3)
        let summary = try await store.prune(retention: retention, now: Self.now)
        #expect(summary.records > 0 && summary.minuteRows > 0 && summary.hourRows > 0, "\(kind) \(summary)")
        // Whole days are answered from day rollups, which are never pruned.
        let from = Date(unixMilliseconds: Granularity.day.bucket(Self.now.addingTimeInterval(-5 * 86400).unixMilliseconds))
        let to = Date(unixMilliseconds: Granularity.day.bucket(Self.now.unixMilliseconds))
        let result = try await store.figures(FigureQuery(from: from, to: to, groupBy: [.model]), retention: retention, now: Self.now)
        #expect(result.groups.filter { $0.value.requests > 0 } == bruteForce(records, from: from, to: to, groupBy: [.model]), "\(kind)")
    }

    /// 20 batches of 100 random records plus duplicates; half the pending records completed.
    static func load(_ store: any UsageStore, seed: UInt64) async throws -> [PricedRecord] {
        var generator = RandomUsage(rng: SeededGenerator(seed: seed), start: now.addingTimeInterval(-5 * 86400), span: 5 * 86400)
        var truth: [String: PricedRecord] = [:]
        for batch in 0..<20 {
            var records = (0..<100).map { generator.record(id: "r\(batch)-\($0)") }
            if let old = truth.keys.sorted().first { records.append(generator.record(id: old)) }
            records.append(generator.record(id: "r\(batch)-0"))
            for (record, outcome) in zip(records, try await store.commit(records)) where outcome == .accepted {
                #expect(truth[record.record.id] == nil)
                truth[record.record.id] = record
            }
        }
        let pricing = PricingService(base: [])
        var flip = false
        for (id, record) in truth.sorted(by: { $0.key < $1.key }) where record.record.status == .pending {
            flip.toggle()
            guard flip else { continue }
            let completion = RecordCompletion(status: .error, tokenFields: ["output_tokens": .int(7777), "reasoning_tokens": .int(7)], durationMs: 12)
            if case .completed(let priced, _) = try await store.complete(id: id, with: completion, reprice: { pricing.price($0) }) {
                truth[id] = priced
            }
        }
        return Array(truth.values)
    }
}

/// Lifetime totals summed per (dimensions, status, error type), for comparing stores' totals.
struct UsageTotalsSum: Equatable {
    var sums: [[String]: [Int64]] = [:]

    mutating func add(_ t: UsageTotals) {
        let key = [t.service, t.operation, t.category, t.provider, t.model, t.status.rawValue, t.errorType ?? ""]
        let values = [t.requests, t.tokens.input, t.tokens.cachedInput, t.tokens.cacheWrite, t.tokens.output, t.tokens.reasoning,
                      t.costNanoUSD, t.creditsMicro, t.unpricedRequests]
        sums[key] = zip(sums[key] ?? Array(repeating: 0, count: values.count), values).map { $0 + $1 }
    }

    var grand: [Int64] { sums.values.reduce(Array(repeating: 0, count: 9)) { zip($0, $1).map { $0 + $1 } } }
}
