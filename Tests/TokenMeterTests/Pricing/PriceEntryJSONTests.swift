import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Price entry JSON")
struct PriceEntryJSONTests {
    @Test(arguments: [
        (#"{"model":"m","input":-1}"#, "input: price must be"),
        (#"{"model":"m","input":1,"tiers":[{"above_input_tokens":10,"input":-5,"output":1}]}"#, "tiers[0].input: price must be"),
        (#"{"model":"m","input":1,"tiers":[{"above_input_tokens":10,"output":1e12}]}"#, "tiers[0].output: price must be"),
    ])
    func pricesOutsideTheRangeAreRefusedWithTheirPath(json: String, message: String) {
        #expect {
            try JSONDecoder().decode(PriceEntry.self, from: Data(json.utf8))
        } throws: { error in
            "\((error as? DecodingError)?.readableDescription ?? "\(error)")".contains(message)
        }
    }

    @Test func aValidTierDecodes() throws {
        let entry = try JSONDecoder().decode(PriceEntry.self, from: Data(#"{"model":"m","input":1,"tiers":[{"above_input_tokens":10,"input":2}]}"#.utf8))
        #expect(entry.tiers.first?.prices.input == PicoPrice(usdPerMillion: 2))
    }
}
