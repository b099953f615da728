import Foundation

/// A run-time change to the catalog. Changes are kept in order (and persisted by the store) and
/// replayed over the shipped default catalog, so defaults can be upgraded without losing them.
public enum PriceChange: Sendable, Equatable {
    /// Adds or replaces the version of `entry.model` with the same `valid_from`.
    case put(PriceEntry)
    /// Removes one version of a model, or every version when `validFrom` is nil.
    case delete(model: String, validFrom: Date?)

    public static func apply(_ changes: [PriceChange], to base: [PriceEntry]) -> [PriceEntry] {
        var entries = base
        for change in changes {
            switch change {
            case .put(let entry):
                entries.removeAll { $0.model == entry.model && $0.validFrom == entry.validFrom }
                entries.append(entry)
            case .delete(let model, let validFrom):
                let model = model.lowercased()
                entries.removeAll { $0.model == model && (validFrom == nil || $0.validFrom == validFrom) }
            }
        }
        return entries
    }
}

/// Where run-time price changes are persisted. The store implements it; `nil` keeps them in memory.
public protocol PriceChangeRepository: Sendable {
    func loadPriceChanges() async throws -> [PriceChange]
    func savePriceChanges(_ changes: [PriceChange]) async throws
}
