import Foundation

/// The answer of `GET /v1/prices/resolve` and `tokenmeter prices resolve --json`.
public struct PriceResolveAnswer: Encodable, Sendable {
    public var requested: String
    public var resolved: Bool
    public var model: String?
    /// `exact`, `alias`, `provider_prefix`, `snapshot` or `regex`.
    public var rule: String?
    public var matched_name: String?
    public var explanation: String
    public var notes: [String]
    public var at: String
    /// The version in force at `at`, if any.
    public var entry: PriceEntry?
    public var versions: [PriceEntry]

    public init(_ result: ModelPriceResolution, at date: Date) {
        let r = result.lookup.resolution
        requested = result.lookup.requested
        resolved = r != nil
        model = r?.model
        rule = r?.rule.rawValue
        matched_name = r?.matchedName
        notes = result.lookup.notes
        self.at = RFC3339.format(date)
        entry = result.entry
        versions = result.versions
        if let r {
            explanation = r.explanation + (result.entry == nil ? "; but no version of its price is valid at \(self.at): records then are unpriced" : "")
        } else {
            explanation = "no rule matches '\(result.lookup.requested)': records with this model are stored unpriced (cost 0, counted in tokenmeter_unpriced_requests_total)"
        }
    }
}

/// The answer of `POST /v1/prices/update`.
public struct PriceUpdateAnswer: Encodable, Sendable {
    public var dry_run: Bool
    public var diff: PriceUpdateDiff

    public init(dry_run: Bool, diff: PriceUpdateDiff) {
        self.dry_run = dry_run
        self.diff = diff
    }

    enum CodingKeys: String, CodingKey { case dry_run, catalog_version, new, changed, removed, conflicts }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dry_run, forKey: .dry_run)
        try c.encodeIfPresent(diff.catalog_version, forKey: .catalog_version)
        try c.encode(diff.new, forKey: .new)
        try c.encode(diff.changed, forKey: .changed)
        try c.encode(diff.removed, forKey: .removed)
        try c.encode(diff.conflicts, forKey: .conflicts)
    }
}
