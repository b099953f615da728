import ArgumentParser
import Foundation
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "Show and change the price catalog stored in the database (on PostgreSQL running servers pick changes up within 2 s; a server on a SQLite file on restart: use the HTTP API for live changes there).",
        subcommands: [List.self, Import.self, Set.self, Update.self, Resolve.self]
    )

    static func open(_ options: ConfigOptions) async throws -> PricingService {
        let config = try options.load()
        let store = try StoreOpening.open(config, for: "prices")
        return try await PricingService.load(catalogFile: config.catalogFile, repository: store)
    }

    /// Runs `body` with the catalog of either store, open for changes (`StoreOpening.withChangeStore`):
    /// what `body` applies is saved in the store (on PostgreSQL, seen by every running instance).
    static func changing<T: Sendable>(_ options: ConfigOptions, _ body: (PricingService) async throws -> T) async throws -> T {
        let config = try options.load()
        return try await StoreOpening.withChangeStore(config, for: "prices") { store in
            try await body(try await PricingService.load(catalogFile: config.catalogFile, repository: store))
        }
    }

    /// The catalog in effect, from either store, read only (`list` works on PostgreSQL too).
    static func load(_ options: ConfigOptions) async throws -> PricingService {
        let config = try options.load()
        guard case .postgres = try StoreLocation(config.databasePath) else { return try await open(options) }
        return try await StoreOpening.withReadStore(config, for: "prices") { store in
            try await PricingService.load(catalogFile: config.catalogFile, repository: store)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List catalog entries (USD per 1M tokens, per unit).")
        @OptionGroup var options: ConfigOptions
        @Option(name: .long, help: "Only the model this name resolves to.") var model: String?
        @Flag(name: .long, help: "Print the catalog as JSON.") var json = false

        func run() async throws {
            let pricing = try await PricesCommand.load(options)
            var entries = pricing.catalog.entries
            if let model {
                guard let canonical = pricing.catalog.canonicalModel(for: model) else {
                    throw ValidationError("no price matches '\(model)'")
                }
                entries = entries.filter { $0.model == canonical }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(CatalogFile(models: entries)), as: UTF8.self))
                return
            }
            func price(_ p: PicoPrice?, perMillion: Bool) -> String {
                guard let p else { return "-" }
                return String(format: "%g", perMillion ? p.usdPerMillion : p.usdPerUnit)
            }
            let header = ["model", "provider", "category", "input", "cached", "cache_write", "output", "per unit", "valid_from"]
            let rows = entries.map { e -> [String] in
                var unit: [String] = []
                if let p = e.perRequest { unit.append("\(price(p, perMillion: false))/request") }
                if let p = e.perImage { unit.append("\(price(p, perMillion: false))/image") }
                if let p = e.perSecond { unit.append("\(price(p, perMillion: false))/second") }
                if let p = e.perMinute { unit.append("\(price(p, perMillion: false))/minute") }
                if let p = e.per1kCharacters { unit.append("\(price(p, perMillion: false))/1k chars") }
                return [e.model, e.provider ?? "", e.category?.rawValue ?? "", price(e.tokens.input, perMillion: true),
                        price(e.tokens.cachedInput, perMillion: true), price(e.tokens.cacheWrite, perMillion: true),
                        price(e.tokens.output, perMillion: true), unit.joined(separator: " "),
                        e.validFrom.map(RFC3339.format) ?? "always"]
            }
            print(TextTable.render(header: header, rows: rows))
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import LiteLLM's model_prices_and_context_window.json (or a tokenmeter catalog) into the store.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The file to import.") var file: String
        @Option(name: .long, help: "litellm (default) or catalog.") var format = "litellm"
        @Option(name: .long, help: "RFC 3339 date the imported prices apply from (default: always).") var validFrom: String?

        func run() async throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            var date: Date?
            if let validFrom {
                guard let parsed = RFC3339.parse(validFrom) else { throw ValidationError("--valid-from: not an RFC 3339 timestamp") }
                date = parsed
            }
            let result = try PriceImport.entries(from: data, format: format, validFrom: date, source: "import of \(file)")
            let plan = try await PricesCommand.changing(options) { pricing in
                let plan = pricing.planImport(result)
                try await pricing.apply(plan.changes)
                return plan
            }
            print("imported \(plan.imported) models, skipped \(plan.skipped.count), conflicts \(plan.conflicts.count)")
            for line in plan.skipped { print("skipped: \(line)") }
            for line in plan.conflicts { print("conflict: \(line)") }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or replace one model's price (USD per 1M tokens; per-unit prices in USD).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Canonical model name.") var model: String
        @Option(name: .long) var provider: String?
        @Option(name: .long) var category: String?
        @Option(name: .long, help: "USD per 1M input tokens.") var input: Double?
        @Option(name: .long, help: "USD per 1M cached input tokens.") var cachedInput: Double?
        @Option(name: .long, help: "USD per 1M cache-write tokens.") var cacheWrite: Double?
        @Option(name: .long, help: "USD per 1M output tokens.") var output: Double?
        @Option(name: .long, help: "USD per 1M reasoning tokens (default: output).") var reasoning: Double?
        @Option(name: .long, help: "USD per request.") var perRequest: Double?
        @Option(name: .long, help: "USD per image.") var perImage: Double?
        @Option(name: .long, help: "USD per second.") var perSecond: Double?
        @Option(name: .long, help: "USD per minute.") var perMinute: Double?
        @Option(name: .long, help: "USD per 1000 characters.") var per1kCharacters: Double?
        @Option(name: .long, help: "Credits charged per unit.") var creditsPerUnit: Double?
        @Option(name: .long, help: "Requests per user per day.") var dailyLimit: Int?
        @Option(name: .long, help: "Aliases, comma separated.") var aliases: String?
        @Option(name: .long, help: "RFC 3339 date the price applies from (default: always).") var validFrom: String?

        func run() async throws {
            var parsedCategory: UsageCategory?
            if let category {
                guard let c = UsageCategory(rawValue: category) else { throw ValidationError("--category: unknown category '\(category)'") }
                parsedCategory = c
            }
            var date: Date?
            if let validFrom {
                guard let parsed = RFC3339.parse(validFrom) else { throw ValidationError("--valid-from: not an RFC 3339 timestamp") }
                date = parsed
            }
            let entry = PriceEntry(
                model: model, provider: provider, category: parsedCategory,
                aliases: aliases?.split(separator: ",").map(String.init) ?? [],
                tokens: TokenPrices(input: input.map(PicoPrice.init(usdPerMillion:)), cachedInput: cachedInput.map(PicoPrice.init(usdPerMillion:)),
                                    cacheWrite: cacheWrite.map(PicoPrice.init(usdPerMillion:)), output: output.map(PicoPrice.init(usdPerMillion:)),
                                    reasoning: reasoning.map(PicoPrice.init(usdPerMillion:))),
                perRequest: perRequest.map(PicoPrice.init(usdPerUnit:)), perImage: perImage.map(PicoPrice.init(usdPerUnit:)),
                perSecond: perSecond.map(PicoPrice.init(usdPerUnit:)), perMinute: perMinute.map(PicoPrice.init(usdPerUnit:)),
                per1kCharacters: per1kCharacters.map(PicoPrice.init(usdPerUnit:)), creditsPerUnit: creditsPerUnit,
                dailyLimit: dailyLimit, validFrom: date, source: "tokenmeter prices set")
            let keepAliases = aliases == nil
            let kept = try await PricesCommand.changing(options) { pricing in
                var kept = entry
                // A new price for an existing model keeps the names it answers to unless --aliases is given.
                if let current = pricing.catalog.versions[entry.model]?.last {
                    if keepAliases { kept.aliases = current.aliases }
                    kept.match = current.match
                    kept.snapshotsSharePrice = current.snapshotsSharePrice
                }
                try await pricing.apply([.put(kept)])
                return kept
            }
            print("set \(kept.version)")
        }
    }
}

extension PricesCommand {
    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refresh the shipped prices from a newer catalog file (as scripts/gen-catalog.py writes it) without upgrading the binary.",
            discussion: "The file replaces the shipped layer; imported prices and your own changes stay over it. A binary whose own catalog is newer than the file's catalog_version ignores it.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "A tokenmeter catalog file: {\"catalog_version\": \"…\", \"models\": […]}.") var file: String
        @Flag(name: .long, help: "Print what would change (new, changed, removed, conflicts) and change nothing.") var dryRun = false

        func run() async throws {
            let catalog = try DefaultCatalog.decodeFile(Data(contentsOf: URL(fileURLWithPath: file)), source: file)
            let dryRun = self.dryRun
            let diff = try await PricesCommand.changing(options) { pricing in
                let diff = try pricing.planUpdate(catalog)
                if !dryRun { try await pricing.apply([.replaceShipped(catalogVersion: catalog.catalog_version, entries: catalog.models)]) }
                return diff
            }
            print("\(dryRun ? "would update" : "updated") to catalog_version \(catalog.catalog_version ?? "(none)"): \(diff.new.count) new, \(diff.changed.count) changed, \(diff.removed.count) removed, \(diff.conflicts.count) conflicts")
            for model in diff.new { print("new: \(model)") }
            for model in diff.changed { print("changed: \(model)") }
            for model in diff.removed { print("removed: \(model)") }
            for line in diff.conflicts { print("conflict: \(line)") }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Explain how a model name resolves to a price entry, and why (or why not).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The model name as records send it.") var name: String
        @Option(name: .long, help: "RFC 3339 time to pick the price version for (default: now).") var at: String?
        @Flag(name: .long, help: "Print the answer as JSON (as GET /v1/prices/resolve).") var json = false

        func run() async throws {
            var date = Date()
            if let at {
                guard let parsed = RFC3339.parse(at) else { throw ValidationError("--at: not an RFC 3339 timestamp") }
                date = parsed
            }
            let pricing = try await PricesCommand.load(options)
            let answer = PriceResolveAnswer(pricing.resolve(name, at: date), at: date)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(answer), as: UTF8.self))
            } else {
                print("\(name): \(answer.model.map { "\($0) (\(answer.rule!))" } ?? "unpriced")")
                print("  \(answer.explanation)")
                for note in answer.notes { print("  note: \(note)") }
                if let e = answer.entry {
                    let p = { (x: PicoPrice?) in x.map { String(format: "%g", $0.usdPerMillion) } ?? "-" }
                    print("  price \(e.version): input \(p(e.tokens.input)), cached \(p(e.tokens.cachedInput)), cache_write \(p(e.tokens.cacheWrite)), output \(p(e.tokens.output)) USD/1M tokens; provider \(e.provider ?? "-"); source \(e.source ?? "-")")
                }
            }
            if !answer.resolved { throw ExitCode(1) }
        }
    }
}

enum TextTable {
    static func render(header: [String], rows: [[String]], rightAligned: Swift.Set<Int> = []) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
    }
}
