import ArgumentParser
import Foundation
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print the usage summary from the database: an aligned table (default), CSV or JSON."
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "1h, 24h, today, 7d, 30d, 90d or mtd (default 24h).") var range: String?
    @Option(name: .long, help: "RFC 3339 start (inclusive).") var from: String?
    @Option(name: .long, help: "RFC 3339 end (exclusive, default now).") var to: String?
    @Option(name: .long, help: "Comma list of service, operation, category, provider, model, status, user, plan, resource_type, resource.") var groupBy: String?
    @Option(name: .long, help: "Top N groups by cost; the rest is summed as 'other'.") var limit: Int?
    @Option(name: .long, help: "IANA time zone for day boundaries (default TOKENMETER_TZ or UTC).") var tz: String?
    @Option(name: .long, help: "Report cost also in this configured currency.") var currency: String?
    @Option(name: .long, help: "table, csv or json.") var format = "table"
    @Option(name: .long) var service: String?
    @Option(name: .long) var operation: String?
    @Option(name: .long) var category: String?
    @Option(name: .long) var provider: String?
    @Option(name: .long) var model: String?
    @Option(name: .long) var status: String?
    @Option(name: .long) var user: String?
    @Option(name: .long) var plan: String?
    @Option(name: .long, help: "Only this resource type (comma list), e.g. pipeline_run.") var resourceType: String?
    @Option(name: .long, help: "Only these resources, TYPE/ID (comma list).") var resource: String?
    @Option(name: .long, help: "Only these resource ids (comma list).") var resourceId: String?
    @Option(name: .long, help: "Only records with this tag, KEY=VALUE (repeatable; all must match).") var tag: [String] = []
    @Flag(name: .long, help: "Yesterday in the configured time zone: totals, top models and operations, unit economics, unpriced models.") var daily = false

    func run() async throws {
        let config = try options.load()
        // A SQLite file read-only, or a PostgreSQL store read without registering an instance.
        try await StoreOpening.withReadStore(config, for: "report") { store in
            let pricing = try await PricingService.load(catalogFile: config.catalogFile, repository: store)
            try await report(ReportService(source: store, retention: config.retention, pricing: pricing), pricing, config)
        }
    }

    private func report(_ service: ReportService, _ pricing: PricingService, _ config: ServerConfig) async throws {
        let now = Date()
        var query: [String: String] = [:]
        for (key, value) in [("range", range), ("from", from), ("to", to), ("group_by", groupBy), ("limit", limit.map(String.init)),
                             ("tz", tz), ("currency", currency), ("service", self.service), ("operation", operation),
                             ("category", category), ("provider", provider), ("model", model), ("status", status),
                             ("user", user), ("plan", plan), ("resource_type", resourceType), ("resource", resource),
                             ("resource_id", resourceId)] {
            if let value { query[key] = value }
        }
        for item in tag {
            guard let equals = item.firstIndex(of: "=") else { throw ValidationError("--tag: '\(item)' must be KEY=VALUE") }
            query[ReportParameters.tagPrefix + item[..<equals]] = String(item[item.index(after: equals)...])
        }
        if daily {
            let zone = tz.flatMap(TimeZone.init(identifier:)) ?? config.timeZone
            let calendar = ReportCalendar(timeZone: zone)
            let today = calendar.startOfDay(now)
            query["from"] = RFC3339.format(calendar.addingDays(-1, to: today))
            query["to"] = RFC3339.format(today)
            query["range"] = nil
            try await printDaily(service: service, query: query, config: config, now: now)
            return
        }
        let parameters: ReportParameters
        do {
            let catalog = pricing.catalog
            parameters = try ReportParameters.parse(query, defaultTimeZone: config.timeZone, currencyRates: config.currencyRates, now: now,
                                                    canonicalModel: { catalog.canonicalModel(for: $0) })
        } catch {
            throw ValidationError(error.description)
        }
        let summary = try await service.summary(parameters, now: now)
        switch format {
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        case "csv":
            print(CSVReport.summary(summary, currency: parameters.currency != nil), terminator: "")
        case "table":
            print(Self.table(summary))
        default:
            throw ValidationError("--format must be table, csv or json")
        }
    }

    static func table(_ summary: ReportService.Summary) -> String {
        let figureHeader = ["requests", "errors", "input", "cached", "cache_w", "output", "cost_usd", "credits", "users", "avg_ms", "unpriced"]
        func cells(_ f: FigureBlock) -> [String] {
            [String(f.requests), String(f.errors), String(f.input_tokens), String(f.cached_input_tokens), String(f.cache_write_tokens),
             String(f.output_tokens), String(format: "%.6f", f.cost_usd), String(format: "%g", f.credits), String(f.active_users),
             f.avg_duration_ms.map { String(format: "%.0f", $0) } ?? "-", String(f.unpriced_requests)]
        }
        let dims = summary.group_by
        var rows = summary.groups.map { group in dims.map { group.key[$0] ?? "" } + cells(group.figures) }
        rows.append((dims.isEmpty ? [] : ["TOTAL"] + Array(repeating: "", count: dims.count - 1)) + cells(summary.totals))
        let right = Swift.Set((dims.count..<(dims.count + figureHeader.count)))
        var text = "\(summary.from) .. \(summary.to) (\(summary.tz))\(summary.rounded ? "  [edges rounded: raw data pruned]" : "")\n"
        text += TextTable.render(header: dims + figureHeader, rows: rows, rightAligned: right)
        return text
    }

    private func printDaily(service: ReportService, query: [String: String], config: ServerConfig, now: Date) async throws {
        func summary(_ extra: [String: String]) async throws -> ReportService.Summary {
            let merged = query.merging(extra) { _, new in new }
            do {
                let p = try ReportParameters.parse(merged, defaultTimeZone: config.timeZone, currencyRates: config.currencyRates, now: now)
                return try await service.summary(p, now: now)
            } catch let error as ReportError {
                throw ValidationError(error.description)
            }
        }
        let totals = try await summary([:])
        print("Daily report \(totals.from) .. \(totals.to) (\(totals.tz))\n")
        print(Self.table(totals) + "\n")
        print("Top models\n" + Self.table(try await summary(["group_by": "model", "limit": "10"])) + "\n")
        print("Top operations\n" + Self.table(try await summary(["group_by": "operation", "limit": "10"])) + "\n")
        let plans = try await summary(["group_by": "plan"])
        print("Unit economics by plan (credits charged vs cost)")
        let rows = plans.groups.map { g -> [String] in
            let perUser = g.figures.active_users == 0 ? 0 : g.figures.cost_usd / Double(g.figures.active_users)
            return [g.key["plan"].flatMap { $0.isEmpty ? nil : $0 } ?? "(none)", String(g.figures.active_users),
                    String(format: "%.6f", g.figures.cost_usd), String(format: "%.6f", perUser), String(format: "%g", g.figures.credits)]
        }
        print(TextTable.render(header: ["plan", "active_users", "cost_usd", "cost_per_user", "credits"], rows: rows, rightAligned: [1, 2, 3, 4]) + "\n")
        let unpriced = try await summary(["group_by": "model"]).groups.filter { $0.figures.unpriced_requests > 0 }
        print("Unpriced models (cost 0, add a price): " + (unpriced.isEmpty ? "none" : unpriced.map { "\($0.key["model"] ?? "") (\($0.figures.unpriced_requests))" }.joined(separator: ", ")))
        let from = RFC3339.parse(totals.from) ?? now, to = RFC3339.parse(totals.to) ?? now
        let unrecognized = try await service.source.unrecognizedUsage(from: from, to: to).fields
        print("Usage fields not understood (priced without them): " + (unrecognized.isEmpty ? "none" : unrecognized.map {
            "\($0.provider)/\($0.model) \($0.field) (\($0.requests))"
        }.joined(separator: ", ")))
    }
}
