import Foundation
import Synchronization

/// The live catalog: prices records and takes run-time changes without a restart.
public final class PricingService: Sendable {
    private struct State {
        var base: [PriceEntry]
        /// The operator's catalog file (`catalog_file`): under their API/CLI changes, over imports.
        var fileEntries: [PriceEntry]
        var shippedVersion: String?
        var changes: [PriceChange]
        var catalog: PriceCatalog
        var resolved: [String: PriceLookup] = [:]
        var generation = 0

        init(base: [PriceEntry], fileEntries: [PriceEntry], shippedVersion: String?, changes: [PriceChange]) {
            self.base = base
            self.fileEntries = fileEntries
            self.shippedVersion = shippedVersion
            self.changes = changes
            self.catalog = PriceCatalog(entries: [])
            replace(changes: changes)
        }

        mutating func replace(changes: [PriceChange]) {
            self.changes = changes
            catalog = PriceCatalog(entries: PriceChange.apply(effective(changes), to: base))
            resolved.removeAll()
        }

        /// The changes as layered: a `prices update` older than the binary's own catalog no longer
        /// applies (upgrading the binary brings newer prices), and the catalog file joins the
        /// operator's layer first.
        func effective(_ changes: [PriceChange]) -> [PriceChange] {
            changes.filter { change in
                guard case .replaceShipped(let version, _) = change else { return true }
                guard let shippedVersion, let version else { return true }
                return version >= shippedVersion
            } + fileEntries.map(PriceChange.put)
        }

        /// Every change after the file layer, for the catalog an import or update is compared with.
        var layers: (shipped: [PriceEntry], imported: [PriceEntry], operatorModels: Set<String>) {
            var shipped = base
            for case .replaceShipped(_, let entries) in effective(changes) { shipped = entries }
            var imported: [PriceEntry] = []
            var operatorModels = Set(fileEntries.map(\.model))
            for change in changes {
                switch change {
                case .imported(let e): imported.append(e)
                case .put(let e): operatorModels.insert(e.model)
                case .delete(let model, _): operatorModels.insert(model.lowercased())
                case .replaceShipped: break
                }
            }
            return (shipped, imported, operatorModels)
        }
    }

    private let state: Mutex<State>
    /// `credits_per_operation`: credits of a record that carries none and whose model has no `credits_per_unit`.
    public let credits: OperationCredits
    private let repository: (any PriceChangeRepository)?
    private let applied = Atomic<Int>(0)
    private static let resolveCacheLimit = 50_000

    public init(base: [PriceEntry], changes: [PriceChange] = [], repository: (any PriceChangeRepository)? = nil,
                fileEntries: [PriceEntry] = [], shippedVersion: String? = nil, credits: OperationCredits = OperationCredits()) {
        self.state = Mutex(State(base: base, fileEntries: fileEntries, shippedVersion: shippedVersion, changes: changes))
        self.credits = credits
        self.repository = repository
    }

    /// Loads the shipped catalog, an optional operator catalog file over it, then the persisted changes.
    public static func load(catalogFile: String?, repository: (any PriceChangeRepository)?,
                            credits: OperationCredits = OperationCredits()) async throws -> PricingService {
        let shipped = try DefaultCatalog.file()
        var fileEntries: [PriceEntry] = []
        if let catalogFile {
            fileEntries = try DefaultCatalog.decode(Data(contentsOf: URL(fileURLWithPath: catalogFile)), source: catalogFile)
        }
        let changes = try await repository?.loadPriceChanges() ?? []
        return PricingService(base: shipped.models, changes: changes, repository: repository,
                              fileEntries: fileEntries, shippedVersion: shipped.catalog_version, credits: credits)
    }

    /// The shipped layer (or its refresh), the imported entries and the models the operator changed.
    public var layers: (shipped: [PriceEntry], imported: [PriceEntry], operatorModels: Set<String>) {
        state.withLock { $0.layers }
    }

    public var catalog: PriceCatalog { state.withLock { $0.catalog } }

    /// The `catalog_version` of the binary's own catalog.
    public var shippedVersion: String? { state.withLock { $0.shippedVersion } }

    /// What importing `result` would change, checked against the current layers.
    public func planImport(_ result: LiteLLMImporter.Result) -> PriceImportPlan {
        PriceImportPlan.forImport(result, layers: layers)
    }

    /// What `prices update` with `file` would change in the shipped layer. Throws when the file is
    /// older than the binary's own catalog (it would not apply).
    public func planUpdate(_ file: CatalogFile) throws -> PriceUpdateDiff {
        if let shipped = shippedVersion, let version = file.catalog_version, version < shipped {
            throw CatalogError("catalog_version: '\(version)' is older than this binary's catalog ('\(shipped)'); nothing to update")
        }
        guard !file.models.isEmpty else { throw CatalogError("models: the file holds no models") }
        let l = layers
        return PriceUpdateDiff.between(current: l.shipped, updated: file, imported: l.imported, operatorModels: l.operatorModels)
    }

    public func price(_ record: UsageRecord) -> PricedRecord {
        let operationCredits = credits.operationCreditsMicro(record.operation)
        if record.isModelless { return CostCalculator.meteredAction(record, operationCreditsMicro: operationCredits) }
        let (lookup, entry): (PriceLookup, PriceEntry?) = state.withLock { state in
            let key = record.model
            let lookup: PriceLookup
            if let cached = state.resolved[key] {
                lookup = cached
            } else {
                lookup = state.catalog.resolve(key)
                if state.resolved.count >= Self.resolveCacheLimit { state.resolved.removeAll(keepingCapacity: true) }
                state.resolved[key] = lookup
            }
            return (lookup, lookup.resolution.flatMap { state.catalog.entry(model: $0.model, at: record.timestamp) })
        }
        let resolution = lookup.resolution
        var reason: String?
        if let resolution, entry == nil {
            let first = state.withLock { $0.catalog.versions[resolution.model]?.first?.validFrom }
            reason = "no price of \(resolution.model) is valid at \(RFC3339.format(record.timestamp))" + (first.map { " (its first price is valid from \(RFC3339.format($0)))" } ?? "")
        }
        return CostCalculator.price(record, entry: entry, canonicalModel: resolution?.model, rule: resolution?.rule,
                                    unmatchedReason: reason, operationCreditsMicro: operationCredits)
    }

    /// How `name` resolves in the live catalog (`GET /v1/prices/resolve`, `tokenmeter prices resolve`).
    public func resolve(_ name: String, at date: Date) -> ModelPriceResolution {
        let catalog = self.catalog
        let lookup = catalog.resolve(name)
        guard let model = lookup.resolution?.model else { return ModelPriceResolution(lookup: lookup, entry: nil, versions: []) }
        return ModelPriceResolution(lookup: lookup, entry: catalog.entry(model: model, at: date), versions: catalog.versions[model] ?? [])
    }

    /// Prices a record, rejecting a computed cost above the limit for one call (absurd units or prices).
    public func priceWithinLimits(_ record: UsageRecord) -> Result<PricedRecord, NormalizationError> {
        if record.isModelless, record.status != .pending, record.callerCostNanoUSD == nil, record.creditsMicro == nil,
           credits.operationCreditsMicro(record.operation) == nil {
            return .failure(NormalizationError("model: missing, and a metered action without a model needs credits or cost_usd (or credits_per_operation configured for operation '\(record.operation.prefix(64))')"))
        }
        let priced = price(record)
        let limit = Money.nanoUSD(fromUSD: RecordLimits.maxCostUSD)
        guard priced.costNanoUSD <= limit, priced.creditsMicro <= Money.micro(from: RecordLimits.maxCredits) else {
            return .failure(NormalizationError("units: the computed cost (\(Money.decimalString(nano: priced.costNanoUSD)) USD) or credits exceed the limit for one call (\(Int(RecordLimits.maxCostUSD)) USD, \(Int(RecordLimits.maxCredits)) credits)"))
        }
        return .success(priced)
    }

    /// Persists changes, then rebuilds the live catalog from every persisted change in stored order,
    /// so concurrent changes end up in memory in the order a restart would replay them. A failed
    /// write changes nothing.
    public func apply(_ changes: [PriceChange]) async throws {
        guard let repository else {
            state.withLock { state in state.replace(changes: state.changes + changes) }
            return
        }
        try await repository.savePriceChanges(changes)
        let generation = applied.add(1, ordering: .relaxed).newValue
        let all = try await repository.loadPriceChanges()
        // The catalog is built outside the lock, so pricing records never waits for it.
        var next = state.withLock { $0 }
        next.replace(changes: all)
        next.generation = generation
        state.withLock { state in
            // Concurrent changes: the reload that started last read every saved change; one that
            // started earlier and finishes later must not overwrite it. (The stored log is
            // compacted, so its length says nothing about which reload is newer.)
            if generation > state.generation { state = next }
        }
    }
}

/// How a model name resolves at one time: the lookup (rule, notes), the price version in force
/// then, and every version of the entry it found.
public struct ModelPriceResolution: Sendable {
    public var lookup: PriceLookup
    public var entry: PriceEntry?
    public var versions: [PriceEntry]
}
