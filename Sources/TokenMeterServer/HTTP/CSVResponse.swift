import Hummingbird

/// A report answered as CSV (`format=csv`).
enum CSVResponse {
    static func make(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
