import CZlib

/// `Content-Encoding: gzip` request bodies, inflated by the system zlib with the output bounded:
/// a small body that inflates past `limit` stops there (a "zip bomb" costs at most `limit` bytes).
public enum Gzip {
    public enum Failure: Error, Equatable {
        case tooLarge(limit: Int)
        case corrupt(String)
    }

    /// Every gzip member of `input`, concatenated (RFC 1952 allows several members in one stream).
    public static func decompress(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        guard !input.isEmpty else { throw .corrupt("empty body with Content-Encoding: gzip") }
        var stream = z_stream()
        // 15 + 16: a 32 KiB window, gzip header and trailer (not raw deflate, not zlib).
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        let total = input.count
        return try input.withUnsafeMutableBufferPointer { (source) throws(Failure) -> [UInt8] in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(total)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, buffer.count - Int(stream.avail_out))
                }
                if output.count + produced > limit { throw .tooLarge(limit: limit) }
                output += chunk[0..<produced]
                switch status {
                case Z_STREAM_END:
                    // Another member follows, or the end (trailing zero padding is tolerated, as gzip(1) does).
                    let rest = Int(stream.avail_in)
                    if rest == 0 { return output }
                    let offset = total - rest
                    if source[offset...].allSatisfy({ $0 == 0 }) { return output }
                    guard inflateReset(&stream) == Z_OK else { throw .corrupt("zlib could not be reset for the next gzip member") }
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: the input ended before the stream did.
                    if stream.avail_in == 0 { throw .corrupt("the gzip stream is truncated") }
                    continue
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw .corrupt("not a valid gzip stream (\(reason))")
                }
            }
        }
    }
}
