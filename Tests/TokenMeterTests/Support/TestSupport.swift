import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A fresh directory under the system temp dir, for one test's SQLite file.
func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokenmeter-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func testConfig(database: URL? = nil, tokens: [(Role, String)] = [], metricsToken: String? = nil) -> ServerConfig {
    var config = ServerConfig()
    config.host = "127.0.0.1"
    config.port = 0
    config.databasePath = (database ?? temporaryDirectory().appendingPathComponent("test.sqlite")).path
    config.tokens = tokens.map { APIToken(role: $0.0, token: $0.1) }
    config.metricsToken = metricsToken
    config.synchronous = .normal
    return config
}

/// The SQLite store at the configuration's database path, as `tokenmeter serve` opens it.
func openTestStore(_ config: ServerConfig) throws -> SQLiteStore {
    try SQLiteStore(path: config.databasePath, synchronous: config.synchronous)
}

/// Runs a real server on a loopback port for the duration of `body`.
func withLiveServer<T: Sendable>(
    _ config: ServerConfig, setup: TestingSetup = .live, now: @escaping @Sendable () -> Date = Date.init,
    _ body: @Sendable (AppComponents, any TestClientProtocol) async throws -> T
) async throws -> T {
    let components = try await AppComponents.open(config: config, store: openTestStore(config), now: now)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let app = try buildApplication(components, logger: logger)
    return try await app.test(setup) { client in try await body(components, client) }
}

extension TestClientProtocol {
    @discardableResult
    func post(_ path: String, json: String, contentType: String = "application/json", token: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: contentType]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ path: String, token: String? = nil, headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: path, method: .get, headers: headers)
    }

    func metrics(token: String? = nil) async throws -> PrometheusText {
        let response = try await get("/metrics", token: token)
        #expect(response.status == .ok)
        return try PrometheusText(String(buffer: response.body))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func json() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }
}

/// A parsed Prometheus text exposition (0.0.4): samples by name and label set.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            samples.append(try Self.parseSample(Array(line.unicodeScalars)))
        }
    }

    static func parseSample(_ s: [Unicode.Scalar]) throws -> Sample {
        var i = 0
        var name = ""
        while i < s.count, s[i] != "{", s[i] != " " { name.unicodeScalars.append(s[i]); i += 1 }
        var labels: [String: String] = [:]
        if i < s.count, s[i] == "{" {
            i += 1
            while i < s.count, s[i] != "}" {
                var key = ""
                while s[i] != "=" { key.unicodeScalars.append(s[i]); i += 1 }
                i += 2  // ="
                var value = ""
                while s[i] != "\"" {
                    if s[i] == "\\" {
                        i += 1
                        switch s[i] {
                        case "n": value += "\n"
                        case "\\": value += "\\"
                        case "\"": value += "\""
                        default: throw ParseError(message: "bad escape \\\(s[i]) in \(String(String.UnicodeScalarView(s)))")
                        }
                    } else {
                        value.unicodeScalars.append(s[i])
                    }
                    i += 1
                }
                i += 1
                labels[key] = value
                if s[i] == "," { i += 1 }
            }
            i += 1
        }
        let valueText = String(String.UnicodeScalarView(s[i...])).trimmingCharacters(in: .whitespaces)
        guard let value = Double(valueText.replacingOccurrences(of: "+Inf", with: "inf")) else {
            throw ParseError(message: "bad value '\(valueText)'")
        }
        return Sample(name: name, labels: labels, value: value)
    }

    struct ParseError: Error { var message: String }

    /// The value of the one sample with exactly these labels (nil if absent).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Sum over every sample of `name` whose labels include `matching`.
    func sum(_ name: String, where matching: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }

    func series(_ name: String) -> [Sample] { samples.filter { $0.name == name } }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}
