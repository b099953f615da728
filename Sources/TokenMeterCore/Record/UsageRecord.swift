import Foundation

public enum RecordStatus: String, Sendable, Codable, CaseIterable {
    case success, error, pending
}

public enum UsageCategory: String, Sendable, Codable, CaseIterable {
    case text, text_with_image, image_gen, image_edit, video_gen, audio_gen, transcription, tts, embedding, other
}

/// Disjoint token counts: `input`, `cachedInput`, `cacheWrite` and `output` never overlap, so their sum
/// is the billable total. `reasoning` is the part of `output` spent on reasoning.
public struct TokenCounts: Sendable, Equatable, Codable {
    public var input: Int64 = 0
    public var cachedInput: Int64 = 0
    public var cacheWrite: Int64 = 0
    public var output: Int64 = 0
    public var reasoning: Int64 = 0
    /// The part of `cacheWrite` written with a 1-hour lifetime (priced at its own rate).
    public var cacheWrite1h: Int64 = 0

    public init(input: Int64 = 0, cachedInput: Int64 = 0, cacheWrite: Int64 = 0, output: Int64 = 0, reasoning: Int64 = 0, cacheWrite1h: Int64 = 0) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.output = output
        self.reasoning = reasoning
        self.cacheWrite1h = cacheWrite1h
    }

    /// Every input token of the prompt, cached or not: what context tiers are measured against.
    public var promptTotal: Int64 { input &+ cachedInput &+ cacheWrite }
    public var total: Int64 { promptTotal &+ output }
}

/// Non-token quantities of a call. `nil` means "not sent", which pricing treats differently from 0.
public struct UsageUnits: Sendable, Equatable, Codable {
    public var requests: Double?
    public var images: Double?
    public var seconds: Double?
    public var minutes: Double?
    public var characters: Double?

    public init(requests: Double? = nil, images: Double? = nil, seconds: Double? = nil, minutes: Double? = nil, characters: Double? = nil) {
        self.requests = requests
        self.images = images
        self.seconds = seconds
        self.minutes = minutes
        self.characters = characters
    }

    public static let names = ["requests", "images", "seconds", "minutes", "characters"]
}

/// One AI call after normalization: aliases resolved, provider usage objects flattened into the
/// disjoint token fields, money and credits in exact integer units.
public struct UsageRecord: Sendable, Equatable {
    /// Idempotency key. Generated when the caller sends none (such a record can never be a duplicate).
    public var id: String
    public var idWasGiven: Bool
    public var timestamp: Date
    public var userID: String?
    public var plan: String?
    public var paying: Bool?
    public var service: String
    public var operation: String
    public var category: UsageCategory?
    public var provider: String?
    public var model: String
    public var status: RecordStatus
    public var tokens: TokenCounts
    public var units: UsageUnits
    /// Cost given by the caller, in nano-USD; wins over the catalog.
    public var callerCostNanoUSD: Int64?
    /// Credits charged to the user, in micro-credits.
    public var creditsMicro: Int64?
    public var durationMs: Double?
    public var errorType: String?
    public var errorMessage: String?
    /// Metadata serialized as JSON with sorted keys, at most `RecordLimits.metadataBytes`.
    public var metadataJSON: String?
    /// Non-zero counts in usage fields tokenmeter does not understand (path inside the usage object
    /// → count): accepted, but stored, counted and reported so nothing is read wrong in silence.
    public var unrecognizedUsage: [String: Int64]
    /// A router's own figure for the call (LiteLLM's `response_cost`, OpenRouter's `usage.cost`),
    /// kept beside tokenmeter's price; it never replaces it.
    public var routerCostNanoUSD: Int64?
    /// The unit of work the call belongs to (`pipeline_run`, `session`, `workflow`…); both or neither.
    public var resourceType: String?
    public var resourceID: String?
    /// A few key/value tags (`RecordLimits.maxTags`), stored and filterable, never metric labels.
    public var tags: [String: String]

    public init(
        id: String = RecordID.generate(), idWasGiven: Bool = false, timestamp: Date, userID: String? = nil,
        plan: String? = nil, paying: Bool? = nil, service: String = "default", operation: String,
        category: UsageCategory? = nil, provider: String? = nil, model: String, status: RecordStatus = .success,
        tokens: TokenCounts = TokenCounts(), units: UsageUnits = UsageUnits(), callerCostNanoUSD: Int64? = nil,
        creditsMicro: Int64? = nil, durationMs: Double? = nil, errorType: String? = nil,
        errorMessage: String? = nil, metadataJSON: String? = nil, unrecognizedUsage: [String: Int64] = [:],
        routerCostNanoUSD: Int64? = nil, resourceType: String? = nil, resourceID: String? = nil, tags: [String: String] = [:]
    ) {
        self.id = id
        self.idWasGiven = idWasGiven
        self.timestamp = timestamp
        self.userID = userID
        self.plan = plan
        self.paying = paying
        self.service = service
        self.operation = operation
        self.category = category
        self.provider = provider
        self.model = model
        self.status = status
        self.tokens = tokens
        self.units = units
        self.callerCostNanoUSD = callerCostNanoUSD
        self.creditsMicro = creditsMicro
        self.durationMs = durationMs
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.metadataJSON = metadataJSON
        self.unrecognizedUsage = unrecognizedUsage
        self.routerCostNanoUSD = routerCostNanoUSD
        self.resourceType = resourceType
        self.resourceID = resourceID
        self.tags = tags
    }

    /// A metered action without a model (`category: other`, no `model`): stored with model "".
    public var isModelless: Bool { model.isEmpty }
}

extension UsageRecord {
    /// The duration as stored and summed: whole microseconds.
    public var durationMicros: Int64? { durationMs.map { Int64(($0 * 1000).rounded()) } }
}

public enum RecordLimits {
    public static let labelValueBytes = 256
    public static let idBytes = 256
    public static let errorMessageBytes = 1024
    public static let metadataBytes = 16 * 1024
    public static let futureSkew: TimeInterval = 5 * 60
    /// Bounds that keep every sum in the store far from Int64 overflow while no real call comes close.
    public static let maxTokens: Int64 = 1_000_000_000_000
    public static let maxQuantity: Double = 1e12
    public static let maxCostUSD: Double = 1_000_000
    public static let maxCredits: Double = 1_000_000_000
    public static let maxDurationMs: Double = 1e12
    /// `resource_type`: a short name (it is a rollup key and a guarded metric label).
    public static let resourceTypeBytes = 64
    public static let resourceIDBytes = 256
    /// `tags`: at most this many, keys as short as a resource type, values up to `tagValueBytes`.
    public static let maxTags = 16
    public static let tagKeyBytes = 64
    public static let tagValueBytes = 256
}
