import ArgumentParser
import Foundation
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

/// Catalog load and per-record price lookup with catalogs of different sizes, each next to a
/// reference measured in the same run: JSONSerialization parsing the same bytes (load), and a
/// plain Dictionary lookup of the same names (per record).
struct PricingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pricing",
        abstract: "Catalog load time and per-record price lookup: the 82-entry catalog, the shipped one, and the shipped one with a LiteLLM import."
    )

    @Option(help: "An older catalog file to measure too (e.g. the 82-entry catalog: git show 0d0327f:Sources/TokenMeter/Pricing/Resources/default-catalog.json).")
    var oldCatalog: String?

    @Option(help: "LiteLLM's model_prices_and_context_window.json to import over the shipped catalog.")
    var litellm: String?

    @Option(help: "Records priced per measurement.")
    var records = 200_000

    @Option(help: "Repetitions (median reported).")
    var repeats = 5

    func run() async throws {
        let shippedFile = try DefaultCatalog.file()
        let shippedData = try JSONEncoder().encode(shippedFile)
        var cases: [(name: String, data: Data, build: (Data) throws -> PricingService)] = []
        if let oldCatalog {
            let data = try Data(contentsOf: URL(fileURLWithPath: oldCatalog))
            cases.append(("82-entry catalog (before issue 14)", data, { PricingService(base: try DefaultCatalog.decode($0, source: "old")) }))
        }
        cases.append(("shipped catalog", shippedData, { PricingService(base: try DefaultCatalog.decode($0, source: "shipped")) }))
        if let litellm {
            let data = try Data(contentsOf: URL(fileURLWithPath: litellm))
            cases.append(("shipped + LiteLLM import", data, { bytes in
                let base = shippedFile.models
                let result = try LiteLLMImporter.entries(from: bytes)
                let plan = PriceImportPlan.forImport(result, layers: (base, [], []))
                return PricingService(base: base, changes: plan.changes)
            }))
        }
        var sink = 0
        for c in cases {
            var loads: [Double] = []
            var parses: [Double] = []
            var service: PricingService!
            for _ in 0..<repeats {
                loads.append(try Timing.measure { service = try c.build(c.data) })
                parses.append(try Timing.measure { _ = try JSONSerialization.jsonObject(with: c.data) })
            }
            let catalog = service.catalog
            let names = catalog.versions.keys.sorted()
            // Names as records send them: canonical names, prefixed and dated forms, and unknown ones.
            var sent: [String] = []
            var rng = SystemRandomNumberGenerator()
            for i in 0..<records {
                let name = names[Int.random(in: 0..<names.count, using: &rng)]
                switch i % 4 {
                case 0: sent.append(name)
                case 1: sent.append("openrouter/" + name)
                case 2: sent.append(name + "-20250101")
                default: sent.append("unknown-model-\(i % 5000)")
                }
            }
            let when = Date()
            let recordsToPrice = sent.map { UsageRecord(timestamp: when, operation: "bench", model: $0, tokens: TokenCounts(input: 1000, output: 100)) }
            var priceTimes: [Double] = []
            var coldTimes: [Double] = []
            var dictTimes: [Double] = []
            let table = Dictionary(names.map { ($0, catalog.versions[$0]!.last!) }, uniquingKeysWith: { a, _ in a })
            for _ in 0..<repeats {
                let fresh = try c.build(c.data)
                coldTimes.append(Timing.measure { for r in recordsToPrice.prefix(20_000) { sink &+= Int(fresh.price(r).costNanoUSD & 1) } })
                priceTimes.append(Timing.measure { for r in recordsToPrice { sink &+= Int(service.price(r).costNanoUSD & 1) } })
                dictTimes.append(Timing.measure { for name in sent { sink &+= table[name.lowercased()] == nil ? 0 : 1 } })
            }
            let load = Timing.median(loads), parse = Timing.median(parses)
            let perRecord = Timing.median(priceTimes) / Double(records) * 1e9
            let cold = Timing.median(coldTimes) / 20_000 * 1e9
            let dict = Timing.median(dictTimes) / Double(records) * 1e9
            print("\(c.name): \(catalog.count) models, \(catalog.entries.count) versions")
            print(String(format: "  load %.1f ms (reference: JSONSerialization of the same %d bytes %.1f ms; ratio %.2f)", load * 1000, c.data.count, parse * 1000, load / parse))
            print(String(format: "  price one record, warm name cache: %.0f ns (reference: Dictionary lookup of the name %.0f ns; ratio %.1f)", perRecord, dict, perRecord / dict))
            print(String(format: "  price one record, first sight of each name (resolve + price): %.0f ns", cold))
        }
        if sink == 42 { print("") }
    }
}
