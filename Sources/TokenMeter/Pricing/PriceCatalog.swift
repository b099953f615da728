import Foundation

/// An immutable snapshot of all price entries, indexed for the matching order of CONTRACT section 2:
/// exact name, alias, provider prefix stripped, dated suffix stripped, then `match` regexes.
public struct PriceCatalog: Sendable {
    /// Versions of each canonical model, oldest `valid_from` first (`nil` = always, sorts first).
    public let versions: [String: [PriceEntry]]
    private let aliases: [String: String]
    private let patterns: [(model: String, regex: NSRegularExpression)]

    public init(entries: [PriceEntry]) {
        var versions: [String: [PriceEntry]] = [:]
        for entry in entries {
            versions[entry.model, default: []].removeAll { $0.validFrom == entry.validFrom }
            versions[entry.model, default: []].append(entry)
        }
        var aliases: [String: String] = [:]
        var patterns: [(String, NSRegularExpression)] = []
        for model in versions.keys.sorted() {
            versions[model]!.sort { ($0.validFrom ?? .distantPast) < ($1.validFrom ?? .distantPast) }
            for entry in versions[model]! {
                for alias in entry.aliases where versions[alias] == nil { aliases[alias] = model }
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

    /// The canonical model name `name` resolves to, or nil if nothing matches.
    public func canonicalModel(for name: String) -> String? {
        let lowered = name.lowercased().trimmingCharacters(in: .whitespaces)
        if let model = direct(lowered) { return model }
        let unprefixed = Self.strippingProviderPrefix(lowered)
        if unprefixed != lowered, let model = direct(unprefixed) { return model }
        let undated = Self.strippingDatedSuffix(unprefixed)
        if undated != unprefixed, let model = direct(undated) { return model }
        for candidate in [lowered, unprefixed] {
            let range = NSRange(candidate.startIndex..., in: candidate)
            if let hit = patterns.first(where: { $0.regex.firstMatch(in: candidate, range: range) != nil }) {
                return hit.model
            }
        }
        return nil
    }

    /// The version of `model` (canonical) valid at `date`: the latest whose `valid_from` is at or before it.
    public func entry(model: String, at date: Date) -> PriceEntry? {
        versions[model]?.last { ($0.validFrom ?? .distantPast) <= date }
    }

    private func direct(_ name: String) -> String? {
        if versions[name] != nil { return name }
        return aliases[name]
    }

    static func strippingProviderPrefix(_ name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return name }
        return String(name[name.index(after: slash)...])
    }

    private static let datedSuffix = try! NSRegularExpression(
        pattern: #"(?:@.*|-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{3}|latest|preview(?:-\d{2}-\d{2})?|exp(?:-\d{4})?))$"#)

    static func strippingDatedSuffix(_ name: String) -> String {
        let range = NSRange(name.startIndex..., in: name)
        guard let match = datedSuffix.firstMatch(in: name, range: range),
              let swiftRange = Range(match.range, in: name), swiftRange.lowerBound > name.startIndex
        else { return name }
        return String(name[..<swiftRange.lowerBound])
    }
}
