import Foundation
import TokenMeterCore

/// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("tokenmeter_otlp_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        guard let data else { return 0 }
        return fuzzOneInput(data, size)
    }
}

/// One input = one POST /v1/traces body, tried as protobuf, as OTLP JSON and, when it inflates, as
/// gzip of either; every decoded request goes through the span mapping, normalization and pricing.
/// libFuzzer reports any trap; the invariants below turn silent corruption into a trap too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var bodies = [bytes]
    if let inflated = try? Gzip.decompress(bytes, limit: 1 << 20) { bodies.append(inflated) }
    for body in bodies {
        for encoding in [OTLPEncoding.protobuf, .json] {
            guard let request = try? OTLPTraceRequest.decode(body, encoding: encoding) else { continue }
            checkJSONRoundTrip(request)
            checkMapping(request)
        }
    }
    return 0
}

/// What the JSON encoder writes, the JSON decoder reads back to the same spans (stable after one
/// round: -0.0 written as -0 comes back as 0). Requests nested past the JSON parser's depth are skipped.
func checkJSONRoundTrip(_ request: OTLPTraceRequest) {
    let first = OTLPJSONEncoder.encode(request).serialized()
    let again: OTLPTraceRequest
    do {
        again = try OTLPJSONDecoder.decode(Array(first.utf8))
    } catch {
        precondition(error.message.contains("nested deeper than"), "the JSON encoder wrote what its decoder refuses: \(error.message)")
        return
    }
    // The encoder writes the decoded spans only (a JSON span that could not be read has nothing to write).
    let decodable = request.resourceSpans.map(\.spans.count)
    precondition(again.resourceSpans.map(\.spans.count) == decodable && again.resourceSpans.allSatisfy(\.undecodableSpans.isEmpty),
                 "spans changed through JSON: \(decodable) → \(again.resourceSpans.map(\.spans.count))")
    let second = OTLPJSONEncoder.encode(again).serialized()
    guard let third = try? OTLPJSONDecoder.decode(Array(second.utf8)) else {
        preconditionFailure("the JSON encoder wrote what its decoder refuses: \(second.prefix(500))")
    }
    precondition(OTLPJSONEncoder.encode(third).serialized() == second, "JSON round trip is not stable: \(second.prefix(500))")
}

func checkMapping(_ request: OTLPTraceRequest) {
    let outcomes = SpanMapping.records(from: request)
    precondition(outcomes.count <= request.spanCount)
    for outcome in outcomes {
        guard case .success(let priced) = outcome.record.flatMap(Fuzz.normalizer.normalize).flatMap(Fuzz.pricing.priceWithinLimits) else { continue }
        let t = priced.record.tokens
        precondition(t.input >= 0 && t.cachedInput >= 0 && t.cacheWrite >= 0 && t.output >= 0 && t.reasoning <= t.output)
        precondition(priced.costNanoUSD >= 0 && !priced.model.isEmpty && priced.record.idWasGiven)
        precondition(priced.record.id.utf8.count == 49, "record id is not trace-span hex: \(priced.record.id)")
    }
}

enum Fuzz {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!
    static let normalizer = RecordNormalizer(now: { now })
    static let pricing = PricingService(base: (try? DefaultCatalog.entries()) ?? [])
}
