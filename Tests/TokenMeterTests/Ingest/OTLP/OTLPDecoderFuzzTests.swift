import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A deterministic random-input test of the OTLP decoders and the span mapping, run with every
/// `swift test` (libFuzzer runs the same paths in `Fuzz/Sources/tokenmeter-otlp-fuzz` via
/// `scripts/fuzz`). Valid exports, protobuf, JSON and gzip, are mutated byte by byte; nothing may
/// trap, and every record a decoded span maps to must keep the store's invariants.
@Suite("OTLP decoder fuzzing")
struct OTLPDecoderFuzzTests {
    typealias F = OTLPFixture

    static func seeds() -> [[UInt8]] {
        let spans = SpanMappingTableTests.variants.enumerated().map { i, v in F.span(v.attributes, name: v.spanName, spanID: UInt8(i + 1), parent: 1) }
        let request = F.request(spans + [F.span(OTLPDecoderTests.everyValueType, spanID: 99)])
        let protobuf = F.encode(request)
        return [protobuf, gzipCompress(protobuf), Array(OTLPJSONEncoder.encode(request).serialized().utf8)]
    }

    @Test func mutatedExportsNeverTrapAndMappedRecordsKeepTheInvariants() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["TOKENMETER_FUZZ_ITERATIONS"] ?? "") ?? 2_000
        var rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["TOKENMETER_FUZZ_SEED"] ?? "") ?? 20261201)
        let pricing = PricingService(base: try DefaultCatalog.entries())
        let seeds = Self.seeds()
        var decoded = 0, mapped = 0
        for _ in 0..<iterations {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                default: bytes = Array(bytes.prefix(at))
                }
            }
            var bodies = [bytes]
            if let inflated = try? Gzip.decompress(bytes, limit: 1 << 20) { bodies.append(inflated) }
            for body in bodies {
                for encoding in [OTLPEncoding.protobuf, .json] {
                    guard let request = try? OTLPTraceRequest.decode(body, encoding: encoding) else { continue }
                    decoded += 1
                    for outcome in SpanMapping.records(from: request) {
                        guard case .success(let priced) = outcome.record.flatMap(F.normalizer.normalize).flatMap(pricing.priceWithinLimits) else { continue }
                        mapped += 1
                        let t = priced.record.tokens
                        #expect(t.input >= 0 && t.cachedInput >= 0 && t.cacheWrite >= 0 && t.output >= 0 && t.reasoning <= t.output)
                        #expect(priced.costNanoUSD >= 0 && priced.record.id.utf8.count == 49)
                    }
                }
            }
        }
        // The mutations must leave enough valid input to exercise the mapping, not only the error paths.
        #expect(decoded > iterations / 50 && mapped > iterations / 10, "decoded \(decoded), mapped \(mapped)")
    }
}
