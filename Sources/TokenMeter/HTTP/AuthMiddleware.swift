import Hummingbird

/// Bearer-token auth (CONTRACT section 3). With no tokens configured (loopback only) every route is
/// open (so are `/healthz`, `/readyz` and `/openapi.json`); `/metrics` needs the metrics token when one is set (an admin token also works).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    enum Access: Equatable {
        case open
        case metrics
        case role(Role)
    }

    let tokens: [(role: Role, token: String)]
    let metricsToken: String?

    init(tokens: [(role: Role, token: String)], metricsToken: String?) {
        self.tokens = tokens
        self.metricsToken = metricsToken
    }

    static func access(method: HTTPRequest.Method, path: String) -> Access {
        if path == "/healthz" || path == "/readyz" || path == "/openapi.json" { return .open }
        if path == "/metrics" { return .metrics }
        if path == "/v1/usage" || path.hasPrefix("/v1/usage/") { return .role(.ingest) }
        // OTLP/HTTP signals: exporters carry the ingest token (OTEL_EXPORTER_OTLP_HEADERS).
        if path == "/v1/traces" || path == "/v1/metrics" || path == "/v1/logs" { return .role(.ingest) }
        if path == "/v1/prices" || path.hasPrefix("/v1/prices/") || path == "/v1/credits" || path.hasPrefix("/v1/credits/") {
            return method == .get ? .role(.read) : .role(.admin)
        }
        if path.hasPrefix("/v1/reports") || path.hasPrefix("/v1/users/") || path.hasPrefix("/v1/resources/") { return .role(.read) }
        return .role(.read)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch Self.access(method: request.method, path: request.uri.path) {
        case .open:
            break
        case .metrics:
            if let metricsToken {
                let presented = bearer(request)
                guard let presented else { throw unauthorized("/metrics needs the metrics token") }
                let role = role(of: presented)
                guard constantTimeEquals(presented, metricsToken) || role == .admin else {
                    if role != nil { throw APIError(.forbidden, "/metrics needs the metrics token or an admin token") }
                    throw unauthorized("the token is not valid for /metrics")
                }
            }
        case .role(let required):
            guard !tokens.isEmpty else { break }
            guard let presented = bearer(request) else {
                throw unauthorized("missing Authorization: Bearer <token>")
            }
            guard let role = role(of: presented) else { throw unauthorized("unknown token") }
            guard role.allows(required) else {
                throw APIError(.forbidden, "this token has the \(role.rawValue) role; the route needs \(required.rawValue)")
            }
        }
        return try await next(request, context)
    }

    private func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, message, headers: [.wwwAuthenticate: "Bearer"])
    }

    private func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    /// Checks every configured token, with no early exit, so timing does not reveal which matched.
    private func role(of presented: String) -> Role? {
        var found: Role?
        for (role, token) in tokens where constantTimeEquals(presented, token) {
            if found == nil || role == .admin { found = role }
        }
        return found
    }
}

/// Compares in time that depends only on the lengths, not on where the strings differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        let p = i < x.count ? x[i] : 0
        let q = i < y.count ? y[i] : 0
        difference |= p ^ q
    }
    return difference == 0
}
