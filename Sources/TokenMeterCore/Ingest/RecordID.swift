import Foundation
import Synchronization

/// Ids for records sent without one: UUIDv7 (RFC 9562), lowercase, time-ordered. The 12 `rand_a`
/// bits are a counter within the millisecond (starting at a random value below 256), so ids made by
/// one process sort in the order they were made and insert at the right edge of the store's id index
/// (`RecordIDKey`); the 62 `rand_b` bits are random.
public enum RecordID {
    private struct Clock {
        var lastMs: UInt64 = 0
        var counter: UInt64 = 0
    }

    private static let clock = Mutex(Clock())

    public static func generate(now: Date = Date()) -> String {
        let nowMs = UInt64(max(0, now.unixMilliseconds))
        var rng = SystemRandomNumberGenerator()
        let random = rng.next()
        let (ms, counter) = clock.withLock { c -> (UInt64, UInt64) in
            if nowMs > c.lastMs {
                c.lastMs = nowMs
                c.counter = random >> 56  // 0...255: room for 3,800+ more ids in this millisecond
            } else {
                c.counter += 1
                if c.counter > 0xFFF {  // the millisecond is used up: borrow the next one (stays ordered)
                    c.lastMs += 1
                    c.counter = 0
                }
            }
            return (c.lastMs, c.counter)
        }
        let randB = rng.next() & 0x3FFF_FFFF_FFFF_FFFF
        let high = (ms & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | counter  // unix_ts_ms, ver, rand_a
        let low = 0x8000_0000_0000_0000 | randB  // var, rand_b
        return format(high: high, low: low)
    }

    /// 8-4-4-4-12 lowercase hex digits of the 128 bits `high` (first) and `low`.
    static func format(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            var j = 0
            func put(_ word: UInt64) {
                for shift in stride(from: 60, through: 0, by: -4) {
                    if j == 8 || j == 13 || j == 18 || j == 23 {
                        out[j] = UInt8(ascii: "-")
                        j += 1
                    }
                    let digit = UInt8(truncatingIfNeeded: word >> UInt64(shift)) & 0xF
                    out[j] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                    j += 1
                }
            }
            put(high)
            put(low)
            return j
        }
    }
}
