import Foundation

/// What an import or an update will do to the live catalog, worked out before anything is saved:
/// the changes to persist and, for the answer and the CLI, what was skipped or conflicted and why.
public struct PriceImportPlan: Sendable {
    public var changes: [PriceChange]
    public var imported: Int
    public var skipped: [String]
    public var conflicts: [String]

    /// An import over `layers`: a shipped model of the same name keeps its aliases, provider and
    /// category (its prices come from the import, reported when the provider differs); a name that
    /// is a shipped alias is not imported (it would take the name from its model); a model the
    /// operator changed keeps the operator's price (the import is recorded under it).
    public static func forImport(_ result: LiteLLMImporter.Result, layers: (shipped: [PriceEntry], imported: [PriceEntry], operatorModels: Set<String>)) -> PriceImportPlan {
        let shippedCatalog = PriceCatalog(entries: layers.shipped)
        var changes: [PriceChange] = []
        var skipped = result.skipped
        var conflicts: [String] = []
        for entry in result.entries {
            if let shipped = shippedCatalog.versions[entry.model]?.last {
                if let provider = entry.provider, let kept = shipped.provider, provider != kept {
                    conflicts.append("\(entry.model): kept the shipped provider '\(kept)' over the import's '\(provider)' (prices from the import)")
                }
            } else if let owner = shippedCatalog.aliasOwner(entry.model) {
                skipped.append("\(entry.model): an alias of the shipped entry \(owner); not imported, so the name keeps resolving to \(owner)")
                conflicts.append("\(entry.model): is an alias of shipped \(owner); the import's entry was not applied")
                continue
            }
            if layers.operatorModels.contains(entry.model) {
                conflicts.append("\(entry.model): changed by the operator; the operator's price stays in force over the import")
            }
            changes.append(.imported(entry))
        }
        return PriceImportPlan(changes: changes, imported: changes.count, skipped: skipped, conflicts: conflicts)
    }
}

/// What `prices update FILE` changes in the shipped layer.
public struct PriceUpdateDiff: Sendable, Encodable {
    public var catalog_version: String?
    public var new: [String]
    public var changed: [String]
    public var removed: [String]
    /// Models whose new shipped price is hidden by an import or by the operator's own change.
    public var conflicts: [String]

    public static func between(current: [PriceEntry], updated: CatalogFile, imported: [PriceEntry], operatorModels: Set<String>) -> PriceUpdateDiff {
        func grouped(_ entries: [PriceEntry]) -> [String: [PriceEntry]] {
            Dictionary(grouping: entries, by: \.model).mapValues { $0.sorted { ($0.validFrom ?? .distantPast) < ($1.validFrom ?? .distantPast) } }
        }
        let old = grouped(current)
        let new = grouped(updated.models)
        let importedModels = Set(imported.map(\.model))
        var diff = PriceUpdateDiff(catalog_version: updated.catalog_version, new: [], changed: [], removed: [], conflicts: [])
        for model in new.keys.sorted() {
            if let before = old[model] {
                if before != new[model]! { diff.changed.append(model) } else { continue }
            } else {
                diff.new.append(model)
            }
            if operatorModels.contains(model) {
                diff.conflicts.append("\(model): the operator's own price stays in force over the updated one")
            } else if importedModels.contains(model) {
                diff.conflicts.append("\(model): an imported price stays in force over the updated one")
            }
        }
        diff.removed = old.keys.filter { new[$0] == nil }.sorted()
        return diff
    }
}
