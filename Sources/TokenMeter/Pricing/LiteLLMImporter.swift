import Foundation

/// Reads LiteLLM's `model_prices_and_context_window.json` (a map of model name to cost fields in USD
/// per token or per unit) into catalog entries.
public enum LiteLLMImporter {
    public struct Result: Sendable {
        public var entries: [PriceEntry]
        /// Models skipped, with the reason (no price fields, or not an object).
        public var skipped: [String]
    }

    public static func entries(from data: Data, validFrom: Date? = nil, source: String = "LiteLLM import") throws -> Result {
        let root: JSONValue
        switch JSONValue.parse(data) {
        case .success(let value): root = value
        case .failure(let error): throw CatalogError("LiteLLM file: not valid JSON (\(error.message))")
        }
        guard case .object(let models) = root else {
            throw CatalogError("LiteLLM file: the top level must be an object of model name to prices")
        }
        var entries: [PriceEntry] = []
        var skipped: [String] = []
        for name in models.keys.sorted() where name != "sample_spec" {
            guard case .object(let fields) = models[name]! else {
                skipped.append("\(name): not an object")
                continue
            }
            if let entry = entry(name: name, fields: fields, validFrom: validFrom, source: source) {
                entries.append(entry)
            } else {
                skipped.append("\(name): no price fields")
            }
        }
        return Result(entries: entries, skipped: skipped)
    }

    static func entry(name: String, fields: [String: JSONValue], validFrom: Date?, source: String) -> PriceEntry? {
        func number(_ key: String) -> Double? {
            switch fields[key] {
            case .int(let i)? where i >= 0: Double(i)
            case .double(let d)? where d.isFinite && d >= 0: d
            default: nil
            }
        }
        // LiteLLM prices are USD per token: per million = × 1e6, kept exact by PicoPrice(usdPerUnit:).
        func perToken(_ key: String) -> PicoPrice? { number(key).map(PicoPrice.init(usdPerUnit:)) }
        func perUnit(_ key: String) -> PicoPrice? { number(key).map(PicoPrice.init(usdPerUnit:)) }

        let tokens = TokenPrices(
            input: perToken("input_cost_per_token"),
            cachedInput: perToken("cache_read_input_token_cost"),
            cacheWrite: perToken("cache_creation_input_token_cost"),
            output: perToken("output_cost_per_token"),
            reasoning: perToken("output_cost_per_reasoning_token")
        )
        var tiers: [ContextTier] = []
        for threshold in [128, 200] {
            let suffix = "_above_\(threshold)k_tokens"
            let prices = TokenPrices(
                input: perToken("input_cost_per_token" + suffix),
                cachedInput: perToken("cache_read_input_token_cost" + suffix),
                cacheWrite: perToken("cache_creation_input_token_cost" + suffix),
                output: perToken("output_cost_per_token" + suffix)
            )
            if !prices.isEmpty { tiers.append(ContextTier(aboveInputTokens: Int64(threshold) * 1000, prices: prices)) }
        }
        let perImage = perUnit("output_cost_per_image") ?? perUnit("input_cost_per_image")
        let perSecond = perUnit("output_cost_per_second") ?? perUnit("output_cost_per_video_per_second")
            ?? perUnit("input_cost_per_second") ?? perUnit("input_cost_per_audio_per_second")
        let perCharacter = number("input_cost_per_character")
        let perRequest = perUnit("input_cost_per_request") ?? perUnit("output_cost_per_request")
        guard !tokens.isEmpty || !tiers.isEmpty || perImage != nil || perSecond != nil || perCharacter != nil || perRequest != nil else {
            return nil
        }
        var provider: String?
        if case .string(let p)? = fields["litellm_provider"] { provider = p }
        var category: UsageCategory?
        if case .string(let mode)? = fields["mode"] {
            category = switch mode {
            case "chat", "completion", "responses": .text
            case "embedding": .embedding
            case "image_generation": .image_gen
            case "image_edit": .image_edit
            case "audio_transcription": .transcription
            case "audio_speech": .tts
            case "video_generation": .video_gen
            default: .other
            }
        }
        // `gemini/gemini-1.5-pro` is also found as `gemini-1.5-pro` (unless another entry has that name).
        let bare = PriceCatalog.strippingProviderPrefix(name.lowercased())
        return PriceEntry(
            model: name, provider: provider, category: category, aliases: bare == name.lowercased() ? [] : [bare],
            tokens: tokens, perRequest: perRequest,
            perImage: perImage, perSecond: perSecond,
            per1kCharacters: perCharacter.map { PicoPrice(usdPerUnit: $0 * 1000) },
            tiers: tiers, validFrom: validFrom, source: source
        )
    }
}

/// A price file to import: LiteLLM's format or a tokenmeter catalog.
public enum PriceImport {
    public static let formats = ["litellm", "catalog"]

    /// Entries of `data` in `format`, every one dated `validFrom` when given.
    public static func entries(from data: Data, format: String, validFrom: Date?, source: String) throws -> LiteLLMImporter.Result {
        switch format {
        case "litellm":
            return try LiteLLMImporter.entries(from: data, validFrom: validFrom, source: source)
        case "catalog":
            var entries = try DefaultCatalog.decode(data, source: source)
            if let validFrom { for i in entries.indices { entries[i].validFrom = validFrom } }
            return LiteLLMImporter.Result(entries: entries, skipped: [])
        default:
            throw CatalogError("format: '\(format)' must be litellm or catalog")
        }
    }
}
