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

    mutating func record(id: String, status: RecordStatus? = nil) -> PricedRecord {
        let ms = start.unixMilliseconds + Int64.random(in: 0..<Int64(span * 1000), using: &rng)
        let model = Self.models.randomElement(using: &rng)!
        let statuses: [RecordStatus] = [.success, .success, .success, .error, .pending]
        let output = Int64.random(in: 0...5000, using: &rng)
        let usage = UsageRecord(
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
    }
}

/// Brute-force figures over completed records: the reference every store answer must equal.
func bruteForce(_ records: [PricedRecord], from: Date, to: Date, groupBy: [ReportDimension], filters: [ReportDimension: [String]] = [:]) -> [[String]: RollupFigures] {
    var groups: [[String]: RollupFigures] = [:]
    for r in records where r.record.status != .pending && r.record.timestamp >= from && r.record.timestamp < to {
        guard filters.allSatisfy({ $0.value.contains(dimensionValue(r, $0.key)) }) else { continue }
        groups[groupBy.map { dimensionValue(r, $0) }, default: RollupFigures()] += RollupFigures(r)
    }
    return groups
}

func bruteForceUsers(_ records: [PricedRecord], from: Date, to: Date, groupBy: [ReportDimension]) -> [[String]: Int] {
    var users: [[String]: Set<String>] = [:]
    for r in records where r.record.status != .pending && r.record.timestamp >= from && r.record.timestamp < to {
        guard let user = r.record.userID else { continue }
        users[groupBy.map { dimensionValue(r, $0) }, default: []].insert(user)
    }
    return users.mapValues(\.count)
}
