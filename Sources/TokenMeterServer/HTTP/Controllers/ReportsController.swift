import TokenMeterCore
import Foundation
import Hummingbird

/// `/v1/reports/summary`, `/v1/reports/timeseries`, `/v1/reports/monitoring`, `/v1/users/{id}/usage`.
struct ReportsController<Context: RequestContext> {
    let source: any ReportSource
    let config: ServerConfig
    let pricing: PricingService
    let gate: ReportGate
    let auth: TokenAuthenticator
    let now: WallClock

    var service: ReportService {
        ReportService(source: source, retention: config.retention, pricing: pricing, maxGroups: config.maxReportGroups)
    }

    func addRoutes(to router: Router<Context>) {
        let router = router.group().add(middleware: auth.require(.role(.read), context: Context.self))
        router.get("v1/reports/summary", use: gated(summary))
        router.get("v1/reports/timeseries", use: gated(timeseries))
        router.get("v1/reports/monitoring", use: gated(monitoring))
        router.get("v1/reports/economics", use: gated(economics))
        router.get("v1/users/:user_id/usage", use: gated(userUsage))
        router.get("v1/resources/:resource_type/:resource_id/usage", use: gated(resourceUsage))
    }

    /// At most `max_concurrent_reports` report queries at once (each may hold many groups in
    /// memory).
    private func gated(_ handler: @escaping @Sendable (Request, Context) async throws -> Response)
        -> @Sendable (Request, Context) async throws -> Response {
        { [gate] request, context in
            guard gate.enter() else {
                throw APIError.overloaded("\(gate.limit) report queries are running already (max_concurrent_reports); retry shortly")
            }
            defer { gate.leave() }
            return try await handler(request, context)
        }
    }

    private func parameters(_ request: Request, _ endpoint: ReportParameters.Endpoint, now: Date,
                            defaultRange: String = "24h") throws -> ReportParameters {
        var query = Self.formDecodedQuery(request.uri.query ?? "")
        do {
            try ReportParameters.checkNames(query, endpoint)
            query["interval"] = nil  // the timeseries handler reads it
            let catalog = pricing.catalog
            return try ReportParameters.parse(query, defaultTimeZone: config.timeZone, currencyRates: config.currencyRates,
                                              now: now, defaultRange: defaultRange,
                                              canonicalModel: { catalog.canonicalModel(for: $0) })
        } catch {
            throw APIError(.badRequest, error.description)
        }
    }

    /// Query parameters as HTML forms and most HTTP clients encode them: `+` is a space.
    static func formDecodedQuery(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }

    /// Totals and groups for a range.
    @Sendable func summary(_ request: Request, context: Context) async throws -> Response {
        let now = self.now()
        let p = try parameters(request, .summary, now: now)
        let summary = try await service.summary(p, now: now)
        if p.csv { return CSVResponse.make(CSVReport.summary(summary, currency: p.currency != nil)) }
        return JSONResponse.make(summary)
    }

    /// The same figures per `interval` (hour, day, week, month; default day).
    @Sendable func timeseries(_ request: Request, context: Context) async throws -> Response {
        let now = self.now()
        let p = try parameters(request, .timeseries, now: now, defaultRange: "7d")
        let name = Self.formDecodedQuery(request.uri.query ?? "")["interval"] ?? "day"
        guard let interval = ReportService.Interval(rawValue: name) else {
            throw APIError(.badRequest, "interval: '\(name)' must be hour, day, week or month")
        }
        let series = try await service.timeseries(p, interval: interval, now: now)
        if p.csv {
            return CSVResponse.make(CSVReport.timeseries(series, groupBy: p.groupBy.map(\.rawValue), currency: p.currency != nil))
        }
        return JSONResponse.make(series)
    }

    /// Active users, API costs, unit economics and error stats for 24h, 7d or 30d (`by_day` in `tz`).
    @Sendable func monitoring(_ request: Request, context: Context) async throws -> Response {
        let query = Self.formDecodedQuery(request.uri.query ?? "")
        try ReportParameters.checkNames(query, .monitoring)
        let zone = try ReportParameters.zone(query, default: config.timeZone)
        let csv = try ReportParameters.csv(query)
        let report = try await service.monitoring(range: query["range"] ?? "24h", timeZone: zone, now: now())
        return csv ? CSVResponse.make(try CSVReport.flattened(report)) : JSONResponse.make(report)
    }

    /// Credits vs cost per plan and model, cost per active user, top users, unpriced share.
    @Sendable func economics(_ request: Request, context: Context) async throws -> Response {
        let now = self.now()
        let p = try parameters(request, .economics, now: now, defaultRange: "30d")
        let report = try await service.economics(p, creditValueUSD: config.creditValueUSD, now: now)
        return p.csv ? CSVResponse.make(try CSVReport.flattened(report)) : JSONResponse.make(report)
    }

    /// One unit of work's totals, by model and operation, its first and last call and its users
    /// (default range 90d: all raw records). CSV: one `path,value` row per JSON value.
    @Sendable func resourceUsage(_ request: Request, context: Context) async throws -> Response {
        func decoded(_ name: String) throws -> String {
            let raw = try context.parameters.require(name)
            return raw.removingPercentEncoding ?? raw
        }
        let type = try decoded("resource_type")
        let id = try decoded("resource_id")
        let now = Date()
        let p = try parameters(request, .resourceUsage, now: now, defaultRange: "90d")
        guard let report = try await service.resourceUsage(type: type, id: id, p, now: now) else {
            throw APIError(.notFound, "no completed call of resource \(type.prefix(64))/\(id.prefix(256)) between \(RFC3339.format(p.from)) and \(RFC3339.format(p.to))")
        }
        return p.csv ? CSVResponse.make(try CSVReport.flattened(report)) : JSONResponse.make(report)
    }

    /// One user's usage by model, credits vs cost, and daily limits.
    @Sendable func userUsage(_ request: Request, context: Context) async throws -> Response {
        let raw = try context.parameters.require("user_id")
        let userID = raw.removingPercentEncoding ?? raw
        let now = self.now()
        let p = try parameters(request, .userUsage, now: now, defaultRange: "30d")
        let report = try await service.userUsage(userID: userID, p, limitTimeZone: config.timeZone, now: now)
        return p.csv ? CSVResponse.make(CSVReport.userUsage(report, currency: p.currency != nil)) : JSONResponse.make(report)
    }
}
