import Foundation
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A seeded generator (SplitMix64), so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// Random priced records over a time span, with the dimensions reports group by.
struct RandomUsage {
    var rng: SeededGenerator
    let start: Date
    let span: TimeInterval
    static let services = ["bot", "xray_analyzer", "web"]
    static let operations = ["chat", "horoscope", "analyze", "tts"]
    static let models = ["gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash", "unknown-model", "o3"]
    static let plans = ["free", "pro", "unlimited"]
    static let resourceTypes = ["pipeline_run", "session", "job"]
    static let tagValues = ["prod", "staging"]

    /// Resource and tags drawn from the id (FNV-1a), so the main generator's sequence is unchanged:
    /// a quarter of the records have no resource, the others one of 3 types × 30 ids; about half
    /// carry an `env` tag and a third a `team` tag.
    static func resource(for id: String) -> (type: String?, id: String?, tags: [String: String]) {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        var tags: [String: String] = [:]
        if hash % 2 == 0 { tags["env"] = tagValues[Int((hash >> 8) % 2)] }
        if hash % 3 == 0 { tags["team"] = "t\((hash >> 12) % 3)" }
        guard (hash >> 20) % 4 != 0 else { return (nil, nil, tags) }
        return (resourceTypes[Int((hash >> 24) % 3)], "r\((hash >> 28) % 30)", tags)
    }

    mutating func record(id: String, status: RecordStatus? = nil) -> PricedRecord {
        let ms = start.unixMilliseconds + Int64.random(in: 0..<Int64(span * 1000), using: &rng)
        let model = Self.models.randomElement(using: &rng)!
        let statuses: [RecordStatus] = [.success, .success, .success, .error, .pending]
        let output = Int64.random(in: 0...5000, using: &rng)
        var usage = UsageRecord(
            id: id, idWasGiven: true, timestamp: Date(unixMilliseconds: ms),
            userID: Bool.random(using: &rng) || true ? "user-\(Int.random(in: 0..<40, using: &rng))" : nil,
            plan: Self.plans.randomElement(using: &rng), paying: Bool.random(using: &rng),
            service: Self.services.randomElement(using: &rng)!, operation: Self.operations.randomElement(using: &rng)!,
            category: .text, provider: model == "unknown-model" ? "acme" : "vendor", model: model,
            status: status ?? statuses.randomElement(using: &rng)!,
            tokens: TokenCounts(input: .random(in: 0...100_000, using: &rng), cachedInput: .random(in: 0...1000, using: &rng),
                                cacheWrite: .random(in: 0...100, using: &rng), output: output,
                                reasoning: .random(in: 0...output, using: &rng)),
            creditsMicro: .random(in: 0...5_000_000, using: &rng),
            durationMs: Bool.random(using: &rng) ? Double(Int.random(in: 1...60_000, using: &rng)) : nil,
            errorType: "E\(Int.random(in: 0..<3, using: &rng))")
        let resource = Self.resource(for: id)
        usage.resourceType = resource.type
        usage.resourceID = resource.id
        usage.tags = resource.tags
        var priced = CostCalculator.price(usage, entry: nil)
        if model != "unknown-model" {
            priced.costNanoUSD = .random(in: 1...9_999_999, using: &rng)
            priced.costSource = .catalog
        }
        return priced
    }
}

/// The value a record has for a report dimension (no user or plan reads as "", as in the store).
func dimensionValue(_ r: PricedRecord, _ d: ReportDimension) -> String {
    switch d {
    case .service: r.record.service
    case .operation: r.record.operation
    case .category: r.category.rawValue
    case .provider: r.provider
    case .model: r.model
    case .status: r.record.status.rawValue
    case .user: r.record.userID ?? ""
    case .plan: r.record.plan ?? ""
    case .resourceType: r.record.resourceType ?? ""
    case .resource: r.record.resourceType.map { "\($0)/\(r.record.resourceID ?? "")" } ?? ""
    }
}

/// Brute-force figures over completed records: the reference every store answer must equal.
func bruteForce(_ records: [PricedRecord], from: Date, to: Date, groupBy: [ReportDimension], filters: [ReportDimension: [String]] = [:],
                resourceIDs: [String]? = nil, tags: [String: String] = [:]) -> [[String]: RollupFigures] {
    var groups: [[String]: RollupFigures] = [:]
    for r in records where r.record.status != .pending && r.record.timestamp >= from && r.record.timestamp < to {
        guard filters.allSatisfy({ $0.value.contains(dimensionValue(r, $0.key)) }) else { continue }
        guard matches(r, resourceIDs: resourceIDs, tags: tags) else { continue }
        groups[groupBy.map { dimensionValue(r, $0) }, default: RollupFigures()] += RollupFigures(r)
    }
    return groups
}

/// The `resource_id=` and `tag.KEY=VALUE` filters, by brute force.
func matches(_ r: PricedRecord, resourceIDs: [String]?, tags: [String: String]) -> Bool {
    if let resourceIDs, !resourceIDs.contains(r.record.resourceID ?? "\u{0}none") { return false }
    return tags.allSatisfy { r.record.tags[$0.key] == $0.value }
}

func bruteForceUsers(_ records: [PricedRecord], from: Date, to: Date, groupBy: [ReportDimension]) -> [[String]: Int] {
    var users: [[String]: Set<String>] = [:]
    for r in records where r.record.status != .pending && r.record.timestamp >= from && r.record.timestamp < to {
        guard let user = r.record.userID else { continue }
        users[groupBy.map { dimensionValue(r, $0) }, default: []].insert(user)
    }
    return users.mapValues(\.count)
}
