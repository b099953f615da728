/// The two encodings of OTLP/HTTP: binary protobuf and proto3 JSON.
public enum OTLPEncoding: Sendable, Equatable { case protobuf, json }

extension OTLPTraceRequest {
    public static func decode(_ body: [UInt8], encoding: OTLPEncoding) throws(OTLPDecodeError) -> OTLPTraceRequest {
        switch encoding {
        case .protobuf: try OTLPProtobufDecoder.decode(body)
        case .json: try OTLPJSONDecoder.decode(body)
        }
    }
}
