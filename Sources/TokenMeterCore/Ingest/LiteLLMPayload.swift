import Foundation

/// LiteLLM's `StandardLoggingPayload` (CONTRACT 1.2.1): what LiteLLM hands every callback as
/// `kwargs["standard_logging_object"]` and what its `generic_api` logger POSTs. Translated into a
/// plain record object, which then goes through the normalizer like any other. Prompt and response
/// text (`messages`, `response`) and LiteLLM's own bulky fields are left behind: never stored, never
/// counted toward the metadata limit.
enum LiteLLMPayload {
    /// `call_type` names the LiteLLM entry point and `startTime` is the epoch float LiteLLM logs;
    /// no record of CONTRACT 1 carries both.
    static func isStandardLoggingPayload(_ r: FieldReader) -> Bool {
        guard case .string? = r.peek("call_type") else { return false }
        switch r.peek("startTime") {
        case .int?, .double?: return true
        default: return false
        }
    }

    /// Request-tag prefixes (`request_tags`, from `metadata.tags`) that name the operation and service.
    static let operationTagPrefixes = ["operation:", "tokenmeter.operation:"]
    static let serviceTagPrefixes = ["service:", "tokenmeter.service:"]

    /// The fields of the payload kept as the record's metadata (small identifiers, no text).
    static let keptTopLevel = ["trace_id", "session_id", "litellm_call_id", "call_type", "model_group", "model_id", "api_base",
                               "cache_hit", "stream", "request_tags", "saved_cache_cost"]
    static let keptMetadata = ["user_api_key_alias", "user_api_key_team_id", "user_api_key_team_alias", "user_api_key_org_id",
                               "user_api_key_user_id", "team_id", "team_alias"]

    static func record(from p: [String: JSONValue]) throws(NormalizationError) -> [String: JSONValue] {
        let metadata = p["metadata"]?.objectValue ?? [:]
        var record: [String: JSONValue] = [:]
        func string(_ value: JSONValue?) -> String? {
            if case .string(let s)? = value, !FieldReader.isBlank(s) { return s }
            return nil
        }
        func number(_ value: JSONValue?) -> Double? {
            switch value {
            case .int(let i)?: return Double(i)
            case .double(let d)?: return d
            default: return nil
            }
        }

        if let id = string(p["id"]) ?? string(p["litellm_call_id"]) { record["id"] = .string(id) }
        if let start = number(p["startTime"]) {
            record["timestamp"] = .double(start)
            if let end = number(p["endTime"]), end >= start {
                record["duration_ms"] = .double(((end - start) * 1_000_000).rounded() / 1000)
            }
        }
        if let model = string(p["model"]) ?? string(p["model_group"]) { record["model"] = .string(model) }
        if let provider = string(p["custom_llm_provider"]) { record["provider"] = .string(provider) }
        if let status = string(p["status"]) { record["status"] = .string(status) }
        if let error = p["error_information"]?.objectValue {
            if let errorClass = string(error["error_class"]) ?? string(error["error_code"]) {
                record["error_type"] = .string(errorClass)
            }
            if let message = string(error["error_message"]) { record["error_message"] = .string(message) }
        }
        let user = string(metadata["user_api_key_end_user_id"]) ?? string(p["end_user"]) ?? string(metadata["end_user"])
            ?? string(p["model_parameters"]?["user"]) ?? string(metadata["user_api_key_user_id"])
        if let user { record["user_id"] = .string(user) }

        let tags: [String] = {
            guard case .array(let items)? = p["request_tags"] else { return [] }
            var strings: [String] = []
            for case .string(let s) in items { strings.append(s) }
            return strings
        }()
        func tagged(_ prefixes: [String]) -> String? {
            for tag in tags {
                for prefix in prefixes where tag.hasPrefix(prefix) && tag.count > prefix.count {
                    return String(tag.dropFirst(prefix.count))
                }
            }
            return nil
        }
        let operation = tagged(operationTagPrefixes) ?? string(metadata["spend_logs_metadata"]?["operation"])
            ?? string(metadata["requester_metadata"]?["operation"]) ?? string(p["call_type"])
        if let operation { record["operation"] = .string(operation) }
        let service = tagged(serviceTagPrefixes) ?? string(metadata["spend_logs_metadata"]?["service"])
            ?? string(metadata["requester_metadata"]?["service"]) ?? string(metadata["user_api_key_team_alias"])
            ?? string(metadata["team_alias"]) ?? string(metadata["user_api_key_alias"])
        if let service { record["service"] = .string(service) }

        // The detailed usage object (cache reads, writes and reasoning split out); the flat
        // `prompt_tokens` of the payload includes the cached tokens, so it is only the fallback.
        if case .object(let usage)? = metadata["usage_object"] {
            record["usage"] = .object(usage)
        } else if case .object(let usage)? = p["response"]?["usage"] {
            record["usage"] = .object(usage)
        } else {
            var usage: [String: JSONValue] = [:]
            for key in ["prompt_tokens", "completion_tokens", "total_tokens"] where p[key] != nil { usage[key] = p[key] }
            if !usage.isEmpty { record["usage"] = .object(usage) }
        }
        if let cost = number(p["response_cost"]), cost >= 0 { record["router_cost_usd"] = .double(cost) }
        // Answered from LiteLLM's cache: no provider call was made, so nothing was billed.
        if case .bool(true)? = p["cache_hit"] { record["cost_usd"] = .int(0) }

        var kept: [String: JSONValue] = [:]
        for key in keptTopLevel { if let v = p[key], v != .null { kept["litellm_\(key)"] = v } }
        for key in keptMetadata { if let v = metadata[key], v != .null { kept["litellm_\(key)"] = v } }
        if !kept.isEmpty { record["metadata"] = .object(kept) }
        return record
    }
}
