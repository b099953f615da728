import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// The ingest answer written without JSONEncoder is byte for byte the encoder's.
@Suite("Ingest answer")
struct IngestAnswerTests {
    static func summary(_ accepted: Int, _ duplicates: Int, _ rejected: Int) -> IngestSummary {
        var summary = IngestSummary()
        summary.accepted = accepted
        summary.duplicates = duplicates
        summary.rejected = rejected
        return summary
    }

    @Test(arguments: [(1, 0, 0), (0, 1, 0), (0, 0, 0), (1000, 0, 0), (123_456, 7, 0), (0, 5000, 0)])
    func aPlainSummaryIsWrittenAsTheEncoderWritesIt(accepted: Int, duplicates: Int, rejected: Int) throws {
        let summary = Self.summary(accepted, duplicates, rejected)
        let encoded = String(decoding: try JSONResponse.encoder.encode(summary), as: UTF8.self)
        #expect(IngestAnswer.plainBody(summary) == encoded)
    }

    @Test func aSummaryWithErrorsOrWarningsGoesThroughTheEncoder() {
        var withError = Self.summary(1, 0, 1)
        withError.errors = [.init(index: 1, error: "model: required")]
        #expect(IngestAnswer.plainBody(withError) == nil)
        var withWarning = Self.summary(1, 0, 0)
        withWarning.warnings = [.init(index: 0, unrecognized_usage: ["usage.foo"])]
        #expect(IngestAnswer.plainBody(withWarning) == nil)
    }
}
