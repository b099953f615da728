import Foundation

/// A run-time change to the catalog. Changes are kept in order (and persisted by the store) and
/// replayed over the shipped default catalog, so defaults can be upgraded without losing them.
public enum PriceChange: Sendable, Equatable {
    /// Adds or replaces the version of `entry.model` with the same `valid_from`.
    case put(PriceEntry)
    /// Removes one version of a model, or every version when `validFrom` is nil.
    case delete(model: String, validFrom: Date?)

    /// The entries after `changes`, in order; linear in entries + changes (a version is found by
    /// its (model, valid_from) key, not by scanning), so a long change log replays fast.
    public static func apply(_ changes: [PriceChange], to base: [PriceEntry]) -> [PriceEntry] {
        struct Key: Hashable { var model: String; var validFrom: Date? }
        // Slots keep the order a version was last put in; a removed slot is nil.
        var slots: [PriceEntry?] = []
        var slotsOfKey: [Key: [Int]] = [:]
        var slotsOfModel: [String: [Int]] = [:]
        func append(_ entry: PriceEntry) {
            slotsOfKey[Key(model: entry.model, validFrom: entry.validFrom), default: []].append(slots.count)
            slotsOfModel[entry.model, default: []].append(slots.count)
            slots.append(entry)
        }
        func remove(_ key: Key) {
            for slot in slotsOfKey.removeValue(forKey: key) ?? [] { slots[slot] = nil }
        }
        for entry in base { append(entry) }
        for change in changes {
            switch change {
            case .put(let entry):
                remove(Key(model: entry.model, validFrom: entry.validFrom))
                append(entry)
            case .delete(let model, let validFrom):
                let model = model.lowercased()
                if let validFrom {
                    remove(Key(model: model, validFrom: validFrom))
                } else {
                    for slot in slotsOfModel.removeValue(forKey: model) ?? [] {
                        if let entry = slots[slot] { remove(Key(model: model, validFrom: entry.validFrom)) }
                    }
                }
            }
        }
        return slots.compactMap { $0 }
    }
}

/// Where run-time price changes are persisted. The store implements it; `nil` keeps them in memory.
public protocol PriceChangeRepository: Sendable {
    func loadPriceChanges() async throws -> [PriceChange]
    func savePriceChanges(_ changes: [PriceChange]) async throws
}
