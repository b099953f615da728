import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Resource fields, aliases and tags")
struct ResourceFieldTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let fields: String
        let type: String?
        let id: String?
        /// Keys expected in metadata (aliases that lost to another field).
        var metadata: [String] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "explicit pair", fields: #""resource_type":"workflow","resource_id":"w-1""#, type: "workflow", id: "w-1"),
        Case(name: "integer id", fields: #""resource_type":"pipeline_run","resource_id":8812"#, type: "pipeline_run", id: "8812"),
        Case(name: "pipeline_run_id", fields: #""pipeline_run_id":8812"#, type: "pipeline_run", id: "8812"),
        Case(name: "run_id", fields: #""run_id":"r-7""#, type: "pipeline_run", id: "r-7"),
        Case(name: "session_id", fields: #""session_id":"abc""#, type: "session", id: "abc"),
        Case(name: "conversation_id", fields: #""conversation_id":"c-9""#, type: "session", id: "c-9"),
        Case(name: "trace_id", fields: #""trace_id":"4bf92f3577b34da6""#, type: "trace", id: "4bf92f3577b34da6"),
        Case(name: "job_id", fields: #""job_id":"sync-3""#, type: "job", id: "sync-3"),
        Case(name: "explicit pair wins over an alias, which is kept in metadata",
             fields: #""resource_type":"workflow","resource_id":"w-1","session_id":"s-1""#, type: "workflow", id: "w-1", metadata: ["session_id"]),
        Case(name: "first alias in documented order wins, the others kept",
             fields: #""trace_id":"t-1","session_id":"s-1","job_id":"j-1""#, type: "session", id: "s-1", metadata: ["trace_id", "job_id"]),
        Case(name: "pipeline_run_id before run_id", fields: #""run_id":"a","pipeline_run_id":"b""#, type: "pipeline_run", id: "b", metadata: ["run_id"]),
        Case(name: "null alias ignored", fields: #""session_id":null,"job_id":"j""#, type: "job", id: "j"),
        Case(name: "none", fields: #""service":"bot""#, type: nil, id: nil),
    ]

    @Test(arguments: cases)
    func resourceFromFieldsAndAliases(_ c: Case) throws {
        let r = try normalize(#"{"operation":"chat","model":"gpt-4o",\#(c.fields)}"#).get()
        #expect(r.resourceType == c.type && r.resourceID == c.id)
        let text: String = r.metadataJSON ?? "{}"
        let parsed: Result<JSONValue, NormalizationError> = JSONValue.parse(Array(text.utf8)[...])
        let keys: Set<String> = Set((try parsed.get().objectValue ?? [:]).keys)
        #expect(keys == Set(c.metadata), "kept in metadata: \(keys)")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let name: String
        let fields: String
        let error: String
        var testDescription: String { name }
    }

    static let longID = String(repeating: "x", count: RecordLimits.resourceIDBytes + 1)
    static let longType = String(repeating: "t", count: RecordLimits.resourceTypeBytes + 1)
    static let manyTags = (0...RecordLimits.maxTags).map { "\"k\($0)\":\"v\"" }.joined(separator: ",")
    static let longValue = String(repeating: "v", count: RecordLimits.tagValueBytes + 1)

    static let bad: [Bad] = [
        Bad(name: "type without id", fields: #""resource_type":"workflow""#, error: "resource_id: required with resource_type"),
        Bad(name: "id without type", fields: #""resource_id":"w-1""#, error: "resource_type: required with resource_id"),
        Bad(name: "type with a space", fields: #""resource_type":"chat session","resource_id":"1""#, error: "resource_type: 'chat session' must be letters"),
        Bad(name: "type with a slash", fields: #""resource_type":"a/b","resource_id":"1""#, error: "resource_type: 'a/b' must be letters"),
        Bad(name: "type too long", fields: #""resource_type":"\#(longType)","resource_id":"1""#, error: "resource_type: 65 bytes, longer than the limit of 64"),
        Bad(name: "id too long", fields: #""session_id":"\#(longID)""#, error: "session_id: 257 bytes, longer than the limit of 256"),
        Bad(name: "id with a control character", fields: #""job_id":"a\u0001b""#, error: "job_id: contains a control character"),
        Bad(name: "id an object", fields: #""trace_id":{"a":1}"#, error: "trace_id: must be a string, got an object"),
        Bad(name: "tags not an object", fields: #""tags":["a"]"#, error: "tags: must be an object of string values, got an array"),
        Bad(name: "too many tags", fields: #""tags":{\#(manyTags)}"#, error: "tags: 17 tags, more than the limit of 16"),
        Bad(name: "tag value a number", fields: #""tags":{"env":1}"#, error: "tags.env: must be a string, got a number"),
        Bad(name: "tag value too long", fields: #""tags":{"env":"\#(longValue)"}"#, error: "tags.env: 257 bytes, longer than the limit of 256"),
        Bad(name: "tag key with a quote", fields: #""tags":{"a\"b":"x"}"#, error: #"tags: key 'a"b' must be letters"#),
        Bad(name: "empty tag key", fields: #""tags":{"":"x"}"#, error: "tags: key '' must be letters"),
    ]

    @Test(arguments: bad)
    func badResourceFieldsAreRejectedNamingTheField(_ c: Bad) {
        guard case .failure(let error) = normalize(#"{"operation":"chat","model":"gpt-4o",\#(c.fields)}"#) else {
            Issue.record("accepted \(c.fields)")
            return
        }
        #expect(error.message.hasPrefix(c.error), "\(error.message)")
    }

    @Test func tagsAreStoredSortedAndNeverInMetadata() throws {
        let r = try normalize(#"{"operation":"chat","model":"gpt-4o","tags":{"team":"growth","env":"prod"}}"#).get()
        #expect(r.tags == ["env": "prod", "team": "growth"])
        #expect(r.metadataJSON == nil)
        #expect(ResourceFields.json(r.tags) == #"{"env":"prod","team":"growth"}"#)
        #expect(ResourceFields.tags(fromJSON: ResourceFields.json(r.tags)) == r.tags)
    }

    @Test func sixteenTagsOfMaximalSizeAreAccepted() throws {
        let key = String(repeating: "k", count: RecordLimits.tagKeyBytes - 2)
        let value = String(repeating: "v", count: RecordLimits.tagValueBytes)
        let tags = (0..<RecordLimits.maxTags).map { "\"\(key)\(String(format: "%02d", $0))\":\"\(value)\"" }.joined(separator: ",")
        let r = try normalize(#"{"operation":"chat","model":"gpt-4o","tags":{\#(tags)}}"#).get()
        #expect(r.tags.count == RecordLimits.maxTags)
    }
}

@Suite("Metered actions without a model")
struct MeteredActionTests {
    let pricing = PricingService(base: try! DefaultCatalog.entries(),
                                 credits: OperationCredits(configured: ["workflow_execution": 0.001]))

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let json: String
        /// nil: rejected with `error`.
        let cost: Int64?
        let credits: Int64?
        var source: CostSource = .metered
        var error = ""
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "credits only", json: #"{"operation":"youtube_sync","category":"other","credits":2.5}"#, cost: 0, credits: 2_500_000),
        Case(name: "cost only", json: #"{"operation":"youtube_sync","category":"other","cost_usd":0.004}"#, cost: 4_000_000, credits: 0, source: .caller),
        Case(name: "credits and cost", json: #"{"operation":"x","category":"other","credits":1,"cost_usd":0.5}"#, cost: 500_000_000, credits: 1_000_000, source: .caller),
        Case(name: "credits from credits_per_operation", json: #"{"operation":"workflow_execution","category":"other","resource_type":"workflow","resource_id":"w-1"}"#,
             cost: 0, credits: 1000),
        Case(name: "record's credits win over credits_per_operation", json: #"{"operation":"workflow_execution","category":"other","credits":0.5}"#,
             cost: 0, credits: 500_000),
        Case(name: "no model, no credits, no cost", json: #"{"operation":"youtube_sync","category":"other"}"#, cost: nil, credits: nil,
             error: "model: missing, and a metered action without a model needs credits or cost_usd (or credits_per_operation configured for operation 'youtube_sync')"),
        Case(name: "no model and not category other", json: #"{"operation":"chat","credits":1}"#, cost: nil, credits: nil,
             error: #"model: required (or model_id, ai_model, model_version); only a metered action with category "other" and credits or cost_usd may omit it"#),
    ]

    @Test(arguments: cases)
    func meteredActionRules(_ c: Case) {
        let result = normalize(c.json).flatMap { pricing.priceWithinLimits($0) }
        switch result {
        case .success(let priced):
            #expect(c.cost != nil, "accepted: \(c.json)")
            #expect(priced.costNanoUSD == c.cost && priced.creditsMicro == c.credits)
            #expect(priced.costSource == c.source && !priced.unpriced)
            #expect(priced.model == "" && priced.record.tokens == TokenCounts())
            #expect(priced.category == .other)
        case .failure(let error):
            #expect(c.cost == nil, "rejected: \(error.message)")
            #expect(error.message == c.error)
        }
    }

    @Test func creditsPerOperationChangesAtRunTimeAndFallsBackToTheConfiguration() throws {
        let record = try normalize(#"{"operation":"workflow_execution","category":"other"}"#).get()
        #expect(try pricing.priceWithinLimits(record).get().creditsMicro == 1000)
        pricing.credits.set("workflow_execution", creditsMicro: 7000)
        #expect(try pricing.priceWithinLimits(record).get().creditsMicro == 7000)
        pricing.credits.set("workflow_execution", creditsMicro: nil)
        #expect(try pricing.priceWithinLimits(record).get().creditsMicro == 1000)
        #expect(pricing.credits.effective == ["workflow_execution": 0.001])
    }

    @Test func creditsPerOperationAppliesToModelCallsWithoutCreditsPerUnit() throws {
        let credits = OperationCredits(configured: ["chat": 2])
        let pricing = PricingService(base: try DefaultCatalog.entries(), credits: credits)
        let record = try normalize(#"{"operation":"chat","model":"gpt-4o-mini","input_tokens":10}"#).get()
        let priced = try pricing.priceWithinLimits(record).get()
        #expect(priced.creditsMicro == 2_000_000 && priced.costSource == .catalog)
    }
}
