import ArgumentParser
import Foundation
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

/// `tokenmeter otlp-decode`: what `POST /v1/traces` reads from an export, without a server or a store.
struct OTLPDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "otlp-decode",
        abstract: "Decode an OTLP trace export (protobuf or JSON) and print it as OTLP JSON, or the usage records its spans become.",
        discussion: "Reads the file (or - for standard input) as POST /v1/traces would: --json for OTLP JSON, gzip detected by its magic bytes. Prints only the fields tokenmeter keeps. With --records, prints one line per GenAI span: the /v1/usage record it maps to, or why it is rejected."
    )

    @Argument(help: "The export body: ExportTraceServiceRequest bytes, or - for standard input.")
    var file: String

    @Flag(name: .long, help: "The body is OTLP JSON rather than protobuf.")
    var json = false

    @Flag(name: .long, help: "Print the records the GenAI spans map to (NDJSON), not the decoded request.")
    var records = false

    func run() throws {
        var body = file == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        if body.starts(with: [0x1F, 0x8B]) { body = try Gzip.decompress(body, limit: 1 << 30) }
        let request: OTLPTraceRequest
        do {
            request = try OTLPTraceRequest.decode(body, encoding: json ? .json : .protobuf)
        } catch {
            FileHandle.standardError.write(Data("not a valid OTLP ExportTraceServiceRequest: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        guard records else {
            print(OTLPJSONEncoder.encode(request).serialized())
            return
        }
        for outcome in SpanMapping.records(from: request) {
            switch outcome.record {
            case .success(let record): print(record.serialized())
            case .failure(let error): print(JSONValue.object(["rejected": .string(outcome.label), "error": .string(error.message)]).serialized())
            }
        }
    }
}
