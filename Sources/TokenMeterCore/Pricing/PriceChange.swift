import Foundation

/// A run-time change to the catalog. Changes are kept in order (and persisted by the store) and
/// replayed over the shipped default catalog in layers: shipped (or its refresh by `prices update`)
/// < imported < the operator's own changes, so an import never overrides what an operator set, and
/// defaults can be upgraded without losing either.
public enum PriceChange: Sendable, Equatable {
    /// The operator's: adds or replaces the version of `entry.model` with the same `valid_from`.
    case put(PriceEntry)
    /// The operator's: removes one version of a model, or every version when `validFrom` is nil.
    case delete(model: String, validFrom: Date?)
    /// From an import (LiteLLM or a catalog file): over the shipped layer, under the operator's.
    /// A shipped model of the same name keeps its aliases, provider and category.
    case imported(PriceEntry)
    /// `prices update`: a newer data file replaces the shipped catalog (while the binary's own
    /// catalog is not newer than `catalogVersion`).
    case replaceShipped(catalogVersion: String?, entries: [PriceEntry])

    public static func apply(_ changes: [PriceChange], to shipped: [PriceEntry]) -> [PriceEntry] {
        var base = shipped
        for case .replaceShipped(_, let entries) in changes { base = entries }
        var layer = VersionTable(base)
        let shippedModels = Dictionary(base.map { ($0.model, $0) }, uniquingKeysWith: { _, last in last })
        for case .imported(let entry) in changes {
            layer.put(Self.keepingShippedIdentity(entry, shipped: shippedModels[entry.model]))
        }
        for change in changes {
            switch change {
            case .put(let entry): layer.put(entry)
            case .delete(let model, let validFrom): layer.delete(model: model.lowercased(), validFrom: validFrom)
            case .imported, .replaceShipped: break
            }
        }
        return layer.entries
    }

    /// An imported entry for a shipped model takes the import's prices under the shipped name,
    /// aliases, provider and category.
    static func keepingShippedIdentity(_ entry: PriceEntry, shipped: PriceEntry?) -> PriceEntry {
        guard let shipped else { return entry }
        var merged = entry
        merged.aliases = shipped.aliases
        merged.provider = shipped.provider
        merged.category = shipped.category ?? entry.category
        merged.match = shipped.match
        merged.snapshotsSharePrice = shipped.snapshotsSharePrice
        return merged
    }

    /// Entries keyed by model and `valid_from`, in first-insertion order: O(1) per change, so a
    /// 5,000-entry import replays in milliseconds.
    struct VersionTable {
        private var order: [Key] = []
        private var table: [Key: PriceEntry] = [:]
        private var byModel: [String: [Key]] = [:]
        private var known: Set<Key> = []

        struct Key: Hashable {
            var model: String
            var validFrom: Date?
        }

        init(_ entries: [PriceEntry]) {
            for entry in entries { put(entry) }
        }

        mutating func put(_ entry: PriceEntry) {
            let key = Key(model: entry.model, validFrom: entry.validFrom)
            table[key] = entry
            if known.insert(key).inserted {
                order.append(key)
                byModel[entry.model, default: []].append(key)
            }
        }

        mutating func delete(model: String, validFrom: Date?) {
            for key in byModel[model] ?? [] where validFrom == nil || key.validFrom == validFrom {
                table[key] = nil
            }
        }

        var entries: [PriceEntry] { order.compactMap { table[$0] } }
    }
}

/// Where run-time price changes are persisted. The store implements it; `nil` keeps them in memory.
public protocol PriceChangeRepository: Sendable {
    func loadPriceChanges() async throws -> [PriceChange]
    func savePriceChanges(_ changes: [PriceChange]) async throws
}
