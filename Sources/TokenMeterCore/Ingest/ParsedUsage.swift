/// Token counts read from a provider usage object; `nil` where the object did not say.
struct ParsedUsage: Equatable {
    var shape: ProviderUsageShape
    var input: Int64?
    var cachedInput: Int64?
    var cacheWrite: Int64?
    /// The part of `cacheWrite` written with a 1-hour lifetime.
    var cacheWrite1h: Int64?
    var output: Int64?
    var reasoning: Int64?
    /// What a router says the call cost (OpenRouter's `usage.cost`), in USD.
    var routerCostUSD: Double?
    /// Non-zero counts in fields this parser does not understand, by path inside the usage object.
    var unrecognized: [String: Int64] = [:]
    var consumedKeys: Set<String> = []

    /// Parses `object` (a `usage` value, or the record itself when the usage fields are flat).
    /// `prefix` is how fields are named in error messages, e.g. `usage.`. `scanUnknown`: look for
    /// unrecognized counts (not for a flat record, whose other keys are the record's own).
    static func parse(_ object: [String: JSONValue], prefix: String, scanUnknown: Bool = true) throws(NormalizationError) -> ParsedUsage? {
        guard let shape = try ProviderUsageShape.detect(object) else { return nil }
        var reader = UsageReader(object: object, prefix: prefix)
        var result = ParsedUsage(shape: shape)
        switch shape {
        case .openAIChat: try result.readChat(&reader)
        case .openAIResponses: try result.readResponses(&reader)
        case .anthropic: try result.readAnthropic(&reader)
        case .gemini: try result.readGemini(&reader)
        case .bedrock: try result.readBedrock(&reader)
        }
        if let oneHour = result.cacheWrite1h, oneHour > (result.cacheWrite ?? 0) {
            throw NormalizationError("\(prefix)1-hour cache writes (\(oneHour)) exceed the cache writes (\(result.cacheWrite ?? 0))")
        }
        if let reasoning = result.reasoning, reasoning > (result.output ?? 0) {
            throw NormalizationError("\(prefix)reasoning tokens (\(reasoning)) exceed the output tokens (\(result.output ?? 0))")
        }
        if scanUnknown {
            result.unrecognized = reader.unrecognizedCounts()
        }
        result.consumedKeys = reader.topLevelKeysRead
        return result
    }

    // MARK: shapes

    private mutating func readChat(_ r: inout UsageReader) throws(NormalizationError) {
        var prompt = try r.count("prompt_tokens")
        let hit = try r.count("prompt_cache_hit_tokens")
        let miss = try r.count("prompt_cache_miss_tokens")
        if prompt == nil, hit != nil || miss != nil { prompt = (hit ?? 0) + (miss ?? 0) }
        // LiteLLM's `Usage` repeats the cache counts under Anthropic's names; DeepSeek names the hit.
        let detailsCached = try r.count("prompt_tokens_details.cached_tokens")
        let anthropicCached = try r.count("cache_read_input_tokens")
        let cached = detailsCached ?? hit ?? anthropicCached
        let detailsWritten = try r.count("prompt_tokens_details.cache_write_tokens")
        let litellmWritten = try r.count("prompt_tokens_details.cache_creation_tokens")
        let anthropicWritten = try r.count("cache_creation_input_tokens")
        let written = detailsWritten ?? litellmWritten ?? anthropicWritten
        let detailsOneHour = try r.count("prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens")
        let anthropicOneHour = try r.count("cache_creation.ephemeral_1h_input_tokens")
        cacheWrite1h = detailsOneHour ?? anthropicOneHour
        // LiteLLM's TTL split of the writes (OpenAI's 30-minute and 12-hour ones among them) is a part
        // of the writes already counted; only Anthropic's 1-hour writes have a rate of their own.
        r.known("prompt_tokens_details.cache_creation_token_details.ephemeral_5m_input_tokens", "cache_creation.ephemeral_5m_input_tokens",
                "prompt_tokens_details.cache_creation_token_details.ephemeral_30m_input_tokens",
                "prompt_tokens_details.cache_creation_token_details.ephemeral_12h_input_tokens",
                "prompt_tokens_details.initial_prompt_tokens",
                "prompt_tokens_details.audio_tokens", "prompt_tokens_details.text_tokens", "prompt_tokens_details.image_tokens",
                "prompt_tokens_details.video_tokens", "completion_tokens_details.audio_tokens", "completion_tokens_details.text_tokens",
                "completion_tokens_details.image_tokens", "completion_tokens_details.accepted_prediction_tokens",
                "completion_tokens_details.rejected_prediction_tokens", "cost_details", "is_byok", "num_sources_used")
        if let cost = try r.number("cost") { routerCostUSD = cost }
        // xAI's own figure, in ticks of 1e-10 USD.
        if let ticks = try r.count("cost_in_usd_ticks"), routerCostUSD == nil { routerCostUSD = Double(ticks) / 1e10 }
        var completion = try r.count("completion_tokens")
        let reasoningCount = try r.count("completion_tokens_details.reasoning_tokens")
        let total = try r.count("total_tokens")
        // xAI counts reasoning outside `completion_tokens`: its total says so, or, without a total,
        // reasoning larger than the completion (impossible when reasoning is a part of it).
        if let total, let p = prompt, let c = completion, let rc = reasoningCount, rc > 0, total == p + c + rc, total != p + c {
            completion = c + rc
        } else if total == nil, let c = completion, let rc = reasoningCount, rc > c {
            completion = c + rc
        } else if let total, let p = prompt, let c = completion, total != p + c {
            throw NormalizationError("\(r.prefix)total_tokens: \(total) is not prompt_tokens + completion_tokens (\(p + c))")
        }
        cachedInput = cached
        cacheWrite = written
        input = try Self.uncached(prompt, cached: cached, written: written, prefix: r.prefix, promptField: "prompt_tokens",
                                  cachedField: "prompt_tokens_details.cached_tokens", writtenField: "prompt_tokens_details.cache_write_tokens")
        output = completion
        reasoning = reasoningCount
    }

    private mutating func readResponses(_ r: inout UsageReader) throws(NormalizationError) {
        let prompt = try r.count("input_tokens")
        let cached = try r.count("input_tokens_details.cached_tokens")
        let written = try r.count("input_tokens_details.cache_write_tokens")
        r.known("input_tokens_details.cache_write_tokens_details")
        let out = try r.count("output_tokens")
        let total = try r.count("total_tokens")
        if let total, let prompt, let out, total != prompt + out {
            throw NormalizationError("\(r.prefix)total_tokens: \(total) is not input_tokens + output_tokens (\(prompt + out))")
        }
        cachedInput = cached
        cacheWrite = written
        input = try Self.uncached(prompt, cached: cached, written: written, prefix: r.prefix, promptField: "input_tokens",
                                  cachedField: "input_tokens_details.cached_tokens", writtenField: "input_tokens_details.cache_write_tokens")
        output = out
        reasoning = try r.count("output_tokens_details.reasoning_tokens")
    }

    private mutating func readAnthropic(_ r: inout UsageReader) throws(NormalizationError) {
        input = try r.count("input_tokens")
        cachedInput = try r.count("cache_read_input_tokens")
        let fiveMinutes = try r.count("cache_creation.ephemeral_5m_input_tokens")
        let oneHour = try r.count("cache_creation.ephemeral_1h_input_tokens")
        let written = try r.count("cache_creation_input_tokens")
        cacheWrite = written ?? (fiveMinutes != nil || oneHour != nil ? (fiveMinutes ?? 0) + (oneHour ?? 0) : nil)
        cacheWrite1h = oneHour
        output = try r.count("output_tokens")
        reasoning = try r.count("output_tokens_details.thinking_tokens")
        // An OpenAI-style details object that some dumps carry with zeros.
        r.known("output_tokens_details.reasoning_tokens", "input_tokens_details.cached_tokens", "total_tokens")
        // `server_tool_use` counts billable web searches and fetches: not tokens, and not priced
        // here, so non-zero ones are reported as unrecognized rather than dropped.
    }

    private mutating func readGemini(_ r: inout UsageReader) throws(NormalizationError) {
        let prompt = try r.count("promptTokenCount", "prompt_token_count")
        let cached = try r.count("cachedContentTokenCount", "cached_content_token_count")
        let toolUse = try r.count("toolUsePromptTokenCount", "tool_use_prompt_token_count")
        let candidates = try r.count("candidatesTokenCount", "candidates_token_count")
        let thoughts = try r.count("thoughtsTokenCount", "thoughts_token_count")
        r.known("totalTokenCount", "total_token_count", "promptTokensDetails", "prompt_tokens_details", "cacheTokensDetails",
                "cache_tokens_details", "candidatesTokensDetails", "candidates_tokens_details", "toolUsePromptTokensDetails",
                "tool_use_prompt_tokens_details", "trafficType", "traffic_type")
        cachedInput = cached
        // Tool-use prompt tokens (results fed back to the model) are input, outside promptTokenCount.
        if let uncachedPrompt = try Self.uncached(prompt, cached: cached, written: nil, prefix: r.prefix, promptField: "promptTokenCount",
                                                  cachedField: "cachedContentTokenCount", writtenField: "") {
            input = uncachedPrompt + (toolUse ?? 0)
        } else if let toolUse {
            input = toolUse
        }
        if candidates != nil || thoughts != nil {
            output = (candidates ?? 0) + (thoughts ?? 0)
        }
        reasoning = thoughts
    }

    private mutating func readBedrock(_ r: inout UsageReader) throws(NormalizationError) {
        input = try r.count("inputTokens")
        cachedInput = try r.count("cacheReadInputTokens")
        cacheWrite = try r.count("cacheWriteInputTokens")
        output = try r.count("outputTokens")
        r.known("totalTokens")
        cacheWrite1h = try r.bedrockOneHourWrites()
    }

    /// `prompt` minus its cached and written parts, with errors naming the fields.
    private static func uncached(_ prompt: Int64?, cached: Int64?, written: Int64?, prefix: String,
                                 promptField: String, cachedField: String, writtenField: String) throws(NormalizationError) -> Int64? {
        guard let prompt else {
            if cached != nil { throw NormalizationError("\(prefix)\(cachedField): given without \(prefix)\(promptField)") }
            if written != nil { throw NormalizationError("\(prefix)\(writtenField): given without \(prefix)\(promptField)") }
            return nil
        }
        let cached = cached ?? 0
        guard cached <= prompt else {
            throw NormalizationError("\(prefix)\(cachedField): \(cached) exceeds \(prefix)\(promptField) (\(prompt))")
        }
        let written = written ?? 0
        guard cached + written <= prompt else {
            throw NormalizationError("\(prefix)\(writtenField): \(written) plus \(cached) cached exceeds \(prefix)\(promptField) (\(prompt))")
        }
        return prompt - cached - written
    }
}
