import Foundation
import Hummingbird
import TokenMeterCore

/// `credits_per_operation` at run time: `GET /v1/credits` (read), `PUT`/`DELETE /v1/credits/{operation}`
/// (admin). A change is persisted in the store before it takes effect, so a restart keeps it; it
/// applies to records priced after it.
struct CreditsController<Context: RequestContext> {
    let credits: OperationCredits
    let repository: any OperationCreditsRepository
    let bodyTimeout: Duration
    let auth: TokenAuthenticator

    /// Reading the map needs the read role; changing it, admin.
    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: auth.require(.role(.read), context: Context.self))
        routes.get(use: list)
        routes.add(middleware: auth.require(.role(.admin), context: Context.self))
        routes.put(":operation", use: put)
        routes.delete(":operation", use: delete)
        return routes
    }

    struct CreditsResponse: Encodable {
        /// What records are charged: the run-time changes over the configuration file's map.
        var credits_per_operation: [String: Double]
        /// The run-time changes alone.
        var changed: [String: Double]
    }

    struct SetBody: Decodable { var credits: Double }

    /// The map in effect.
    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        JSONResponse.make(CreditsResponse(credits_per_operation: credits.effective, changed: credits.changed))
    }

    /// Sets the credits of one record of `{operation}` (body `{"credits": 0.001}`).
    @Sendable func put(_ request: Request, context: Context) async throws -> Response {
        let operation = try Self.operation(context)
        let body = try await UsageController<Context>.collect(request, limit: 64 * 1024, timeout: bodyTimeout)
        guard let value = try? JSONDecoder().decode(SetBody.self, from: Data(body)) else {
            throw APIError(.badRequest, "body: must be a JSON object {\"credits\": number}")
        }
        if let problem = OperationCredits.problem(operation: operation, credits: value.credits) {
            throw APIError(.badRequest, problem)
        }
        try await credits.apply(operation, creditsMicro: Money.micro(from: value.credits), repository: repository)
        return JSONResponse.make(CreditsResponse(credits_per_operation: credits.effective, changed: credits.changed))
    }

    /// Removes the run-time value of `{operation}` (the configuration file's value, if any, applies again).
    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let operation = try Self.operation(context)
        guard credits.changed[operation] != nil else {
            throw APIError(.notFound, "operation '\(operation.prefix(64))' has no run-time credits_per_operation value")
        }
        try await credits.apply(operation, creditsMicro: nil, repository: repository)
        return JSONResponse.make(CreditsResponse(credits_per_operation: credits.effective, changed: credits.changed))
    }

    static func operation(_ context: Context) throws -> String {
        let raw = try context.parameters.require("operation")
        return raw.removingPercentEncoding ?? raw
    }
}
