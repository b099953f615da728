/// Reads counts out of a provider usage object by dotted path (`prompt_tokens_details.cached_tokens`),
/// remembering every path it knows so that what is left can be checked for counts nobody read.
struct UsageReader {
    let object: [String: JSONValue]
    /// How fields are named in error messages, e.g. `usage.`.
    let prefix: String
    private(set) var knownPaths: Set<String> = []

    init(object: [String: JSONValue], prefix: String) {
        self.object = object
        self.prefix = prefix
    }

    /// Marks paths as understood without reading them (breakdowns of counts read elsewhere).
    mutating func known(_ paths: String...) { knownPaths.formUnion(paths) }

    /// The value at `path`; `nil` when it or a container on the way is absent or `null`.
    func value(at path: String) throws(NormalizationError) -> JSONValue? {
        var current: JSONValue = .object(object)
        var walked = ""
        for component in path.split(separator: ".") {
            guard case .object(let members) = current else {
                throw NormalizationError("\(prefix)\(walked): must be an object, got \(current.typeName)")
            }
            walked += walked.isEmpty ? String(component) : ".\(component)"
            guard let next = members[String(component)], next != .null else { return nil }
            current = next
        }
        return current
    }

    /// The first of `paths` that has a value, as a non-negative whole number.
    mutating func count(_ paths: String...) throws(NormalizationError) -> Int64? {
        knownPaths.formUnion(paths)
        for path in paths {
            guard let value = try value(at: path) else { continue }
            return try FieldReader.count(value, field: prefix + path)
        }
        return nil
    }

    /// A non-negative amount of USD.
    mutating func number(_ path: String) throws(NormalizationError) -> Double? {
        knownPaths.insert(path)
        guard let value = try value(at: path) else { return nil }
        return try FieldReader.number(value, field: prefix + path, max: RecordLimits.maxCostUSD)
    }

    /// Bedrock's `cacheDetails`: `[{"ttl": "1h" | "5m", "inputTokens": n}]`; the 1-hour writes.
    mutating func bedrockOneHourWrites() throws(NormalizationError) -> Int64? {
        knownPaths.insert("cacheDetails")
        guard let value = try value(at: "cacheDetails") else { return nil }
        guard case .array(let details) = value else {
            throw NormalizationError("\(prefix)cacheDetails: must be an array, got \(value.typeName)")
        }
        var oneHour: Int64?
        for (i, detail) in details.enumerated() {
            guard case .object(let members) = detail else {
                throw NormalizationError("\(prefix)cacheDetails[\(i)]: must be an object, got \(detail.typeName)")
            }
            guard case .string(let ttl)? = members["ttl"], ttl == "1h" else { continue }
            if let tokens = members["inputTokens"], tokens != .null {
                oneHour = (oneHour ?? 0) + (try FieldReader.count(tokens, field: "\(prefix)cacheDetails[\(i)].inputTokens"))
            }
        }
        return oneHour
    }

    /// The top-level keys the reader knows that the object has.
    var topLevelKeysRead: Set<String> {
        Set(knownPaths.compactMap { path in
            let first = String(path.split(separator: ".").first ?? "")
            return object[first] != nil ? first : nil
        })
    }

    /// Every positive number at a path the reader does not know (nor any container of it knows),
    /// by path. Arrays are not searched: the shapes use them only for per-modality breakdowns.
    func unrecognizedCounts() -> [String: Int64] {
        var found: [String: Int64] = [:]
        func walk(_ members: [String: JSONValue], _ base: String) {
            for (key, value) in members {
                let path = base.isEmpty ? key : "\(base).\(key)"
                if knownPaths.contains(path) { continue }
                switch value {
                case .object(let inner): walk(inner, path)
                case .int(let i) where i > 0: found[path] = i
                case .double(let d) where d > 0 && d.isFinite: found[path] = d >= 9.2e18 ? Int64.max : max(1, Int64(d.rounded()))
                default: continue
                }
            }
        }
        walk(object, "")
        return found
    }
}
