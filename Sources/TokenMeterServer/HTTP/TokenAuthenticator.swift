import Hummingbird
import TokenMeterCore

/// Who may call a route (CONTRACT section 3). Each controller declares it with its routes; a route
/// declared with none (`/healthz`, `/readyz`, `/openapi.json`) is open.
enum RouteAccess: Equatable, Sendable {
    /// `/metrics`: the metrics token when one is set (an admin token also works).
    case metrics
    case role(Role)
}

/// Bearer-token auth. With no tokens configured (loopback only) every route is open; `/metrics`
/// needs the metrics token when one is set.
struct TokenAuthenticator: Sendable {
    let tokens: [APIToken]
    let metricsToken: String?

    init(tokens: [APIToken], metricsToken: String?) {
        self.tokens = tokens
        self.metricsToken = metricsToken
    }

    /// The middleware that lets a request through to the routes added after it only with `access`.
    func require<Context: RequestContext>(_ access: RouteAccess, context: Context.Type = Context.self) -> RequireAccess<Context> {
        RequireAccess(access: access, authenticator: self)
    }

    func check(_ access: RouteAccess, _ request: Request) throws {
        switch access {
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
            guard !tokens.isEmpty else { return }
            guard let presented = bearer(request) else {
                throw unauthorized("missing Authorization: Bearer <token>")
            }
            guard let role = role(of: presented) else { throw unauthorized("unknown token") }
            guard role.allows(required) else {
                throw APIError(.forbidden, "this token has the \(role.rawValue) role; the route needs \(required.rawValue)")
            }
        }
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
        for entry in tokens where constantTimeEquals(presented, entry.token) {
            if found == nil || entry.role == .admin { found = entry.role }
        }
        return found
    }
}

/// Checks a route's access before its handler runs.
struct RequireAccess<Context: RequestContext>: RouterMiddleware {
    let access: RouteAccess
    let authenticator: TokenAuthenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try authenticator.check(access, request)
        return try await next(request, context)
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
