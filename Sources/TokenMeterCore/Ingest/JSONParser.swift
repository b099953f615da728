/// A strict RFC 8259 parser from bytes straight to `JSONValue`. It replaces `JSONDecoder` on the
/// ingest path, where decoding through `Codable` (a `try?` cascade per value) was the largest
/// share of server CPU. It keeps JSONDecoder's answers: numbers with an exact Int64 value (`1.0`,
/// `1e3`, `5.7e+17` as the integer the decimal text denotes) are `.int`, other numbers `.double`;
/// non-finite numbers, invalid UTF-8, raw control characters and lone surrogates are errors; a
/// repeated key keeps its first value, and its later values are checked for structure but not for
/// number ranges, leading zeros or string contents (JSONDecoder only skims them too); a
/// trailing comma before `]` or `}` is accepted. The depth limit is checked while parsing.
struct JSONParser {
    struct Failure: Error {
        let message: String
        /// False for the depth limit: the path would only be 64 levels of brackets.
        var locatable = true
        /// Where in the document, innermost last once complete (built while unwinding, so only errors pay for it).
        var reversedPath: [String] = []

        var path: String {
            locatable ? reversedPath.reversed().joined().trimmingPrefix(".").description : ""
        }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    /// Above 0 while reading the value of a repeated key, which is dropped: only its syntax counts.
    private var skipping = 0
    private let maxDepth: Int

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        // A UTF-8 byte order mark is skipped, as JSONDecoder does.
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { parser.index = 3 }
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected data after the JSON value") }
        return value
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func failure(_ what: String) -> Failure {
        Failure(message: "\(what) at byte \(index)")
    }

    private func unexpected() -> Failure {
        guard index < bytes.count else { return Failure(message: "unexpected end of data") }
        let byte = bytes[index]
        let shown = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return failure("unexpected \(shown)")
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func value() throws(Failure) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw unexpected() }
        switch bytes[index] {
        case 0x7B: return try object()
        case 0x5B: return try array()
        case 0x22: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        case 0x2D, 0x30...0x39: return try number()
        default: throw unexpected()
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("truncated literal") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw unexpected() }
        index += count
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        if depth > maxDepth { throw Failure(message: "nested deeper than \(maxDepth) levels", locatable: false) }
        index += 1
    }

    private mutating func object() throws(Failure) -> JSONValue {
        try enter()
        // Room for a typical record (8 members) at once: growing 1, 2, 4, 8 rehashed every key three times.
        var members = [String: JSONValue](minimumCapacity: 8)
        skipWhitespace()
        if index < bytes.count && bytes[index] == 0x7D {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            if index < bytes.count && bytes[index] == 0x7D && !members.isEmpty {
                index += 1
                depth -= 1
                return .object(members)
            }
            guard index < bytes.count && bytes[index] == 0x22 else { throw unexpected() }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count && bytes[index] == 0x3A else { throw unexpected() }
            index += 1
            do {
                if members[key] == nil {
                    members[key] = try value()
                } else {
                    skipping += 1
                    _ = try value()
                    skipping -= 1
                }
            } catch {
                var located = error
                located.reversedPath.append(".\(key.count > 64 ? key.prefix(64) + "…" : key)")
                throw located
            }
            skipWhitespace()
            guard index < bytes.count else { throw unexpected() }
            switch bytes[index] {
            case 0x2C: index += 1
            case 0x7D:
                index += 1
                depth -= 1
                return .object(members)
            default: throw unexpected()
            }
        }
    }

    private mutating func array() throws(Failure) -> JSONValue {
        try enter()
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == 0x5D {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if index < bytes.count && bytes[index] == 0x5D && !elements.isEmpty {
                index += 1
                depth -= 1
                return .array(elements)
            }
            do {
                elements.append(try value())
            } catch {
                var located = error
                located.reversedPath.append("[\(elements.count)]")
                throw located
            }
            skipWhitespace()
            guard index < bytes.count else { throw unexpected() }
            switch bytes[index] {
            case 0x2C: index += 1
            case 0x5D:
                index += 1
                depth -= 1
                return .array(elements)
            default: throw unexpected()
            }
        }
    }

    private mutating func string() throws(Failure) -> String {
        index += 1  // opening quote
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii || skipping > 0 { return String(decoding: raw, as: UTF8.self) }
                guard let text = String(validating: raw, as: UTF8.self) else { throw Failure(message: "invalid UTF-8 in a string starting at byte \(start)") }
                return text
            }
            if byte == 0x5C { return try escapedString(from: start) }
            if byte < 0x20 { throw failure("unescaped control character in a string") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        throw Failure(message: "unterminated string starting at byte \(start - 1)")
    }

    /// The rest of a string that has escapes, from its first byte.
    private mutating func escapedString(from start: Int) throws(Failure) -> String {
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0x22:
                index += 1
                if skipping > 0 { return String(decoding: out, as: UTF8.self) }
                guard let text = String(validating: out, as: UTF8.self) else { throw Failure(message: "invalid UTF-8 in a string starting at byte \(start)") }
                return text
            case 0x5C:
                index += 1
                guard index < bytes.count else { break }
                switch bytes[index] {
                case 0x22: out.append(0x22)
                case 0x5C: out.append(0x5C)
                case 0x2F: out.append(0x2F)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    let scalar = try unicodeEscape()
                    out.append(contentsOf: String(Character(scalar)).utf8)
                    continue
                default: throw failure("invalid escape")
                }
                index += 1
            case 0..<0x20:
                throw failure("unescaped control character in a string")
            default:
                out.append(byte)
                index += 1
            }
        }
        throw Failure(message: "unterminated string starting at byte \(start - 1)")
    }

    /// `\uXXXX` (index at the `u`), joining a surrogate pair; leaves index after the escape.
    private mutating func unicodeEscape() throws(Failure) -> Unicode.Scalar {
        let first = try hex4()
        if skipping > 0 { return Unicode.Scalar(first) ?? "?" }
        if (0xD800..<0xDC00).contains(first) {
            guard index + 1 < bytes.count && bytes[index] == 0x5C && bytes[index + 1] == 0x75 else {
                throw failure("unpaired UTF-16 surrogate")
            }
            index += 1
            let second = try hex4()
            guard (0xDC00..<0xE000).contains(second) else { throw failure("unpaired UTF-16 surrogate") }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
        }
        guard let scalar = Unicode.Scalar(first) else { throw failure("unpaired UTF-16 surrogate") }
        return scalar
    }

    /// Four hex digits after the `u` at index; leaves index after them.
    private mutating func hex4() throws(Failure) -> UInt32 {
        guard index + 4 < bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt32 = 0
        for offset in 1...4 {
            let digit: UInt32 = switch bytes[index + offset] {
            case 0x30...0x39: UInt32(bytes[index + offset] - 0x30)
            case 0x41...0x46: UInt32(bytes[index + offset] - 0x41 + 10)
            case 0x61...0x66: UInt32(bytes[index + offset] - 0x61 + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | digit
        }
        index += 5
        return value
    }

    private mutating func number() throws(Failure) -> JSONValue {
        let start = index
        let negative = bytes[index] == 0x2D
        if negative { index += 1 }
        var magnitude: UInt64 = 0
        var overflow = false
        let integerStart = index
        while index < bytes.count, case 0x30...0x39 = bytes[index] {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[index] - 0x30))
            overflow = overflow || o1 || o2
            magnitude = sum
            index += 1
        }
        let integerDigits = index - integerStart
        guard integerDigits > 0 else { throw unexpected() }
        // JSONDecoder checks the digits of a repeated key's dropped value only when converting it.
        guard !(integerDigits > 1 && bytes[integerStart] == 0x30) || skipping > 0 else { throw failure("number with a leading zero") }
        let integerEnd = index
        var fraction = integerEnd..<integerEnd
        var exponent = 0
        if index < bytes.count && bytes[index] == 0x2E {
            index += 1
            let fractionStart = index
            guard digits() > 0 else { throw failure("number without digits after the decimal point") }
            fraction = fractionStart..<index
        }
        if index < bytes.count && (bytes[index] == 0x65 || bytes[index] == 0x45) {
            index += 1
            var exponentNegative = false
            if index < bytes.count && (bytes[index] == 0x2B || bytes[index] == 0x2D) {
                exponentNegative = bytes[index] == 0x2D
                index += 1
            }
            let exponentStart = index
            guard digits() > 0 else { throw failure("number without digits in the exponent") }
            for position in exponentStart..<index { exponent = min(exponent * 10 + Int(bytes[position] - 0x30), 100_000) }
            if exponentNegative { exponent = -exponent }
        }
        let simpleInteger = fraction.isEmpty && exponent == 0 && index == integerEnd
        if simpleInteger && !overflow, let value = Self.signed(magnitude, negative: negative) { return .int(value) }
        if !simpleInteger, let exact = exactInteger(integerStart..<integerEnd, fraction, exponent),
           let value = Self.signed(exact, negative: negative) {
            return .int(value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else {
            if skipping > 0 { return .null }
            throw Failure(message: "number \(text) at byte \(start) is out of range")
        }
        // Like JSONDecoder: a Double that holds an integer exactly (below 2^53: 1e15 + 1e-19 reads as
        // 1e15, 1e-400 as 0) is that integer.
        if abs(double) < 9_007_199_254_740_992, let exact = Int64(exactly: double) { return .int(exact) }
        return .double(double)
    }

    private static func signed(_ magnitude: UInt64, negative: Bool) -> Int64? {
        if !negative { return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil }
        return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
    }

    /// The magnitude of a decimal literal with a fraction or exponent when it is a whole number
    /// that fits in UInt64 (`5.7e+17` is exactly 570000000000000000), else nil.
    private func exactInteger(_ integer: Range<Int>, _ fraction: Range<Int>, _ exponent: Int) -> UInt64? {
        // The literal is digits × 10^scale, digits being the integer then the fraction digits.
        var digits = Array(bytes[integer]) + Array(bytes[fraction])
        var scale = exponent - fraction.count
        while let last = digits.last, last == 0x30, digits.count > 1 {
            digits.removeLast()
            scale += 1
        }
        if digits.allSatisfy({ $0 == 0x30 }) { return 0 }
        guard scale >= 0, scale <= 20 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit - 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        for _ in 0..<scale {
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            value = times10
        }
        return value
    }

    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, case 0x30...0x39 = bytes[index] { index += 1 }
        return index - start
    }
}
