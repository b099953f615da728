import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Bearer-token auth on every route")
struct AuthTests {
    static let tokens: [(Role, String)] = [(.ingest, "ingest-token-1"), (.read, "read-token-11"), (.admin, "admin-token-1")]
    static let metricsToken = "metrics-token-1"

    enum Caller: String, CaseIterable, Sendable { case none, wrong, ingest, read, admin, metrics }

    static func token(_ caller: Caller) -> String? {
        switch caller {
        case .none: nil
        case .wrong: "not-a-real-token"
        case .ingest: "ingest-token-1"
        case .read: "read-token-11"
        case .admin: "admin-token-1"
        case .metrics: metricsToken
        }
    }

    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var body: String?
        /// Expected status per caller.
        var expected: [Caller: HTTPResponse.Status]
    }

    static let record = #"{"operation":"chat","model":"gpt-4o","input_tokens":1}"#
    static let routes: [Route] = [
        Route(method: .post, path: "/v1/usage", body: record,
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .ok, .read: .forbidden, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .patch, path: "/v1/usage/unknown-id", body: #"{"status":"success"}"#,
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .notFound, .read: .forbidden, .admin: .notFound, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/reports/summary",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .ok, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/reports/timeseries",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .ok, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/reports/monitoring?range=7d",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .ok, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/users/u1/usage",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .ok, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/resources/pipeline_run/never/usage",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .notFound, .admin: .notFound, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/credits",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .ok, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .put, path: "/v1/credits/workflow_execution", body: #"{"credits":0.001}"#,
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .forbidden, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .delete, path: "/v1/credits/never-set",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .forbidden, .admin: .notFound, .metrics: .unauthorized]),
        Route(method: .get, path: "/v1/prices",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .ok, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .put, path: "/v1/prices/test-model", body: #"{"input":1,"output":2}"#,
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .forbidden, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .delete, path: "/v1/prices/no-such-model",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .forbidden, .admin: .notFound, .metrics: .unauthorized]),
        Route(method: .post, path: "/v1/prices/import?format=catalog", body: #"{"models":[{"model":"imported","input":1}]}"#,
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .forbidden, .admin: .ok, .metrics: .unauthorized]),
        Route(method: .get, path: "/metrics",
              expected: [.none: .unauthorized, .wrong: .unauthorized, .ingest: .forbidden, .read: .forbidden, .admin: .ok, .metrics: .ok]),
        Route(method: .get, path: "/healthz",
              expected: [.none: .ok, .wrong: .ok, .ingest: .ok, .read: .ok, .admin: .ok, .metrics: .ok]),
        Route(method: .get, path: "/readyz",
              expected: [.none: .ok, .wrong: .ok, .ingest: .ok, .read: .ok, .admin: .ok, .metrics: .ok]),
    ]

    @Test func everyRoleOnEveryRoute() async throws {
        let config = testConfig(tokens: Self.tokens, metricsToken: Self.metricsToken)
        try await withLiveServer(config) { _, client in
            for route in Self.routes {
                for caller in Caller.allCases {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let token = Self.token(caller) { headers[.authorization] = "Bearer \(token)" }
                    let response = try await client.execute(uri: route.path, method: route.method, headers: headers,
                                                            body: route.body.map { ByteBuffer(string: $0) })
                    #expect(response.status == route.expected[caller], "\(route.method) \(route.path) as \(caller.rawValue): \(response.status) \(response.text)")
                    if response.status == .unauthorized {
                        #expect(response.headers[.wwwAuthenticate] == "Bearer")
                        #expect(try response.json()["error"] as? String != nil)
                    }
                }
            }
        }
    }

    @Test func malformedAuthorizationHeadersAre401() async throws {
        let config = testConfig(tokens: Self.tokens)
        try await withLiveServer(config) { _, client in
            for header in ["admin-token-1", "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer  ", "Bearer admin-token-1x", "Bearer admin-token-"] {
                let response = try await client.execute(uri: "/v1/prices", method: .get, headers: [.authorization: header])
                #expect(response.status == .unauthorized, "\(header)")
            }
        }
    }

    @Test func metricsAreOpenWithoutAMetricsToken() async throws {
        try await withLiveServer(testConfig(tokens: Self.tokens)) { _, client in
            let status = try await client.get("/metrics").status
            #expect(status == .ok)
        }
    }

    @Test func refusesANonLoopbackAddressWithoutTokens() async throws {
        var config = testConfig()
        config.host = "0.0.0.0"
        #expect(config.problems().first?.contains("refusing to listen on 0.0.0.0") == true)
        let components = try await AppComponents.open(config: config, store: openTestStore(config))
        #expect(throws: ConfigError.self) { _ = try buildApplication(components, logger: .init(label: "test")) }
        config.tokens = [APIToken(role: .admin, token: "admin-token-1")]
        #expect(config.problems().isEmpty)
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
        #expect(!constantTimeEquals("abc", "abcd"))
        #expect(!constantTimeEquals("", "a"))
        #expect(constantTimeEquals("", ""))
    }

    @Test func tokensParseFromTheEnvironmentForm() throws {
        let tokens = try ServerConfig.parseTokens("ingest:abc12345, read:def12345,admin:ghi:with:colons")
        #expect(tokens.map(\.role) == [.ingest, .read, .admin])
        #expect(tokens.last?.token == "ghi:with:colons")
        #expect(throws: ConfigError("TOKENMETER_TOKENS: item 2 is not role:token with role ingest, read or admin")) {
            try ServerConfig.parseTokens("read:abc12345,bare-secret-value")
        }
    }

    @Test func configDescriptionsRedactTokens() {
        var config = testConfig(tokens: [(.admin, "very-secret-admin")], metricsToken: "very-secret-metrics")
        config.budgets = []
        for text in [String(describing: config), String(reflecting: config), "\(config)"] {
            #expect(!text.contains("very-secret"))
        }
    }

    @Test func onlyLoopbackAddressesCountAsLoopback() {
        var config = ServerConfig()
        for (host, loopback) in [("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true),
                                 ("127.example.com", false), ("0.0.0.0", false), ("10.0.0.1", false), ("127.0.0.256", false)] {
            config.host = host
            #expect(config.isLoopback == loopback, "\(host)")
        }
    }
}
