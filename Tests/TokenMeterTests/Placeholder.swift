import Testing
@testable import TokenMeter
@Test func placeholder() { #expect(TokenMeterVersion.string == "0.1.0") }
