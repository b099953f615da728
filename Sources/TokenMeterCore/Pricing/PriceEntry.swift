import Foundation

/// Token prices that may change above a context threshold.
public struct TokenPrices: Sendable, Equatable, Hashable {
    public var input: PicoPrice?
    public var cachedInput: PicoPrice?
    /// Cache writes with the default (5-minute) lifetime.
    public var cacheWrite: PicoPrice?
    public var output: PicoPrice?
    public var reasoning: PicoPrice?
    /// Cache writes with a 1-hour lifetime (Anthropic's `ephemeral_1h_input_tokens`). When absent:
    /// 2 × input for an Anthropic model, else the `cacheWrite` price (see `PriceEntry.cacheWrite1hPrice`).
    public var cacheWrite1h: PicoPrice?

    public init(input: PicoPrice? = nil, cachedInput: PicoPrice? = nil, cacheWrite: PicoPrice? = nil, output: PicoPrice? = nil,
                reasoning: PicoPrice? = nil, cacheWrite1h: PicoPrice? = nil) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.output = output
        self.reasoning = reasoning
        self.cacheWrite1h = cacheWrite1h
    }

    var isEmpty: Bool { self == TokenPrices() }
}

/// Higher token prices once a record's prompt (input + cached + cache-write tokens) exceeds
/// `aboveInputTokens`; they then apply to the whole request, as Anthropic and Google bill it.
public struct ContextTier: Sendable, Equatable, Hashable {
    public var aboveInputTokens: Int64
    public var prices: TokenPrices

    public init(aboveInputTokens: Int64, prices: TokenPrices) {
        self.aboveInputTokens = aboveInputTokens
        self.prices = prices
    }
}

/// One version of one model's price (CONTRACT section 2).
public struct PriceEntry: Sendable, Equatable, Hashable {
    public var model: String
    public var provider: String?
    public var category: UsageCategory?
    public var aliases: [String]
    public var match: String?
    public var tokens: TokenPrices
    public var perRequest: PicoPrice?
    public var perImage: PicoPrice?
    public var perSecond: PicoPrice?
    public var perMinute: PicoPrice?
    public var per1kCharacters: PicoPrice?
    public var tiers: [ContextTier]
    public var creditsPerUnit: Double?
    public var dailyLimit: Int?
    public var validFrom: Date?
    public var source: String?
    /// The entry declares that its dated snapshots (`-20241022`, `-2024-08-06`, `-0613`, `-002`,
    /// `-05-20`) share its price, so such a name with no entry of its own resolves to this one.
    /// Without it a snapshot name is unpriced: its price is never borrowed from the family.
    public var snapshotsSharePrice: Bool = false

    public init(
        model: String, provider: String? = nil, category: UsageCategory? = nil, aliases: [String] = [],
        match: String? = nil, tokens: TokenPrices = TokenPrices(), perRequest: PicoPrice? = nil,
        perImage: PicoPrice? = nil, perSecond: PicoPrice? = nil, perMinute: PicoPrice? = nil,
        per1kCharacters: PicoPrice? = nil, tiers: [ContextTier] = [], creditsPerUnit: Double? = nil,
        dailyLimit: Int? = nil, validFrom: Date? = nil, source: String? = nil, snapshotsSharePrice: Bool = false
    ) {
        self.model = model.lowercased()
        self.provider = provider?.lowercased()
        self.category = category
        self.aliases = aliases.map { $0.lowercased() }
        self.match = match
        self.tokens = tokens
        self.perRequest = perRequest
        self.perImage = perImage
        self.perSecond = perSecond
        self.perMinute = perMinute
        self.per1kCharacters = per1kCharacters
        self.tiers = tiers.sorted { $0.aboveInputTokens < $1.aboveInputTokens }
        self.creditsPerUnit = creditsPerUnit
        self.dailyLimit = dailyLimit
        self.validFrom = validFrom
        self.source = source
        self.snapshotsSharePrice = snapshotsSharePrice
    }

    /// Anthropic bills 1-hour cache writes at 2 × the input price (5-minute writes at 1.25 ×), on every
    /// platform that serves Claude; other providers have one cache-write rate.
    public var billsAnthropicCacheWrites: Bool {
        provider == "anthropic" || Self.containsClaude(model)
    }

    /// A plain byte search, run for every priced record: Foundation's `String.contains` went through
    /// `NSString.range(of:)` (~3,600 instructions a record), the standard library's generic
    /// `firstRange(of:)` cost ~6 times that.
    static func containsClaude(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            let needle: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0x63, 0x6C, 0x61, 0x75, 0x64, 0x65)  // "claude"
            guard bytes.count >= 6 else { return false }
            for i in 0...(bytes.count - 6) where bytes[i] == needle.0 {
                if bytes[i + 1] == needle.1, bytes[i + 2] == needle.2, bytes[i + 3] == needle.3,
                   bytes[i + 4] == needle.4, bytes[i + 5] == needle.5 { return true }
            }
            return false
        }
    }

    /// The price of one 1-hour cache-write token under `prices` (the entry's or a context tier's).
    public func cacheWrite1hPrice(_ prices: TokenPrices) -> PicoPrice? {
        if let explicit = prices.cacheWrite1h { return explicit }
        if billsAnthropicCacheWrites, let input = prices.input {
            let (doubled, overflow) = input.pico.multipliedReportingOverflow(by: 2)
            return PicoPrice(pico: overflow ? Int64.max : doubled)
        }
        return prices.cacheWrite ?? prices.input
    }

    /// Identifies the exact price used for a record: `model@valid_from`.
    public var version: String {
        "\(model)@\(validFrom.map(RFC3339.format) ?? "always")"
    }
}
