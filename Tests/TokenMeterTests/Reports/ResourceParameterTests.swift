import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Resource and tag report parameters")
struct ResourceParameterTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!

    static func parse(_ query: [String: String], _ endpoint: ReportParameters.Endpoint = .summary) throws(ReportError) -> ReportParameters {
        try ReportParameters.parse(query, defaultTimeZone: .gmt, currencyRates: [:], now: now, endpoint: endpoint)
    }

    @Test func resourceDimensionsFiltersAndTagsAreParsed() throws {
        let p = try Self.parse(["group_by": "resource_type,resource", "resource_type": "pipeline_run,session",
                                "resource": "pipeline_run/8812", "resource_id": "8812, 8813", "tag.env": "prod", "tag.team": "a,b"])
        #expect(p.groupBy == [.resourceType, .resource])
        #expect(p.filters[.resourceType] == ["pipeline_run", "session"] && p.filters[.resource] == ["pipeline_run/8812"])
        #expect(p.resourceIDs == ["8812", "8813"])
        #expect(p.tags == ["env": "prod", "team": "a,b"])  // a tag value is matched exactly, commas included
        #expect(p.figureQuery.needsRaw)
        #expect(!(try Self.parse(["group_by": "resource_type", "resource_type": "job"])).figureQuery.needsRaw)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let query: [String: String]
        let endpoint: ReportParameters.Endpoint
        let error: String
        var testDescription: String { error }
    }

    static let bad: [Bad] = [
        Bad(query: ["tag.": "x"], endpoint: .summary, error: "tag.: a tag key is letters, digits"),
        Bad(query: ["tag.a\"b": "x"], endpoint: .summary, error: "tag.a\"b: a tag key is letters, digits"),
        Bad(query: ["tag.env": "prod"], endpoint: .monitoring, error: "tag.env: unknown parameter"),
        Bad(query: ["resource_id": "1"], endpoint: .resourceUsage, error: "resource_id: unknown parameter"),
        Bad(query: ["group_by": "resources"], endpoint: .summary, error: "group_by: unknown dimension 'resources'"),
        Bad(query: ["tags.env": "prod"], endpoint: .summary, error: "tags.env: unknown parameter"),
    ]

    @Test(arguments: bad)
    func badParametersAreA400NamingThem(_ c: Bad) {
        do {
            _ = try Self.parse(c.query, c.endpoint)
            Issue.record("accepted \(c.query)")
        } catch {
            #expect(error.description.hasPrefix(c.error), "\(error.description)")
        }
    }

    @Test func aResourceKeySplitsAtTheFirstSlash() {
        #expect(ReportDimension.splitResource("pipeline_run/a/b")! == ("pipeline_run", "a/b"))
        #expect(ReportDimension.splitResource("") == nil)
    }
}
