import Foundation

/// An immutable snapshot of all price entries, indexed for the matching order of CONTRACT section 2:
/// exact name, alias, provider prefix stripped, a dated snapshot of a family that declares its
/// snapshots share its price, then `match` regexes. Every lookup is a hash lookup except the regex
/// step, which only runs for a name no other rule matched (and `PricingService` caches results).
public struct PriceCatalog: Sendable {
    /// Versions of each canonical model, oldest `valid_from` first (`nil` = always, sorts first).
    public let versions: [String: [PriceEntry]]
    private let aliases: [String: String]
    private let patterns: [(model: String, regex: NSRegularExpression)]

    public init(entries: [PriceEntry]) {
        var versions: [String: [PriceEntry]] = [:]
        versions.reserveCapacity(entries.count)
        for entry in entries {
            // Later entries replace the version with the same `valid_from` (a catalog file over the shipped one).
            if let i = versions[entry.model]?.firstIndex(where: { $0.validFrom == entry.validFrom }) {
                versions[entry.model]![i] = entry
            } else {
                versions[entry.model, default: []].append(entry)
            }
        }
        var aliases: [String: String] = [:]
        var patterns: [(String, NSRegularExpression)] = []
        for model in versions.keys.sorted() {
            versions[model]!.sort { ($0.validFrom ?? .distantPast) < ($1.validFrom ?? .distantPast) }
            for entry in versions[model]! {
                // An alias never shadows a canonical name, and the first model (by name) keeps a shared alias.
                for alias in entry.aliases where versions[alias] == nil && aliases[alias] == nil { aliases[alias] = model }
            }
            if let pattern = versions[model]!.last?.match,
               let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$", options: [.caseInsensitive]) {
                patterns.append((model, regex))
            }
        }
        self.versions = versions
        self.aliases = aliases
        self.patterns = patterns
    }

    public var entries: [PriceEntry] {
        versions.keys.sorted().flatMap { versions[$0]! }
    }

    public var count: Int { versions.count }

    /// The canonical model name `name` resolves to, or nil if nothing matches.
    public func canonicalModel(for name: String) -> String? {
        resolve(name).resolution?.model
    }

    /// How `name` resolves: the rule that matched, on which form of the name, or why nothing did.
    public func resolve(_ name: String) -> PriceLookup {
        let lowered = name.lowercased().trimmingCharacters(in: .whitespaces)
        var notes: [String] = []
        if let hit = direct(lowered) {
            return PriceLookup(requested: name, resolution: PriceResolution(
                model: hit.model, rule: hit.viaAlias ? .alias : .exact, matchedName: lowered,
                explanation: hit.viaAlias ? "'\(lowered)' is an alias of \(hit.model)" : "'\(lowered)' is a catalog entry"))
        }
        let forms = ModelNameForms.strippedForms(lowered)
        for form in forms {
            if let hit = direct(form.name) {
                return PriceLookup(requested: name, resolution: PriceResolution(
                    model: hit.model, rule: .providerPrefix, matchedName: form.name,
                    explanation: "\(form.how) gives '\(form.name)', \(hit.viaAlias ? "an alias of \(hit.model)" : "a catalog entry")"))
            }
        }
        for candidate in [lowered] + forms.map(\.name) {
            guard let (family, suffix) = ModelNameForms.snapshotFamily(candidate), let hit = direct(family) else { continue }
            let latest = versions[hit.model]!.last!
            if latest.snapshotsSharePrice {
                return PriceLookup(requested: name, resolution: PriceResolution(
                    model: hit.model, rule: .snapshot, matchedName: family,
                    explanation: "'\(candidate)' is the snapshot '\(suffix)' of \(hit.model), whose entry declares that its snapshots share its price"))
            }
            notes.append("'\(candidate)' looks like the snapshot '\(suffix)' of \(hit.model), but that entry does not declare snapshots_share_price: a snapshot is never priced from its family by guesswork")
        }
        for candidate in [lowered] + forms.map(\.name) {
            let range = NSRange(candidate.startIndex..., in: candidate)
            if let hit = patterns.first(where: { $0.regex.firstMatch(in: candidate, range: range) != nil }) {
                return PriceLookup(requested: name, resolution: PriceResolution(
                    model: hit.model, rule: .regex, matchedName: candidate,
                    explanation: "'\(candidate)' matches the regex of \(hit.model)"), notes: notes)
            }
        }
        if !forms.isEmpty { notes.append("tried " + forms.map { "'\($0.name)'" }.joined(separator: ", ")) }
        return PriceLookup(requested: name, resolution: nil, notes: notes)
    }

    /// The version of `model` (canonical) valid at `date`: the latest whose `valid_from` is at or before it.
    public func entry(model: String, at date: Date) -> PriceEntry? {
        versions[model]?.last { ($0.validFrom ?? .distantPast) <= date }
    }

    private func direct(_ name: String) -> (model: String, viaAlias: Bool)? {
        if versions[name] != nil { return (name, false) }
        return aliases[name].map { ($0, true) }
    }

    /// The first alias owner of `alias`, for the importer's layering.
    func aliasOwner(_ alias: String) -> String? { aliases[alias] }

    static func strippingProviderPrefix(_ name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return name }
        return String(name[name.index(after: slash)...])
    }
}

/// The rule that found a record's price (stored with the record as `price_match`).
public enum MatchRule: String, Sendable, Codable, CaseIterable {
    case exact
    case alias
    case providerPrefix = "provider_prefix"
    case snapshot
    case regex
}

public struct PriceResolution: Sendable, Equatable {
    public var model: String
    public var rule: MatchRule
    /// The form of the name that matched (prefixes or suffixes stripped).
    public var matchedName: String
    public var explanation: String
}

/// A name's lookup: the resolution, or none with notes on the near misses.
public struct PriceLookup: Sendable, Equatable {
    public var requested: String
    public var resolution: PriceResolution?
    public var notes: [String] = []
}
