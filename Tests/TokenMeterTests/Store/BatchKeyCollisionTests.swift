import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// One batch whose rows meet in the same rollup, user-set and lifetime rows, with an id repeated
/// inside the batch and an id already stored: a multi-row upsert that touched a key twice would fail
/// the whole batch ("ON CONFLICT DO UPDATE command cannot affect row a second time"), and a repeat
/// counted twice would inflate the rollups. Run on every store with the same expected answers.
@Suite("Store contract: rows of one batch sharing a key")
struct BatchKeyCollisionTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!

    @Test(arguments: StoreKind.allCases)
    func sameRollupKeyAndARepeatedIdInOneBatchAreCountedOnceEach(_ kind: StoreKind) async throws {
        guard try kind.available() else { return }
        let store = try await kind.makeStore()
        var generator = RandomUsage(rng: SeededGenerator(seed: 19), start: Self.now.addingTimeInterval(-7200), span: 1)
        var a = generator.record(id: "a", status: .success)
        a.record.userID = "u1"
        // b and c: a's twin under new ids, so all three share every rollup, user-set and lifetime key.
        var b = a
        b.record.id = "b"
        var c = a
        c.record.id = "c"
        var other = generator.record(id: "d", status: .success)
        other.record.userID = "u2"
        #expect(try await store.commit([a]) == [.accepted])
        let results = try await store.commit([b, a, b, c, other, c])
        #expect(results == [.accepted, .duplicate, .duplicate, .accepted, .accepted, .duplicate], "\(kind)")
        let stored = [a, b, c, other]
        let from = Date(unixMilliseconds: Granularity.day.bucket(Self.now.addingTimeInterval(-86400).unixMilliseconds))
        let all: [ReportDimension] = [.service, .operation, .category, .provider, .model, .status]
        for groupBy in [[], all, [.user]] as [[ReportDimension]] {
            // Whole days (rollups), and a range ending mid-hour (raw records at the edge).
            for to in [from.addingTimeInterval(2 * 86400), Self.now.addingTimeInterval(-1800)] {
                let query = FigureQuery(from: from, to: to, groupBy: groupBy)
                let figures = try await store.figures(query, retention: RetentionPolicy(), now: Self.now)
                #expect(figures.groups.filter { $0.value.requests > 0 } == bruteForce(stored, from: from, to: to, groupBy: groupBy), "\(kind) \(groupBy)")
            }
        }
        let users = try await store.activeUsers(FigureQuery(from: from, to: from.addingTimeInterval(2 * 86400)), paying: nil,
                                                retention: RetentionPolicy(), now: Self.now)
        #expect(users.total == 2, "\(kind)")
        var totals = UsageTotalsSum()
        for t in try await store.lifetimeTotals() { totals.add(t) }
        var expected = UsageTotalsSum()
        for r in stored { expected.add(UsageTotals(r)) }
        #expect(totals == expected, "\(kind) lifetime totals")
    }
}
