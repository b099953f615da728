import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A deterministic random-input test of the body decoder, normalizer and pricer, run with every
/// `swift test` (libFuzzer runs the same code paths in `Fuzz/`, via `scripts/fuzz`). Inputs are valid
/// records mutated byte by byte and structurally, plus random JSON documents. Nothing may trap, and
/// every accepted record must satisfy the invariants the store relies on.
@Suite("Decoder fuzzing")
struct DecoderFuzzTests {
    static let seeds: [String] = [
        #"{"id":"a","operation":"chat","model":"gpt-4o-mini","usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,"prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":5}}}"#,
        #"{"operation":"chat","model":"claude-sonnet-4","usage":{"input_tokens":5,"cache_read_input_tokens":300,"cache_creation_input_tokens":7,"output_tokens":9}}"#,
        #"{"operation":"x","model":"gemini-2.5-pro","usage":{"promptTokenCount":250000,"cachedContentTokenCount":3,"candidatesTokenCount":4,"thoughtsTokenCount":2}}"#,
        #"{"operation":"video","model":"veo-3","units":{"seconds":8.5,"minutes":1},"cost_usd":0.25,"credits":3,"timestamp":"2026-11-25T11:00:00.5+01:00"}"#,
        #"{"operation":"tts","model":"tts-1","units":{"characters":1234},"status":"error","error_type":"Timeout","error_message":"boom","metadata":{"k":[1,2,{"z":null}]}}"#,
        #"{"request_id":7,"action":"song","ai_model":"suno-v4","success":false,"latency_ms":12.5,"user_id":42,"plan":"pro","paying":true}"#,
    ]

    static let fragments: [String] = [
        "\"", "\\", "{", "}", "[", "]", ",", ":", "null", "true", "-1", "1e400", "0.5", "\"\\u0000\"", "\"\\ud800\"",
        "18446744073709551616", "NaN", "\"2026-13-45T99:99:99Z\"", "\"\u{1F680}\"", "{\"a\":{\"b\":[[[[]]]]}}",
    ]

    @Test func mutatedAndRandomInputsNeverTrap() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["TOKENMETER_FUZZ_ITERATIONS"] ?? "") ?? 20_000
        var rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["TOKENMETER_FUZZ_SEED"] ?? "") ?? 20261125)
        let now = RFC3339.parse("2026-11-25T12:00:00Z")!
        let normalizer = RecordNormalizer(now: { now })
        let pricing = PricingService(base: try DefaultCatalog.entries())
        var accepted = 0
        for _ in 0..<iterations {
            let bytes = Self.mutatedSeed(&rng, mutations: 1...4, copyingParts: true)
            for format in [IngestBody.Format.json, .ndjson] {
                for element in IngestBody.elements(of: bytes, format: format) {
                    guard case .success(let priced) = element.flatMap(normalizer.normalize).flatMap(pricing.priceWithinLimits) else { continue }
                    accepted += 1
                    let t = priced.record.tokens
                    #expect(t.input >= 0 && t.cachedInput >= 0 && t.cacheWrite >= 0 && t.output >= 0 && t.reasoning <= t.output)
                    #expect(priced.costNanoUSD >= 0 && priced.creditsMicro >= 0)
                    #expect(!priced.record.operation.isEmpty)
                    // Only a metered action (category other, no model) has an empty model; it is never unpriced.
                    #expect(!priced.model.isEmpty || (priced.category == .other && !priced.unpriced))
                    #expect(priced.record.timestamp.timeIntervalSince(now) <= RecordLimits.futureSkew)
                    _ = RollupFigures(priced)
                    _ = JSONValue.parse(Array((priced.record.metadataJSON ?? "null").utf8))
                }
            }
        }
        #expect(accepted > iterations / 20)  // the mutations still reach the normalizer's deeper paths
    }

    /// The byte parser answers as JSONDecoder (the ingest decoder before it) does: the same value,
    /// or an error for the same inputs, on mutated records, random documents and edge cases.
    @Test func byteParserAgreesWithJSONDecoder() {
        let edgeCases = [
            "1.0", "1e3", "1E2", "-0", "-0.0", "1.5", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809", "1e400", "-1e400", "01", "1.", ".5", "+1", "-", "1e", "1e+", "0.1e-2", "123456789012345678901234",
            #""\u00e9\ud83d\ude00""#, #""\ud800""#, #""\udc00x""#, #""\u12""#, "\"x\u{1}\"", "\"\u{7F}\"", #""a\/b\n""#,
            "[1,2", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":1,\"a\":2}", " \n[ ]\t", "nul", "truex", "[]]", "\u{FEFF}{}",
            "\"\u{1F680}\"", "[1e308,1e-400,2.5e-324]", "{\"a\":012}", "[-01]", "[012.5]", "{\"a\":00}", "[0012]", "[-0.5]", "[0e1]", "{\"a\":1,\"a\":012}", "1000000000000000.0000000000000000001", "9007199254740993.5", "[2.5,0.1e1,-7.0e-1]",
        ].map { Array($0.utf8) }
        var rng = SeededGenerator(seed: 99)
        var inputs = edgeCases
        inputs.append([0x22, 0xC3, 0x28, 0x22])  // invalid UTF-8 in a string
        inputs.append([0x22, 0xF0, 0x9F, 0x98, 0x22])  // truncated 4-byte sequence
        for _ in 0..<20_000 {
            // No copied parts: they make repeated keys whose dropped values the parser checks more
            // strictly than JSONDecoder (see JSONParser), which this comparison would report.
            inputs.append(Self.mutatedSeed(&rng, mutations: 0...3, copyingParts: false))
        }
        var disagreements: [String] = []
        for bytes in inputs {
            let reference = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            let parsed = try? JSONValue.parse(bytes).get()
            let agree = switch (reference, parsed) {
            case (nil, nil): true
            case (let r?, let p?): r.isEquivalent(to: p)
            default: false
            }
            if !agree && disagreements.count < 20 {
                disagreements.append("\(String(decoding: bytes, as: UTF8.self).debugDescription): decoder \(reference.map { "\($0)" } ?? "error") parser \(parsed.map { "\($0)" } ?? "error")")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
    }

    /// A seed record after a few byte-level and structural mutations (or a random document).
    static func mutatedSeed(_ rng: inout SeededGenerator, mutations: ClosedRange<Int>, copyingParts: Bool) -> [UInt8] {
        var bytes = Array(seeds.randomElement(using: &rng)!.utf8)
        for _ in 0..<Int.random(in: mutations, using: &rng) {
            switch Int.random(in: 0..<(copyingParts ? 5 : 4), using: &rng) {
            case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !bytes.isEmpty: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
            case 2: bytes.insert(contentsOf: Array(fragments.randomElement(using: &rng)!.utf8), at: Int.random(in: 0...bytes.count, using: &rng))
            case 3 where copyingParts && bytes.count > 2:
                let a = Int.random(in: 0..<bytes.count, using: &rng)
                let b = Int.random(in: a..<bytes.count, using: &rng)
                bytes.insert(contentsOf: bytes[a..<b], at: Int.random(in: 0...bytes.count, using: &rng))
            default: bytes = Array(randomJSON(&rng, depth: 0).utf8)
            }
        }
        return bytes
    }

    static func randomJSON(_ rng: inout SeededGenerator, depth: Int) -> String {
        let keys = ["operation", "model", "usage", "units", "input_tokens", "output_tokens", "reasoning_tokens", "cost_usd",
                    "timestamp", "status", "prompt_tokens", "promptTokenCount", "cached_tokens", "seconds", "metadata", "x"]
        switch Int.random(in: 0..<(depth > 4 ? 4 : 7), using: &rng) {
        case 0: return String(Int64.random(in: -5...Int64.max, using: &rng))
        case 1: return String(Double.random(in: -1e6...1e18, using: &rng))
        case 2: return ["\"chat\"", "\"gpt-4o\"", "\"\"", "\"2026-11-25T10:00:00Z\"", "true", "null"].randomElement(using: &rng)!
        case 3: return Self.fragments.randomElement(using: &rng)!
        case 4, 5:
            let members = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                "\"\(keys.randomElement(using: &rng)!)\":\(randomJSON(&rng, depth: depth + 1))"
            }
            return "{" + members.joined(separator: ",") + "}"
        default:
            return "[" + (0..<Int.random(in: 0...4, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        }
    }
}
