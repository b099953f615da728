import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Price-change log")
struct PriceChangeLogTests {
    /// The quadratic replay this project used first: the reference the linear one must equal.
    static func referenceApply(_ changes: [PriceChange], to base: [PriceEntry]) -> [PriceEntry] {
        var entries = base
        for change in changes {
            switch change {
            case .put(let entry):
                entries.removeAll { $0.model == entry.model && $0.validFrom == entry.validFrom }
                entries.append(entry)
            case .delete(let model, let validFrom):
                let model = model.lowercased()
                entries.removeAll { $0.model == model && (validFrom == nil || $0.validFrom == validFrom) }
            case .imported, .replaceShipped:
                break  // the random logs below hold the operator's puts and deletes only
            }
        }
        return entries
    }

    static func randomChanges(_ count: Int, seed: UInt64) -> [PriceChange] {
        var rng = SeededGenerator(seed: seed)
        let models = ["gpt-4o", "m1", "m2", "claude-x"]
        let dates: [Date?] = [nil, Date(timeIntervalSince1970: 1_700_000_000), Date(timeIntervalSince1970: 1_750_000_000)]
        return (0..<count).map { i in
            let model = models[Int(rng.next() % UInt64(models.count))]
            let validFrom = dates[Int(rng.next() % UInt64(dates.count))]
            switch rng.next() % 10 {
            case 0: return .delete(model: model, validFrom: nil)
            case 1, 2: return .delete(model: model, validFrom: validFrom)
            default:
                return .put(PriceEntry(model: model, provider: "p", dailyLimit: i, validFrom: validFrom))
            }
        }
    }

    static var base: [PriceEntry] {
        [PriceEntry(model: "gpt-4o", provider: "openai", dailyLimit: -1),
         PriceEntry(model: "gpt-4o", provider: "openai", dailyLimit: -2, validFrom: Date(timeIntervalSince1970: 1_700_000_000)),
         PriceEntry(model: "claude-x", provider: "anthropic", dailyLimit: -3)]
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func linearReplayEqualsTheReference(seed: UInt64) {
        let changes = Self.randomChanges(400, seed: seed)
        #expect(Self.sorted(PriceChange.apply(changes, to: Self.base)) == Self.sorted(Self.referenceApply(changes, to: Self.base)))
    }

    /// The versions, in a fixed order (the catalog looks entries up by name, not by position).
    static func sorted(_ entries: [PriceEntry]) -> [PriceEntry] { entries.sorted { $0.version < $1.version } }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func theCompactedStoredLogReplaysLikeEveryChangeEverMade(seed: UInt64) async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("log.sqlite").path, synchronous: .normal)
        let changes = Self.randomChanges(300, seed: seed)
        var offset = 0
        var rng = SeededGenerator(seed: seed)
        while offset < changes.count {
            let size = Int(rng.next() % 20) + 1
            try await store.savePriceChanges(Array(changes[offset..<min(changes.count, offset + size)]))
            offset += size
        }
        let stored = try await store.loadPriceChanges()
        #expect(stored.count < 40, "the log keeps about one row per live version, not \(stored.count)")
        #expect(Self.sorted(PriceChange.apply(stored, to: Self.base)) == Self.sorted(Self.referenceApply(changes, to: Self.base)))
    }

    @Test func twentyThousandChangesToOneModelLeaveOneRow() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("many.sqlite").path, synchronous: .normal)
        for round in 0..<20 {
            try await store.savePriceChanges((0..<1000).map { .put(PriceEntry(model: "m", provider: "p", dailyLimit: round * 1000 + $0)) })
        }
        let stored = try await store.loadPriceChanges()
        #expect(stored == [.put(PriceEntry(model: "m", provider: "p", dailyLimit: 19_999))])
    }
}

@Suite("Price-change log layers")
struct PriceChangeLogLayerTests {
    @Test func compactionKeepsEachLayerAsTheReplayReadsIt() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("layers.sqlite").path, synchronous: .normal)
        let base = [PriceEntry(model: "a", provider: "p", dailyLimit: 0)]
        let changes: [PriceChange] = [
            .imported(PriceEntry(model: "a", provider: "p", dailyLimit: 1)),
            .put(PriceEntry(model: "a", provider: "p", dailyLimit: 2)),        // the operator's: wins over imports
            .imported(PriceEntry(model: "a", provider: "p", dailyLimit: 3)),   // a later import stays under it
            .imported(PriceEntry(model: "b", provider: "p", dailyLimit: 4)),
            .delete(model: "b", validFrom: nil),                              // the operator deletes an imported model
            .imported(PriceEntry(model: "b", provider: "p", dailyLimit: 5)),   // and a later import does not bring it back
            .replaceShipped(catalogVersion: "1", entries: [PriceEntry(model: "c", provider: "p", dailyLimit: 6)]),
            .replaceShipped(catalogVersion: "2", entries: [PriceEntry(model: "d", provider: "p", dailyLimit: 7)]),
        ]
        for change in changes { try await store.savePriceChanges([change]) }
        let stored = try await store.loadPriceChanges()
        #expect(PriceChangeLogTests.sorted(PriceChange.apply(stored, to: base))
                == PriceChangeLogTests.sorted(PriceChange.apply(changes, to: base)))
        #expect(stored.count == 5, "superseded imports and the earlier update are dropped: \(stored)")
    }
}
