import Foundation
import Synchronization

/// The live catalog: prices records and takes run-time changes without a restart.
public final class PricingService: Sendable {
    private struct State {
        var base: [PriceEntry]
        var changes: [PriceChange]
        var catalog: PriceCatalog
        var resolved: [String: String?] = [:]
        var generation = 0

        mutating func replace(changes: [PriceChange]) {
            self.changes = changes
            catalog = PriceCatalog(entries: PriceChange.apply(changes, to: base))
            resolved.removeAll()
        }
    }

    private let state: Mutex<State>
    private let repository: (any PriceChangeRepository)?
    private let applied = Atomic<Int>(0)
    private static let resolveCacheLimit = 50_000

    public init(base: [PriceEntry], changes: [PriceChange] = [], repository: (any PriceChangeRepository)? = nil) {
        let entries = PriceChange.apply(changes, to: base)
        self.state = Mutex(State(base: base, changes: changes, catalog: PriceCatalog(entries: entries)))
        self.repository = repository
    }

    /// Loads the shipped catalog, an optional operator catalog file over it, then the persisted changes.
    public static func load(catalogFile: String?, repository: (any PriceChangeRepository)?) async throws -> PricingService {
        var base = try DefaultCatalog.entries()
        if let catalogFile {
            let extra = try DefaultCatalog.decode(Data(contentsOf: URL(fileURLWithPath: catalogFile)), source: catalogFile)
            base = PriceChange.apply(extra.map(PriceChange.put), to: base)
        }
        let changes = try await repository?.loadPriceChanges() ?? []
        return PricingService(base: base, changes: changes, repository: repository)
    }

    public var catalog: PriceCatalog { state.withLock { $0.catalog } }

    public func price(_ record: UsageRecord) -> PricedRecord {
        let (canonical, entry): (String?, PriceEntry?) = state.withLock { state in
            let key = record.model
            let canonical: String?
            if let cached = state.resolved[key] {
                canonical = cached
            } else {
                canonical = state.catalog.canonicalModel(for: key)
                if state.resolved.count >= Self.resolveCacheLimit { state.resolved.removeAll(keepingCapacity: true) }
                state.resolved[key] = canonical
            }
            return (canonical, canonical.flatMap { state.catalog.entry(model: $0, at: record.timestamp) })
        }
        return CostCalculator.price(record, entry: entry, canonicalModel: canonical)
    }

    /// Prices a record, rejecting a computed cost above the limit for one call (absurd units or prices).
    public func priceWithinLimits(_ record: UsageRecord) -> Result<PricedRecord, NormalizationError> {
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
        let base = state.withLock { $0.base }
        let catalog = PriceCatalog(entries: PriceChange.apply(all, to: base))
        state.withLock { state in
            // Concurrent changes: the reload that started last read every saved change; one that
            // started earlier and finishes later must not overwrite it.
            guard generation > state.generation else { return }
            state.generation = generation
            state.changes = all
            state.catalog = catalog
            state.resolved.removeAll()
        }
    }
}

/// The catalog shipped with the binary (`Pricing/Resources/default-catalog.json`).
public enum DefaultCatalog {
    public static func entries() throws -> [PriceEntry] {
        guard let url = Bundle.module.url(forResource: "default-catalog", withExtension: "json") else {
            throw CatalogError("the default catalog resource is missing from the build")
        }
        return try decode(Data(contentsOf: url), source: "default-catalog.json")
    }

    public static func decode(_ data: Data, source: String) throws -> [PriceEntry] {
        do {
            return try JSONDecoder().decode(CatalogFile.self, from: data).models
        } catch let error as DecodingError {
            throw CatalogError("\(source): \(error.readableDescription)")
        }
    }
}

public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension DecodingError {
    /// "models[3].input: price must be ..." rather than Foundation's nested dump.
    public var readableDescription: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch self {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(_, let context):
            return "\(path(context.codingPath)): missing value"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required"
        case .dataCorrupted(let context):
            let where_ = path(context.codingPath)
            return (where_.isEmpty ? "" : "\(where_): ") + context.debugDescription
        @unknown default:
            return "\(self)"
        }
    }
}
