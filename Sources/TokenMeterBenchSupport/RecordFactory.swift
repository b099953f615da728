import Foundation
import TokenMeterCore



// Synthetic usage for the benchmarks (tokenmeter-bench and the ordo-one package in Benchmarks/):
// a library of its own so both use one generator and the product module carries none of it.

/// SplitMix64: seeded, so every run writes the same rows.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// Realistic priced records: ten service/operation/model combinations with different weights,
/// ~10k users with a skewed activity distribution, random 128-bit ids (as UUID-style client ids
/// are), 94% success / 5% error / 1% pending, a duration on completed calls, metadata on some.
public struct RecordFactory {
    struct Combo {
        var service: String
        var operation: String
        var model: String
        var provider: String
        var category: UsageCategory
        var weight: Int
    }

    static let combos: [Combo] = [
        Combo(service: "bot", operation: "chat", model: "gpt-4o-mini", provider: "openai", category: .text, weight: 30),
        Combo(service: "bot", operation: "chat", model: "claude-sonnet-4", provider: "anthropic", category: .text, weight: 12),
        Combo(service: "bot", operation: "horoscope", model: "gpt-4o-mini", provider: "openai", category: .text, weight: 10),
        Combo(service: "bot", operation: "tts", model: "tts-1", provider: "openai", category: .tts, weight: 5),
        Combo(service: "xray_analyzer", operation: "analyze", model: "gemini-2.5-flash", provider: "google", category: .text_with_image, weight: 10),
        Combo(service: "xray_analyzer", operation: "analyze", model: "gpt-4o", provider: "openai", category: .text_with_image, weight: 5),
        Combo(service: "web", operation: "chat", model: "o3", provider: "openai", category: .text, weight: 8),
        Combo(service: "web", operation: "image", model: "gpt-image-1", provider: "openai", category: .image_gen, weight: 4),
        Combo(service: "web", operation: "transcribe", model: "whisper-1", provider: "openai", category: .transcription, weight: 6),
        Combo(service: "web", operation: "embed", model: "text-embedding-3-small", provider: "openai", category: .embedding, weight: 10),
    ]
    static let plans = ["free", "pro", "unlimited"]
    static let cumulativeWeights: [Int] = {
        var sum = 0
        return combos.map { sum += $0.weight; return sum }
    }()

    var rng: SplitMix64
    let users: Int

    public init(seed: UInt64, users: Int = 10_000) {
        rng = SplitMix64(seed: seed)
        self.users = users
    }

    mutating func hexID() -> String {
        let a = rng.next(), b = rng.next()
        let s = String(a, radix: 16) + String(b, radix: 16)
        return String(repeating: "0", count: max(0, 32 - s.count)) + s
    }

    public mutating func record(ms: Int64) -> PricedRecord {
        let pick = Int.random(in: 0..<Self.cumulativeWeights.last!, using: &rng)
        let combo = Self.combos[Self.cumulativeWeights.firstIndex { pick < $0 }!]
        let roll = Int.random(in: 0..<100, using: &rng)
        let status: RecordStatus = roll < 94 ? .success : roll < 99 ? .error : .pending
        // Skewed activity: a few heavy users, a long tail; 2% of calls carry no user.
        let u = Double.random(in: 0..<1, using: &rng)
        let userIndex = Int(u * u * Double(users))
        let hasUser = Int.random(in: 0..<50, using: &rng) != 0
        let plan = Self.plans[userIndex % 3]
        var tokens = TokenCounts()
        var units = UsageUnits()
        switch combo.category {
        case .tts: units.characters = Double(Int.random(in: 20...2000, using: &rng))
        case .image_gen: units.images = 1
        case .transcription: units.seconds = Double(Int.random(in: 1...600, using: &rng))
        case .embedding: tokens.input = .random(in: 10...8000, using: &rng)
        default:
            tokens.input = .random(in: 50...20_000, using: &rng)
            tokens.cachedInput = Bool.random(using: &rng) ? .random(in: 0...4000, using: &rng) : 0
            tokens.output = status == .pending ? 0 : .random(in: 1...2000, using: &rng)
            tokens.reasoning = combo.model == "o3" ? .random(in: 0...tokens.output, using: &rng) : 0
        }
        let usage = UsageRecord(
            id: hexID(), idWasGiven: true, timestamp: Date(unixMilliseconds: ms),
            userID: hasUser ? "user-\(userIndex)" : nil, plan: hasUser ? plan : nil, paying: hasUser ? plan != "free" : nil,
            service: combo.service, operation: combo.operation, category: combo.category, provider: combo.provider,
            model: combo.model, status: status, tokens: tokens, units: units,
            creditsMicro: .random(in: 0...2_000_000, using: &rng),
            durationMs: status == .pending ? nil : Double(Int.random(in: 150...30_000, using: &rng)),
            errorType: status == .error ? (Bool.random(using: &rng) ? "rate_limit" : "timeout") : nil,
            errorMessage: status == .error ? "upstream returned an error" : nil,
            metadataJSON: Int.random(in: 0..<10, using: &rng) < 3 ? "{\"chat_id\":\"\(Int.random(in: 1...1_000_000, using: &rng))\"}" : nil)
        var priced = CostCalculator.price(usage, entry: nil)
        if status != .pending {
            priced.costNanoUSD = .random(in: 1_000...50_000_000, using: &rng)
            priced.costSource = .catalog
            priced.priceVersion = "2025-06-01"
        }
        return priced
    }

    /// `count` records with timestamps spread evenly (with jitter, in time order) over [start, start + spanMs).
    public mutating func records(count: Int, start: Int64, spanMs: Int64, offset: Int = 0, total: Int? = nil) -> [PricedRecord] {
        let total = total ?? count
        let step = Double(spanMs) / Double(total)
        return (0..<count).map { i in
            let base = Double(start) + Double(offset + i) * step
            let ms = Int64(base + Double.random(in: 0..<max(step, 1), using: &rng))
            return record(ms: min(ms, start + spanMs - 1))
        }
    }
}
