import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// One name and what it must resolve to (or that it must not resolve).
struct NameCase: Sendable, CustomTestStringConvertible {
    let name: String
    let model: String?
    let rule: MatchRule?
    let why: String

    var testDescription: String { "\(name) → \(model ?? "unpriced") (\(why))" }

    static func resolves(_ name: String, _ model: String, _ rule: MatchRule, _ why: String) -> Self {
        Self(name: name, model: model, rule: rule, why: why)
    }

    static func unpriced(_ name: String, _ why: String) -> Self {
        Self(name: name, model: nil, rule: nil, why: why)
    }
}

@Suite("Name resolution: every rule, and the variants that must not resolve")
struct NameResolutionTableTests {
    static func entry(_ model: String, aliases: [String] = [], match: String? = nil, shares: Bool = false, input: Double = 1) -> PriceEntry {
        PriceEntry(model: model, aliases: aliases, match: match, tokens: TokenPrices(input: PicoPrice(usdPerMillion: input)),
                   snapshotsSharePrice: shares)
    }

    /// A small catalog with one entry per rule.
    static let catalog = PriceCatalog(entries: [
        entry("gpt-4o", shares: true),
        entry("gpt-4o-2024-05-13", input: 5),
        entry("gpt-3.5-turbo", aliases: ["gpt-3.5-turbo-0125"]),
        entry("claude-3-5-haiku", aliases: ["claude-3.5-haiku"], shares: true),
        entry("claude-sonnet-4-5", shares: true),
        entry("gemini-2.5-flash", aliases: ["gemini-2.5-flash-preview-09-2025"], shares: true),
        entry("gemini-2.5-flash-preview", aliases: ["gemini-2.5-flash-preview-05-20"]),
        entry("gemini-1.5-pro", shares: true),
        entry("anthropic.claude-3-5-sonnet-20241022-v2:0"),
        entry("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", aliases: ["us.anthropic.claude-sonnet-4-5-20250929"], input: 3.3),
        entry("openrouter/meta-llama/llama-3.3-70b-instruct", aliases: ["meta-llama/llama-3.3-70b-instruct"]),
        entry("suno", match: "suno.*|chirp-v\\d.*"),
        entry("gemini-flash-latest"),
    ])

    static let cases: [NameCase] = [
        // Exact and alias
        .resolves("gpt-4o", "gpt-4o", .exact, "a catalog entry"),
        .resolves("GPT-4o ", "gpt-4o", .exact, "case and surrounding spaces do not matter"),
        .resolves("claude-3.5-haiku", "claude-3-5-haiku", .alias, "a listed alias"),
        .resolves("gpt-3.5-turbo-0125", "gpt-3.5-turbo", .alias, "a snapshot the family lists"),
        .resolves("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview", .alias, "a preview listed by the preview entry"),
        .resolves("gemini-flash-latest", "gemini-flash-latest", .exact, "a moving alias is its own dated entry"),
        // Provider prefixes, Bedrock and Vertex forms
        .resolves("openai/gpt-4o", "gpt-4o", .providerPrefix, "provider prefix"),
        .resolves("openrouter/openai/gpt-4o", "gpt-4o", .providerPrefix, "two prefixes, stripped one at a time"),
        .resolves("openrouter/meta-llama/llama-3.3-70b-instruct", "openrouter/meta-llama/llama-3.3-70b-instruct", .exact, "a host entry by its full key"),
        .resolves("together/meta-llama/llama-3.3-70b-instruct", "openrouter/meta-llama/llama-3.3-70b-instruct", .providerPrefix, "prefix stripped to the alias the catalog gives"),
        .resolves("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0", .providerPrefix, "Bedrock region prefix"),
        .resolves("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", .providerPrefix, "a regional profile keeps its own price: the version suffix goes first"),
        .resolves("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", .snapshot, "region, version, vendor stripped, then a declared snapshot"),
        .resolves("claude-sonnet-4-5@20250929", "claude-sonnet-4-5", .providerPrefix, "Vertex @version"),
        // Snapshots of families that declare them
        .resolves("gpt-4o-2024-11-20", "gpt-4o", .snapshot, "gpt-4o declares that its snapshots share its price"),
        .resolves("gpt-4o-2024-05-13", "gpt-4o-2024-05-13", .exact, "an own entry wins over the family"),
        .resolves("claude-3-5-haiku-20241022", "claude-3-5-haiku", .snapshot, "YYYYMMDD"),
        .resolves("gemini-1.5-pro-002", "gemini-1.5-pro", .snapshot, "-NNN"),
        .resolves("anthropic/claude-3-5-haiku-20241022", "claude-3-5-haiku", .snapshot, "prefix and snapshot"),
        // Regex
        .resolves("suno-v4.5", "suno", .regex, "the entry's match regex"),
        .resolves("chirp-v3-5", "suno", .regex, "the entry's match regex"),
        // Must NOT resolve
        .unpriced("gpt-3.5-turbo-1106", "a snapshot the family neither lists nor declares: never at the 0125 price"),
        .unpriced("gpt-3.5-turbo-0613", "same"),
        .unpriced("gemini-2.5-flash-preview-04-17", "a preview never falls through to the GA model"),
        .unpriced("gemini-1.5-pro-preview", "-preview is never stripped to the GA model"),
        .unpriced("gemini-1.5-pro-preview-0514", "nor a dated preview"),
        .unpriced("gemini-2.5-flash-lite", "a longer name is another model"),
        .unpriced("gemini-2.5-flash-exp", "-exp is never stripped"),
        .unpriced("gpt-4o-latest", "-latest is never stripped: moving aliases need their own dated entry"),
        .unpriced("gpt-4o-mini", "no prefix matching"),
        .unpriced("gpt-4o-v2", "not a snapshot suffix"),
        .unpriced("gpt-4o-realtime-preview-2024-10-01", "a preview snapshot of another model"),
        .unpriced("claude-3-5-sonnet-20241022", "no claude-3-5-sonnet entry in this catalog"),
        .unpriced("eu.meta.llama3-70b-instruct-v1:0", "Bedrock forms of a model the catalog lacks"),
        .unpriced("my-suno", "the regex is anchored at the start"),
        .unpriced("", "empty"),
    ]

    @Test(arguments: cases)
    func resolvesByTheRulesOnly(_ c: NameCase) {
        let lookup = Self.catalog.resolve(c.name)
        #expect(lookup.resolution?.model == c.model, "\(c.why): \(lookup.resolution?.explanation ?? "unresolved")")
        #expect(lookup.resolution?.rule == c.rule)
        if c.model == nil { #expect(lookup.resolution == nil) } else { #expect(lookup.resolution?.explanation.isEmpty == false) }
    }

    @Test func anUndeclaredSnapshotIsExplainedAsANearMiss() {
        let lookup = Self.catalog.resolve("gpt-3.5-turbo-1106")
        #expect(lookup.resolution == nil)
        #expect(lookup.notes.contains { $0.contains("gpt-3.5-turbo") && $0.contains("snapshots_share_price") })
    }

    /// The names of the issue that the old suffix rule priced from another model, against the shipped catalog.
    static let shipped: [NameCase] = [
        .resolves("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview", .alias, "its own preview price, not GA Flash"),
        .resolves("gemini-2.5-flash-preview-04-17", "gemini-2.5-flash-preview", .alias, "same"),
        .resolves("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106", .exact, "its own price"),
        .resolves("gpt-3.5-turbo-0613", "gpt-3.5-turbo-0613", .exact, "its own price"),
        .resolves("gemini-flash-latest", "gemini-flash-latest", .exact, "a dated moving alias"),
        .resolves("gpt-4", "gpt-4", .exact, "now in the catalog"),
        .resolves("o1-pro", "o1-pro", .exact, "now in the catalog"),
        .resolves("deepseek-chat", "deepseek-chat", .exact, "now in the catalog"),
        .resolves("claude-3-5-sonnet-20241022", "claude-3-5-sonnet", .snapshot, "first party, never a reseller"),
        .resolves("gemini-2.5-flash", "gemini-2.5-flash", .exact, "first party"),
        .resolves("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0", .alias, "Bedrock's global profile"),
        .resolves("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet", .providerPrefix, "Vertex's id"),
        .unpriced("gpt-3.5-turbo-9999", "an undeclared snapshot"),
        .unpriced("gemini-2.5-flash-preview-12-31", "a preview snapshot nobody lists"),
    ]

    @Test(arguments: shipped)
    func theShippedCatalogPricesEachNameFromItsOwnEntry(_ c: NameCase) throws {
        let catalog = PriceCatalog(entries: try DefaultCatalog.entries())
        let lookup = catalog.resolve(c.name)
        #expect(lookup.resolution?.model == c.model, "\(c.why): \(lookup.resolution?.explanation ?? "unresolved")")
        #expect(lookup.resolution?.rule == c.rule)
    }

    @Test func theShippedCatalogIsBroadAndEveryEntryKeepsItsSource() throws {
        let entries = try DefaultCatalog.entries()
        #expect(Set(entries.map(\.model)).count > 2000)
        #expect(entries.allSatisfy { $0.source?.isEmpty == false })
        let providers = Set(entries.compactMap(\.provider))
        for host in ["openai", "anthropic", "google", "bedrock", "azure", "openrouter", "groq", "together", "fireworks", "mistral", "deepseek", "x-ai"] {
            #expect(providers.contains(host), "no entry of \(host)")
        }
    }
}
