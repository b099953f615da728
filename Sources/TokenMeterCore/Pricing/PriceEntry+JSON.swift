import Foundation

/// The catalog file format (JSON): prices in USD per million tokens and USD per unit, as providers
/// publish them; converted to exact pico-USD on load.
extension PriceEntry: Codable {
    enum CodingKeys: String, CodingKey {
        case model, provider, category, aliases, match, input, cached_input, cache_write, cache_write_1h, output, reasoning
        case request, image, second, minute, per1k = "1k_characters", tiers, credits_per_unit, daily_limit
        case valid_from, source, snapshots_share_price
    }

    struct TierJSON: Codable {
        var above_input_tokens: Int64
        var input: Double?
        var cached_input: Double?
        var cache_write: Double?
        var cache_write_1h: Double?
        var output: Double?
        var reasoning: Double?
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func perMillion(_ key: CodingKeys) throws -> PicoPrice? {
            try c.decodeIfPresent(Double.self, forKey: key).map { try Self.checked($0, key.stringValue, c) }.map(PicoPrice.init(usdPerMillion:))
        }
        func perUnit(_ key: CodingKeys) throws -> PicoPrice? {
            try c.decodeIfPresent(Double.self, forKey: key).map { try Self.checked($0, key.stringValue, c) }.map(PicoPrice.init(usdPerUnit:))
        }
        let model = try c.decode(String.self, forKey: .model)
        guard !model.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .model, in: c, debugDescription: "model must not be empty")
        }
        var category: UsageCategory?
        if let text = try c.decodeIfPresent(String.self, forKey: .category) {
            guard let parsed = UsageCategory(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .category, in: c, debugDescription: "unknown category '\(text)'")
            }
            category = parsed
        }
        var validFrom: Date?
        if let text = try c.decodeIfPresent(String.self, forKey: .valid_from) {
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(forKey: .valid_from, in: c, debugDescription: "'\(text)' is not an RFC 3339 timestamp")
            }
            validFrom = date
        }
        let match = try c.decodeIfPresent(String.self, forKey: .match)
        if let match, (try? Regex(match)) == nil {
            throw DecodingError.dataCorruptedError(forKey: .match, in: c, debugDescription: "'\(match)' is not a valid regular expression")
        }
        let tiers = try c.decodeIfPresent([TierJSON].self, forKey: .tiers) ?? []
        self.init(
            model: model,
            provider: try c.decodeIfPresent(String.self, forKey: .provider),
            category: category,
            aliases: try c.decodeIfPresent([String].self, forKey: .aliases) ?? [],
            match: match,
            tokens: TokenPrices(
                input: try perMillion(.input), cachedInput: try perMillion(.cached_input),
                cacheWrite: try perMillion(.cache_write), output: try perMillion(.output),
                reasoning: try perMillion(.reasoning), cacheWrite1h: try perMillion(.cache_write_1h)
            ),
            perRequest: try perUnit(.request), perImage: try perUnit(.image), perSecond: try perUnit(.second),
            perMinute: try perUnit(.minute), per1kCharacters: try perUnit(.per1k),
            tiers: try tiers.enumerated().map { index, t in
                // Tier prices are checked like the top-level ones: a negative tier would make costs negative.
                func price(_ value: Double?, _ name: String) throws -> PicoPrice? {
                    try value.map { try Self.checked($0, "tiers[\(index)].\(name)", c) }.map(PicoPrice.init(usdPerMillion:))
                }
                return ContextTier(aboveInputTokens: t.above_input_tokens, prices: TokenPrices(
                    input: try price(t.input, "input"), cachedInput: try price(t.cached_input, "cached_input"),
                    cacheWrite: try price(t.cache_write, "cache_write"), output: try price(t.output, "output"),
                    reasoning: try price(t.reasoning, "reasoning"), cacheWrite1h: try price(t.cache_write_1h, "cache_write_1h")))
            },
            creditsPerUnit: try c.decodeIfPresent(Double.self, forKey: .credits_per_unit),
            dailyLimit: try c.decodeIfPresent(Int.self, forKey: .daily_limit),
            validFrom: validFrom,
            source: try c.decodeIfPresent(String.self, forKey: .source),
            snapshotsSharePrice: try c.decodeIfPresent(Bool.self, forKey: .snapshots_share_price) ?? false
        )
    }

    private static func checked(_ value: Double, _ key: String, _ c: KeyedDecodingContainer<CodingKeys>) throws -> Double {
        guard value.isFinite, value >= 0, value < 1e9 else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "\(key): price must be a non-negative number below 1e9"))
        }
        return value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encodeIfPresent(provider, forKey: .provider)
        try c.encodeIfPresent(category?.rawValue, forKey: .category)
        if !aliases.isEmpty { try c.encode(aliases, forKey: .aliases) }
        try c.encodeIfPresent(match, forKey: .match)
        try c.encodeIfPresent(tokens.input?.usdPerMillion, forKey: .input)
        try c.encodeIfPresent(tokens.cachedInput?.usdPerMillion, forKey: .cached_input)
        try c.encodeIfPresent(tokens.cacheWrite?.usdPerMillion, forKey: .cache_write)
        try c.encodeIfPresent(tokens.cacheWrite1h?.usdPerMillion, forKey: .cache_write_1h)
        try c.encodeIfPresent(tokens.output?.usdPerMillion, forKey: .output)
        try c.encodeIfPresent(tokens.reasoning?.usdPerMillion, forKey: .reasoning)
        try c.encodeIfPresent(perRequest?.usdPerUnit, forKey: .request)
        try c.encodeIfPresent(perImage?.usdPerUnit, forKey: .image)
        try c.encodeIfPresent(perSecond?.usdPerUnit, forKey: .second)
        try c.encodeIfPresent(perMinute?.usdPerUnit, forKey: .minute)
        try c.encodeIfPresent(per1kCharacters?.usdPerUnit, forKey: .per1k)
        if !tiers.isEmpty {
            try c.encode(tiers.map { t in
                TierJSON(above_input_tokens: t.aboveInputTokens, input: t.prices.input?.usdPerMillion,
                         cached_input: t.prices.cachedInput?.usdPerMillion, cache_write: t.prices.cacheWrite?.usdPerMillion,
                         cache_write_1h: t.prices.cacheWrite1h?.usdPerMillion,
                         output: t.prices.output?.usdPerMillion, reasoning: t.prices.reasoning?.usdPerMillion)
            }, forKey: .tiers)
        }
        try c.encodeIfPresent(creditsPerUnit, forKey: .credits_per_unit)
        try c.encodeIfPresent(dailyLimit, forKey: .daily_limit)
        try c.encodeIfPresent(validFrom.map(RFC3339.format), forKey: .valid_from)
        try c.encodeIfPresent(source, forKey: .source)
        if snapshotsSharePrice { try c.encode(true, forKey: .snapshots_share_price) }
    }
}

/// A catalog file: `{"catalog_version": "...", "models": [PriceEntry...]}`.
public struct CatalogFile: Codable, Sendable {
    public var catalog_version: String?
    public var models: [PriceEntry]

    public init(catalog_version: String? = nil, models: [PriceEntry]) {
        self.catalog_version = catalog_version
        self.models = models
    }
}
