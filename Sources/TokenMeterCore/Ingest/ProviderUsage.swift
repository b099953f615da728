/// The provider usage objects of CONTRACT 1.2, each normalized to the disjoint token fields.
///
/// The shape is decided by the keys that carry values (`UsageValue.carries`): SDK dumps such as
/// pydantic's `model_dump()` include every field of every shape they know, `null` or not, so a key
/// that is present but `null`, `0` or empty says nothing. Where no key carries a value the shapes
/// agree (no cache, no reasoning), and the keys that are present at all decide.
enum ProviderUsageShape: String, Sendable {
    /// OpenAI Chat Completions and the routers and providers that copy it: OpenRouter, DeepSeek,
    /// Mistral, xAI, LiteLLM's `Usage`. `prompt_tokens` includes cache reads and writes.
    case openAIChat
    /// OpenAI Responses: `input_tokens` includes cache reads and writes.
    case openAIResponses
    /// Anthropic Messages: `input_tokens` excludes cache reads and writes.
    case anthropic
    /// Google Gemini / Vertex, camelCase (REST, `by_alias`) or snake_case (the Python SDK).
    case gemini
    /// Amazon Bedrock Converse: `inputTokens` excludes cache reads and writes.
    case bedrock

    static let geminiKeys = [
        "promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount", "thoughtsTokenCount",
        "toolUsePromptTokenCount", "prompt_token_count", "candidates_token_count", "total_token_count",
        "cached_content_token_count", "thoughts_token_count", "tool_use_prompt_token_count",
    ]
    static let bedrockKeys = ["inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens", "cacheWriteInputTokens", "cacheDetails"]
    static let chatKeys = [
        "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details",
        "prompt_cache_hit_tokens", "prompt_cache_miss_tokens",
    ]
    static let anthropicKeys = ["cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation", "server_tool_use"]

    /// Keys that identify a provider usage object laid out flat at the top level of a record
    /// (a logger that spread the provider's usage object); only non-null ones count.
    static let flatMarkers: [String] = [
        "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details",
        "input_tokens_details", "output_tokens_details", "cache_read_input_tokens", "cache_creation_input_tokens",
        "cache_creation", "prompt_cache_hit_tokens", "prompt_cache_miss_tokens",
        "promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount",
        "prompt_token_count", "candidates_token_count", "cached_content_token_count", "thoughts_token_count",
        "tool_use_prompt_token_count", "inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens",
    ]

    /// Whether this shape's input count includes the cached tokens (so a separately given cached
    /// count is split off it).
    var inputIncludesCache: Bool { self == .openAIChat || self == .openAIResponses || self == .gemini }

    static func detect(_ object: [String: JSONValue]) throws(NormalizationError) -> ProviderUsageShape? {
        func carried(_ keys: [String]) -> String? { keys.first { UsageValue.carries(object[$0]) } }
        if carried(geminiKeys) != nil { return .gemini }
        if carried(bedrockKeys) != nil { return .bedrock }
        if carried(chatKeys) != nil { return .openAIChat }
        let responses = UsageValue.carries(object["input_tokens_details"]) ? "input_tokens_details"
            : UsageValue.carries(object["output_tokens_details"]?["reasoning_tokens"]) ? "output_tokens_details.reasoning_tokens" : nil
        let anthropic = carried(anthropicKeys)
            ?? (UsageValue.carries(object["output_tokens_details"]?["thinking_tokens"]) ? "output_tokens_details.thinking_tokens" : nil)
        if let responses, let anthropic {
            throw NormalizationError("usage: \(responses) (OpenAI Responses) and \(anthropic) (Anthropic) both carry values; send one provider's usage object")
        }
        if responses != nil { return .openAIResponses }
        if anthropic != nil { return .anthropic }
        // Nothing distinctive carries a value: the shapes agree, pick by the keys present at all.
        func present(_ keys: [String]) -> Bool { keys.contains { UsageValue.isPresent(object[$0]) } }
        if present(geminiKeys) { return .gemini }
        if present(bedrockKeys) { return .bedrock }
        if present(chatKeys) { return .openAIChat }
        if present(["input_tokens_details", "output_tokens_details"]) { return .openAIResponses }
        if present(anthropicKeys + ["input_tokens", "output_tokens"]) { return .anthropic }
        return nil
    }
}

/// What a JSON value says about a usage object's shape.
enum UsageValue {
    /// Not absent, not `null`, not `0`, `""`, `false`, `{}` or `[]`, nor made only of such values.
    static func carries(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null?: return false
        case .int(let i)?: return i != 0
        case .double(let d)?: return d != 0
        case .bool(let b)?: return b
        case .string(let s)?: return !s.isEmpty
        case .object(let o)?: return o.values.contains { carries($0) }
        case .array(let a)?: return a.contains { carries($0) }
        }
    }

    static func isPresent(_ value: JSONValue?) -> Bool {
        if case .null? = value { return false }
        return value != nil
    }
}

extension JSONValue {
    /// The member `key` of an object; `nil` for anything else.
    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }
}
