import Foundation
import TokenMeterCore

/// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("tokenmeter_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        guard let data else { return 0 }
        return fuzzOneInput(data, size)
    }
}

/// One input = one request body, tried as JSON and as NDJSON, through normalization and pricing.
/// libFuzzer reports any trap; the invariants below turn silent corruption into a trap too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkParserAgreesWithJSONDecoder(bytes)
    for format in [IngestBody.Format.json, .ndjson] {
        for element in IngestBody.elements(of: bytes, format: format) {
            guard case .success(let priced) = element.flatMap(Fuzz.normalizer.normalize).flatMap(Fuzz.pricing.priceWithinLimits) else { continue }
            let t = priced.record.tokens
            precondition(t.input >= 0 && t.cachedInput >= 0 && t.cacheWrite >= 0 && t.reasoning <= t.output)
            precondition(priced.costNanoUSD >= 0 && priced.creditsMicro >= 0)
            // Only a metered action (category other, no model) has an empty model; it is never unpriced.
            precondition(!priced.model.isEmpty || (priced.category == .other && priced.costSource != .unpriced))
        }
        if case .success(let value) = JSONValue.parse(bytes) { _ = Fuzz.normalizer.normalizeCompletion(value) }
    }
    return 0
}

/// What the byte parser accepts, JSONDecoder (the decoder before it) read as the same value. The
/// parser may refuse more: it checks the dropped value of a repeated key fully, where JSONDecoder
/// only skims it, and it has a 64-level depth limit (the Swift test `byteParserAgreesWithJSONDecoder`
/// pins the common cases of both directions).
func checkParserAgreesWithJSONDecoder(_ bytes: [UInt8]) {
    guard case .success(let value) = JSONValue.parse(bytes) else { return }
    let reference = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    precondition(reference.map(value.isEquivalent) == true, "the parser and JSONDecoder disagree: \(value) vs \(String(describing: reference))")
}

enum Fuzz {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!
    static let normalizer = RecordNormalizer(now: { now })
    static let pricing = PricingService(base: (try? DefaultCatalog.entries()) ?? [])
}
