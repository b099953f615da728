import Foundation

/// Parsed and validated report query parameters (CONTRACT section 4).
public struct ReportParameters: Sendable {
    public var from: Date
    public var to: Date
    public var groupBy: [ReportDimension] = []
    public var filters: [ReportDimension: [String]] = [:]
    public var limit: Int?
    public var timeZone: TimeZone
    public var currency: String?
    public var currencyRate: Double?
    public var csv = false

    public static let ranges = ["1h", "24h", "today", "7d", "30d", "90d", "mtd"]

    /// `query` holds the raw parameters; errors are messages for a 400.
    public static func parse(_ query: [String: String], defaultTimeZone: TimeZone, currencyRates: [String: Double],
                             now: Date, defaultRange: String = "24h") throws(ReportError) -> ReportParameters {
        var timeZone = defaultTimeZone
        if let tz = query["tz"] {
            guard let zone = TimeZone(identifier: tz) else { throw ReportError("tz: '\(tz)' is not an IANA time zone (e.g. UTC, Europe/Moscow)") }
            timeZone = zone
        }
        let calendar = ReportCalendar(timeZone: timeZone)
        var from: Date
        var to = now
        if query["from"] != nil || query["to"] != nil {
            if query["range"] != nil { throw ReportError("range: give either range or from/to, not both") }
            guard let fromText = query["from"] else { throw ReportError("from: required with to") }
            guard let parsed = RFC3339.parse(fromText) else { throw ReportError("from: '\(fromText)' is not an RFC 3339 timestamp") }
            from = parsed
            if let toText = query["to"] {
                guard let parsedTo = RFC3339.parse(toText) else { throw ReportError("to: '\(toText)' is not an RFC 3339 timestamp") }
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
                parameters.filters[dimension] = value.split(separator: ",").map(String.init)
            }
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
        switch query["format"] ?? "json" {
        case "json": break
        case "csv": parameters.csv = true
        case let other: throw ReportError("format: '\(other)' must be json or csv")
        }
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

    var figureQuery: FigureQuery { FigureQuery(from: from, to: to, groupBy: groupBy, filters: filters) }
}

public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
