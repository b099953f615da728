/// The provider usage objects of CONTRACT 1.2, each normalized to the disjoint token fields.
enum ProviderUsageShape: String, Sendable {
    case openAIChat, openAIResponses, anthropic, gemini

    /// Keys that identify a provider usage object laid out flat at the top level of a record.
    static let flatMarkers: [String] = [
        "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details",
        "input_tokens_details", "output_tokens_details", "cache_read_input_tokens", "cache_creation_input_tokens",
        "promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount",
        "prompt_token_count", "candidates_token_count",
    ]

    static func detect(_ object: [String: JSONValue]) -> ProviderUsageShape? {
        func any(_ keys: String...) -> Bool { keys.contains { object[$0] != nil } }
        if any("promptTokenCount", "candidatesTokenCount", "totalTokenCount", "prompt_token_count", "candidates_token_count") {
            return .gemini
        }
        if any("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details") {
            return .openAIChat
        }
        if any("input_tokens_details", "output_tokens_details") { return .openAIResponses }
        if any("cache_read_input_tokens", "cache_creation_input_tokens", "input_tokens", "output_tokens") {
            return .anthropic
        }
        return nil
    }
}

/// Token counts read from a provider usage object; `nil` where the object did not say.
struct ParsedUsage: Equatable {
    var shape: ProviderUsageShape
    var input: Int64?
    var cachedInput: Int64?
    var cacheWrite: Int64?
    var output: Int64?
    var reasoning: Int64?
    var consumedKeys: Set<String> = []

    /// Parses `object` (a `usage` value, or the record itself when the usage fields are flat).
    /// `prefix` is how fields are named in error messages, e.g. `usage.`.
    static func parse(_ object: [String: JSONValue], prefix: String) throws(NormalizationError) -> ParsedUsage? {
        guard let shape = ProviderUsageShape.detect(object) else { return nil }
        var reader = FieldReader(object, prefix: prefix)
        var result = ParsedUsage(shape: shape)
        switch shape {
        case .openAIChat:
            let prompt = try reader.count("prompt_tokens")
            let cached = try Self.nestedCount(&reader, "prompt_tokens_details", "cached_tokens")
            let completion = try reader.count("completion_tokens")
            let reasoning = try Self.nestedCount(&reader, "completion_tokens_details", "reasoning_tokens")
            let total = try reader.count("total_tokens")
            result.cachedInput = cached
            result.input = try Self.subtractCached(prompt, cached, promptField: prefix + "prompt_tokens",
                                                   cachedField: prefix + "prompt_tokens_details.cached_tokens")
            result.output = completion
            result.reasoning = reasoning
            if let total, let prompt, let completion, total != prompt + completion {
                throw NormalizationError("\(prefix)total_tokens: \(total) is not prompt_tokens + completion_tokens (\(prompt + completion))")
            }
        case .openAIResponses:
            let input = try reader.count("input_tokens")
            let cached = try Self.nestedCount(&reader, "input_tokens_details", "cached_tokens")
            let output = try reader.count("output_tokens")
            let reasoning = try Self.nestedCount(&reader, "output_tokens_details", "reasoning_tokens")
            let total = try reader.count("total_tokens")
            result.cachedInput = cached
            result.input = try Self.subtractCached(input, cached, promptField: prefix + "input_tokens",
                                                   cachedField: prefix + "input_tokens_details.cached_tokens")
            result.output = output
            result.reasoning = reasoning
            if let total, let input, let output, total != input + output {
                throw NormalizationError("\(prefix)total_tokens: \(total) is not input_tokens + output_tokens (\(input + output))")
            }
        case .anthropic:
            result.input = try reader.count("input_tokens")
            result.cachedInput = try reader.count("cache_read_input_tokens")
            result.cacheWrite = try reader.count("cache_creation_input_tokens")
            result.output = try reader.count("output_tokens")
        case .gemini:
            let prompt = try reader.count("promptTokenCount", "prompt_token_count")
            let cached = try reader.count("cachedContentTokenCount", "cached_content_token_count")
            let candidates = try reader.count("candidatesTokenCount", "candidates_token_count")
            let thoughts = try reader.count("thoughtsTokenCount", "thoughts_token_count")
            _ = reader.take(["totalTokenCount", "total_token_count"])
            result.cachedInput = cached
            result.input = try Self.subtractCached(prompt, cached, promptField: prefix + "promptTokenCount",
                                                   cachedField: prefix + "cachedContentTokenCount")
            if candidates != nil || thoughts != nil {
                result.output = (candidates ?? 0) + (thoughts ?? 0)
            }
            result.reasoning = thoughts
        }
        if let reasoning = result.reasoning, reasoning > (result.output ?? 0) {
            throw NormalizationError("\(prefix)reasoning tokens (\(reasoning)) exceed the output tokens (\(result.output ?? 0))")
        }
        result.consumedKeys = reader.consumed
        return result
    }

    private static func nestedCount(_ reader: inout FieldReader, _ container: String, _ key: String) throws(NormalizationError) -> Int64? {
        guard let (name, value) = reader.take(container) else { return nil }
        guard case .object(let inner) = value else {
            throw NormalizationError("\(reader.label(name)): must be an object, got \(value.typeName)")
        }
        guard let nested = inner[key], nested != .null else { return nil }
        return try FieldReader.count(nested, field: reader.label("\(name).\(key)"))
    }

    private static func subtractCached(_ prompt: Int64?, _ cached: Int64?, promptField: String, cachedField: String) throws(NormalizationError) -> Int64? {
        guard let prompt else {
            if cached != nil { throw NormalizationError("\(cachedField): given without \(promptField)") }
            return nil
        }
        let cached = cached ?? 0
        guard cached <= prompt else {
            throw NormalizationError("\(cachedField): \(cached) exceeds \(promptField) (\(prompt))")
        }
        return prompt - cached
    }
}
