import CZlib

/// gzip-compresses with the system zlib (level 6, as gzip(1) and Python's exporter use).
func gzipCompress(_ input: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var source = input
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
    let produced = source.withUnsafeMutableBufferPointer { src in
        output.withUnsafeMutableBufferPointer { dst -> Int in
            stream.next_in = src.baseAddress
            stream.avail_in = UInt32(src.count)
            stream.next_out = dst.baseAddress
            stream.avail_out = UInt32(dst.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return dst.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<produced])
}
