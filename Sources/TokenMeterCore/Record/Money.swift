import Foundation

/// Exact money: amounts are integers of nano-USD (1e-9 USD); prices are integers of pico-USD
/// (1e-12 USD) per unit so that prices like $0.01875 per million tokens stay exact.
public enum Money {
    public static let nanoPerUSD: Int64 = 1_000_000_000

    /// Rounds to the nearest nano-USD. Exact for any amount written with up to 9 decimals below $1e6.
    public static func nanoUSD(fromUSD usd: Double) -> Int64 {
        clamped((usd * 1e9).rounded())
    }

    /// Converts without trapping: out-of-range values saturate (inputs are bounded before this).
    package static func clamped(_ value: Double) -> Int64 {
        guard value.isFinite else { return 0 }
        if value >= 9.2e18 { return Int64.max }
        if value <= -9.2e18 { return Int64.min }
        return Int64(value)
    }

    public static func usd(fromNano nano: Int64) -> Double {
        Double(nano) / 1e9
    }

    /// Millionths, for credits.
    public static func micro(from value: Double) -> Int64 {
        clamped((value * 1e6).rounded())
    }

    public static func value(fromMicro micro: Int64) -> Double {
        Double(micro) / 1e6
    }

    /// A nano-USD amount as an exact decimal string (`0.000123450`), for JSON and CSV.
    public static func decimalString(nano: Int64) -> String {
        let negative = nano < 0
        let magnitude = nano.magnitude
        let whole = magnitude / 1_000_000_000
        let fraction = magnitude % 1_000_000_000
        var digits = String(fraction)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        return (negative ? "-" : "") + "\(whole).\(digits)"
    }
}

/// A price in pico-USD per unit.
public struct PicoPrice: Sendable, Equatable, Hashable, Codable {
    public var pico: Int64

    public init(pico: Int64) { self.pico = pico }

    /// From USD per million units (how token prices are published).
    public init(usdPerMillion: Double) {
        self.pico = Money.clamped((usdPerMillion * 1e6).rounded())
    }

    /// From USD per one unit.
    public init(usdPerUnit: Double) {
        self.pico = Money.clamped((usdPerUnit * 1e12).rounded())
    }

    public var usdPerMillion: Double { Double(pico) / 1e6 }
    public var usdPerUnit: Double { Double(pico) / 1e12 }
}
