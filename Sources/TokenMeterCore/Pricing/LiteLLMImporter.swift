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
            switch entry(name: name, fields: fields, validFrom: validFrom, source: source) {
            case .success(let entry): entries.append(entry)
            case .failure(let reason): skipped.append(reason.message)
            }
        }
        return Result(entries: entries, skipped: skipped)
    }

    /// LiteLLM's token price keys and where they go; each also has `<key>_above_<N>k_tokens` tiers.
    static var tokenKeys: [(key: String, path: WritableKeyPath<TokenPrices, PicoPrice?>)] { [
        ("input_cost_per_token", \.input), ("cache_read_input_token_cost", \.cachedInput),
        ("cache_creation_input_token_cost", \.cacheWrite), ("output_cost_per_token", \.output),
        ("output_cost_per_reasoning_token", \.reasoning),
        ("cache_creation_input_token_cost_above_1hr", \.cacheWrite1h),
    ] }
    static let imageModes: Set<String> = ["image_generation", "image_edit"]

    /// One LiteLLM entry as a catalog entry, or nil with the reason it is skipped. Faithful to
    /// `litellm.cost_per_token` for records of text, cached, cache-write and reasoning tokens:
    /// every `_above_<N>k_tokens` / `_above_<N>_tokens` tier (a higher tier falls back to the lower
    /// one, as LiteLLM reads them), image-token output prices when the entry has no text output
    /// price, audio-token prices when it has no text price for that side, per-image prices only for
    /// image models, per-second and per-character prices. No bare-name alias: `vertex_ai/…` and
    /// reseller keys are found by their full key, so they never take over a first-party name.
    static func entry(name: String, fields: [String: JSONValue], validFrom: Date?, source: String) -> Swift.Result<PriceEntry, SkipReason> {
        func number(_ key: String) -> Double? {
            switch fields[key] {
            case .int(let i)? where i >= 0: Double(i)
            case .double(let d)? where d.isFinite && d >= 0: d
            default: nil
            }
        }
        // LiteLLM prices are USD per token: per million = × 1e6, kept exact by PicoPrice(usdPerUnit:).
        func perUnit(_ key: String) -> PicoPrice? { number(key).map(PicoPrice.init(usdPerUnit:)) }
        var mode: String?
        if case .string(let m)? = fields["mode"] { mode = m }
        let isImageModel = mode.map(imageModes.contains) ?? false

        var provider: String?
        if case .string(let p)? = fields["litellm_provider"] { provider = p }
        var tokens = TokenPrices()
        for (key, path) in tokenKeys { tokens[keyPath: path] = perUnit(key) }
        // LiteLLM bills Fireworks' cached input at half the input price when the entry gives none
        // (`FIREWORKS_AI_DEFAULT_CACHE_READ_RATE_RATIO`).
        if provider == "fireworks_ai", tokens.cachedInput == nil, let input = number("input_cost_per_token") {
            tokens.cachedInput = PicoPrice(usdPerUnit: input * 0.5)
        }
        if tokens.output == nil || tokens.output?.pico == 0, let image = perUnit("output_cost_per_image_token") { tokens.output = image }
        if tokens.input == nil, let audio = perUnit("input_cost_per_audio_token") { tokens.input = audio }
        if tokens.output == nil, let audio = perUnit("output_cost_per_audio_token") { tokens.output = audio }

        var thresholds: [Int64: [String: Double]] = [:]
        for (key, _) in fields {
            guard let range = key.range(of: #"_above_\d+k?_tokens$"#, options: .regularExpression) else { continue }
            let base = String(key[..<range.lowerBound])
            guard tokenKeys.contains(where: { $0.key == base }), let value = number(key) else { continue }
            let text = key[range].dropFirst("_above_".count).dropLast("_tokens".count)
            guard let count = Int64(text.hasSuffix("k") ? text.dropLast() : text) else { continue }
            thresholds[text.hasSuffix("k") ? count * 1000 : count, default: [:]][base] = value
        }
        var tiers: [ContextTier] = []
        var previous = TokenPrices()
        for threshold in thresholds.keys.sorted() {
            var prices = previous
            for (key, path) in tokenKeys {
                if let value = thresholds[threshold]![key] { prices[keyPath: path] = PicoPrice(usdPerUnit: value) }
            }
            tiers.append(ContextTier(aboveInputTokens: threshold, prices: prices))
            previous = prices
        }
        let perImage = isImageModel ? (perUnit("output_cost_per_image") ?? perUnit("input_cost_per_image")) : nil
        let perSecond = perUnit("output_cost_per_second") ?? perUnit("output_cost_per_video_per_second")
            ?? perUnit("input_cost_per_second") ?? perUnit("input_cost_per_audio_per_second")
        let perCharacter = number("input_cost_per_character")
        let perRequest = perUnit("input_cost_per_request") ?? perUnit("output_cost_per_request")
        guard !tokens.isEmpty || !tiers.isEmpty || perImage != nil || perSecond != nil || perCharacter != nil || perRequest != nil else {
            if !isImageModel, perUnit("output_cost_per_image") != nil || perUnit("input_cost_per_image") != nil {
                return .failure(.init("\(name): only a per-image price, and it is not an image model (mode \(mode ?? "none")): not imported"))
            }
            return .failure(.init("\(name): no price fields"))
        }
        var category: UsageCategory?
        if let mode {
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
        return .success(PriceEntry(
            model: name, provider: provider, category: category,
            tokens: tokens, perRequest: perRequest,
            perImage: perImage, perSecond: perSecond,
            per1kCharacters: perCharacter.map { PicoPrice(usdPerUnit: $0 * 1000) },
            tiers: tiers, validFrom: validFrom, source: source
        ))
    }

    public struct SkipReason: Error, Sendable {
        public var message: String
        init(_ message: String) { self.message = message }
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
