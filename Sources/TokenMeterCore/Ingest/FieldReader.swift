import Foundation

/// Reads typed fields out of one JSON object, by canonical name or alias, remembering which keys it
/// used so the rest can go to `metadata`. Every error names the field as the client spelled it.
struct FieldReader {
    let object: [String: JSONValue]
    let prefix: String
    /// The members in flat arrays: a record is probed for ~60 names and aliases, and comparing a
    /// name with a dozen short keys costs less than hashing it (hashing was the top of the ingest
    /// profile). Objects with many keys get a hash index instead. The keys' UTF-8 lengths are
    /// compared first: most probes differ in length from most keys, and a length is one integer
    /// compare where a string compare of two different strings was ~50 instructions (string
    /// compares were the top of the HTTP ingest profile, BENCHMARKS.md).
    private let keys: [String]
    private let keyLengths: [Int]
    private let values: [JSONValue]
    private let indexByKey: [String: Int]?
    /// One bit per key, from its length and first byte (`signature`): most of the names probed are
    /// absent, and a probe whose bit no key has is answered without looking at the keys (the scan
    /// was the top self cost of batched ingest; BENCHMARKS.md, issue 20, stop 29).
    private let signatures: UInt64
    private var consumedFlags: [Bool]

    init(_ object: [String: JSONValue], prefix: String = "") {
        self.object = object
        self.prefix = prefix
        var keys: [String] = []
        var values: [JSONValue] = []
        keys.reserveCapacity(object.count)
        values.reserveCapacity(object.count)
        for (key, value) in object {
            keys.append(key)
            values.append(value)
        }
        self.keys = keys
        keyLengths = keys.map(\.utf8.count)
        signatures = keys.reduce(0) { $0 | Self.signature($1) }
        self.values = values
        indexByKey = keys.count > 24 ? Dictionary(uniqueKeysWithValues: zip(keys, keys.indices)) : nil
        consumedFlags = Array(repeating: false, count: keys.count)
    }

    private func index(of name: String) -> Int? {
        if let indexByKey { return indexByKey[name] }
        guard signatures & Self.signature(name) != 0 else { return nil }
        let length = name.utf8.count
        for i in keys.indices where keyLengths[i] == length && keys[i] == name { return i }
        return nil
    }

    private static func signature(_ name: String) -> UInt64 {
        let utf8 = name.utf8
        return 1 &<< UInt64((utf8.count &* 31 &+ Int(utf8.first ?? 0)) & 63)
    }

    func has(_ key: String) -> Bool { index(of: key) != nil }

    /// The value of `key`, without marking it read; `nil` when absent.
    func peek(_ key: String) -> JSONValue? { index(of: key).map { values[$0] } }

    /// The keys read so far (present keys only).
    var consumed: Set<String> { Set(keys.indices.lazy.filter { consumedFlags[$0] }.map { keys[$0] }) }

    func isConsumed(_ key: String) -> Bool { index(of: key).map { consumedFlags[$0] } ?? false }

    /// The first present, non-null key among `names`, and its value.
    mutating func take(_ names: [String]) -> (key: String, value: JSONValue)? {
        for name in names {
            guard let i = index(of: name) else { continue }
            consumedFlags[i] = true
            if case .null = values[i] { continue }
            return (name, values[i])
        }
        return nil
    }

    mutating func take(_ name: String) -> (key: String, value: JSONValue)? { take([name]) }

    func label(_ key: String) -> String { prefix + key }

    mutating func string(_ names: String..., maxBytes: Int = RecordLimits.labelValueBytes, allowNumber: Bool = false) throws(NormalizationError) -> String? {
        guard let (key, value) = take(names) else { return nil }
        let text: String
        switch value {
        case .string(let s): text = s
        case .int(let i) where allowNumber: text = String(i)
        default:
            throw NormalizationError("\(label(key)): must be a string, got \(value.typeName)")
        }
        if text.utf8.contains(0) {
            throw NormalizationError("\(label(key)): contains a NUL character (U+0000)")
        }
        if Self.isBlank(text) {
            throw NormalizationError("\(label(key)): must not be empty")
        }
        if text.utf8.count > maxBytes {
            throw NormalizationError("\(label(key)): \(text.utf8.count) bytes, longer than the limit of \(maxBytes)")
        }
        return text
    }

    mutating func bool(_ name: String) throws(NormalizationError) -> Bool? {
        guard let (key, value) = take(name) else { return nil }
        guard case .bool(let b) = value else {
            throw NormalizationError("\(label(key)): must be true or false, got \(value.typeName)")
        }
        return b
    }

    mutating func count(_ names: String...) throws(NormalizationError) -> Int64? {
        guard let (key, value) = take(names) else { return nil }
        return try Self.count(value, field: label(key))
    }

    mutating func number(_ names: String..., max limit: Double = RecordLimits.maxQuantity) throws(NormalizationError) -> Double? {
        guard let (key, value) = take(names) else { return nil }
        return try Self.number(value, field: label(key), max: limit)
    }

    /// A non-negative whole number.
    static func count(_ value: JSONValue, field: String) throws(NormalizationError) -> Int64 {
        switch value {
        case .int(let i):
            guard i >= 0 else { throw NormalizationError("\(field): must not be negative, got \(i)") }
            guard i <= RecordLimits.maxTokens else { throw NormalizationError("\(field): \(i) is too large (at most \(RecordLimits.maxTokens))") }
            return i
        case .double(let d):
            guard d.isFinite else { throw NormalizationError("\(field): must be a finite number") }
            guard d >= 0 else { throw NormalizationError("\(field): must not be negative, got \(d)") }
            guard d == d.rounded() else { throw NormalizationError("\(field): must be a whole number, got \(d)") }
            guard d <= Double(RecordLimits.maxTokens) else { throw NormalizationError("\(field): \(d) is too large (at most \(RecordLimits.maxTokens))") }
            return Int64(d)
        default:
            throw NormalizationError("\(field): must be a non-negative integer, got \(value.typeName)")
        }
    }

    /// A non-negative finite number up to `limit` (larger quantities are certainly client bugs).
    static func number(_ value: JSONValue, field: String, max limit: Double = RecordLimits.maxQuantity) throws(NormalizationError) -> Double {
        let d: Double
        switch value {
        case .int(let i): d = Double(i)
        case .double(let x): d = x
        default: throw NormalizationError("\(field): must be a number, got \(value.typeName)")
        }
        guard d.isFinite else { throw NormalizationError("\(field): must be a finite number") }
        guard d >= 0 else { throw NormalizationError("\(field): must not be negative, got \(d)") }
        guard d <= limit else { throw NormalizationError("\(field): \(d) is too large (at most \(limit))") }
        return d
    }

    /// Empty or only spaces and tabs (`CharacterSet.whitespaces`), without Foundation for ASCII text.
    static func isBlank(_ text: String) -> Bool {
        for byte in text.utf8 {
            if byte >= 0x80 { return text.trimmingCharacters(in: .whitespaces).isEmpty }
            if byte != 0x20 && byte != 0x09 { return false }
        }
        return true
    }
}
