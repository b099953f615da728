import Foundation

/// Parsed and validated report query parameters (CONTRACT section 4).
public struct ReportParameters: Sendable {
    public var from: Date
    public var to: Date
    public var groupBy: [ReportDimension] = []
    public var filters: [ReportDimension: [String]] = [:]
    /// `resource_id=` (comma list) and `tag.KEY=VALUE` (exact values, every key must match).
    public var resourceIDs: [String]?
    public var tags: [String: String] = [:]
    public var limit: Int?
    public var timeZone: TimeZone
    public var currency: String?
    public var currencyRate: Double?
    public var csv = false
    /// Past raw retention: round each edge outward (a lone range) or to the nearest bucket (timeseries inner edges).
    public var outwardEdges: (from: Bool, to: Bool) = (true, true)

    public static let ranges = ["1h", "24h", "today", "7d", "30d", "90d", "mtd"]

    /// The query parameters each report takes; any other name is a 400 that lists these.
    public enum Endpoint: Sendable {
        case summary, timeseries, economics, userUsage, monitoring, resourceUsage

        public var parameters: [String] {
            let common = ["range", "from", "to", "tz", "currency", "format"]
            let filters = ReportDimension.allCases.map(\.rawValue) + ["user_id", "resource_id", "tag.*"]
            switch self {
            case .summary: return common + ["group_by", "limit"] + filters
            case .timeseries: return common + ["group_by", "limit", "interval"] + filters
            case .economics: return common + ["limit"] + filters
            case .userUsage: return common + filters.filter { $0 != "user" && $0 != "user_id" }
            case .monitoring: return ["range", "tz", "format"]
            case .resourceUsage: return common
            }
        }
    }

    /// The prefix of a tag filter: `tag.KEY=VALUE`.
    public static let tagPrefix = "tag."

    /// A 400 for the first parameter `endpoint` does not take, naming it and the valid ones.
    public static func checkNames(_ query: [String: String], _ endpoint: Endpoint) throws(ReportError) {
        let valid = endpoint.parameters
        let tagsAllowed = valid.contains("tag.*")
        if let unknown = query.keys.sorted().first(where: { !valid.contains($0) && !(tagsAllowed && $0.hasPrefix(tagPrefix)) }) {
            throw ReportError("\(unknown): unknown parameter (valid: \(valid.joined(separator: ", ")))")
        }
    }

    /// `tz`: an IANA zone, else the configured one.
    public static func zone(_ query: [String: String], default defaultZone: TimeZone) throws(ReportError) -> TimeZone {
        guard let tz = query["tz"] else { return defaultZone }
        guard let zone = TimeZone(identifier: tz) else { throw ReportError("tz: '\(tz)' is not an IANA time zone (e.g. UTC, Europe/Moscow)") }
        return zone
    }

    /// `format`: json (default) or csv.
    public static func csv(_ query: [String: String]) throws(ReportError) -> Bool {
        switch query["format"] ?? "json" {
        case "json": return false
        case "csv": return true
        case let other: throw ReportError("format: '\(other)' must be json or csv")
        }
    }

    /// An RFC 3339 timestamp whose `+` offset arrived as a space (form encoding reads `+` as a
    /// space): `2026-11-01T00:00:00 03:00` can only mean `+03:00`.
    static func timestamp(_ text: String) -> Date? {
        if let date = RFC3339.parse(text) { return date }
        let chars = Array(text)
        guard chars.count > 6, chars[chars.count - 6] == " ", chars[chars.count - 7].isNumber else { return nil }
        var repaired = chars
        repaired[chars.count - 6] = "+"
        return RFC3339.parse(String(repaired))
    }

    /// `query` holds the raw parameters; errors are messages for a 400.
    /// `endpoint`: unknown parameter names are a 400 (nil: not checked, for callers that build the query).
    /// `canonicalModel`: the pricing catalog's name resolution, so a `model` filter matches every
    /// spelling that prices to the same canonical model.
    public static func parse(_ query: [String: String], defaultTimeZone: TimeZone, currencyRates: [String: Double],
                             now: Date, defaultRange: String = "24h", endpoint: Endpoint? = nil,
                             canonicalModel: (@Sendable (String) -> String?)? = nil) throws(ReportError) -> ReportParameters {
        if let endpoint { try checkNames(query, endpoint) }
        let timeZone = try zone(query, default: defaultTimeZone)
        let calendar = ReportCalendar(timeZone: timeZone)
        var from: Date
        var to = now
        if query["from"] != nil || query["to"] != nil {
            if query["range"] != nil { throw ReportError("range: give either range or from/to, not both") }
            guard let fromText = query["from"] else { throw ReportError("from: required with to") }
            guard let parsed = timestamp(fromText) else { throw ReportError("from: '\(fromText)' is not an RFC 3339 timestamp") }
            from = parsed
            if let toText = query["to"] {
                guard let parsedTo = timestamp(toText) else { throw ReportError("to: '\(toText)' is not an RFC 3339 timestamp") }
                to = parsedTo
            }
            guard from < to else { throw ReportError("from: \(fromText) is not before to (\(RFC3339.format(to))); to is exclusive") }
        } else {
            let range = query["range"] ?? defaultRange
            from = try Self.start(of: range, now: now, calendar: calendar)
        }
        var parameters = ReportParameters(from: from, to: to, timeZone: timeZone)
        if let groups = query["group_by"], !groups.isEmpty {
            for name in groups.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let dimension = ReportDimension(rawValue: name) else {
                    throw ReportError("group_by: unknown dimension '\(name)' (expected \(ReportDimension.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if !parameters.groupBy.contains(dimension) { parameters.groupBy.append(dimension) }
            }
        }
        for dimension in ReportDimension.allCases {
            if let value = query[dimension.rawValue] ?? (dimension == .user ? query["user_id"] : nil) {
                var values = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                if dimension == .model, let canonicalModel {
                    values = values.flatMap { name in [name, canonicalModel(name)].compactMap { $0 } }
                }
                var seen = Set<String>()
                parameters.filters[dimension] = values.filter { seen.insert($0).inserted }
            }
        }
        if let ids = query["resource_id"] {
            parameters.resourceIDs = ids.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        for (name, value) in query where name.hasPrefix(tagPrefix) {
            let key = String(name.dropFirst(tagPrefix.count))
            guard ResourceFields.isName(key, maxBytes: RecordLimits.tagKeyBytes) else {
                throw ReportError("\(name.prefix(80)): a tag key is \(ResourceFields.nameRule), 1 to \(RecordLimits.tagKeyBytes) bytes (tag.KEY=VALUE)")
            }
            parameters.tags[key] = value
        }
        if let limit = query["limit"] {
            guard let value = Int(limit), value > 0 else { throw ReportError("limit: '\(limit)' must be a positive integer") }
            parameters.limit = value
        }
        if let currency = query["currency"], currency.uppercased() != "USD" {
            guard let rate = currencyRates[currency.uppercased()] else {
                let known = (["USD"] + currencyRates.keys.sorted()).joined(separator: ", ")
                throw ReportError("currency: no rate configured for '\(currency)' (configured: \(known))")
            }
            parameters.currency = currency.uppercased()
            parameters.currencyRate = rate
        }
        parameters.csv = try csv(query)
        return parameters
    }

    static func start(of range: String, now: Date, calendar: ReportCalendar) throws(ReportError) -> Date {
        switch range {
        case "1h": return now.addingTimeInterval(-3600)
        case "24h": return now.addingTimeInterval(-86400)
        case "today": return calendar.startOfDay(now)
        case "7d": return now.addingTimeInterval(-7 * 86400)
        case "30d": return now.addingTimeInterval(-30 * 86400)
        case "90d": return now.addingTimeInterval(-90 * 86400)
        case "mtd": return calendar.startOfMonth(now)
        default: throw ReportError("range: unknown range '\(range)' (expected \(ranges.joined(separator: ", ")), or from/to)")
        }
    }

    package var figureQuery: FigureQuery {
        var query = FigureQuery(from: from, to: to, groupBy: groupBy, filters: filters, resourceIDs: resourceIDs, tags: tags)
        query.outwardEdges = outwardEdges
        return query
    }
}

public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
