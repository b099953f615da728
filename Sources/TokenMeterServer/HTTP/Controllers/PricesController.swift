import TokenMeterCore
import Foundation
import Hummingbird

/// The price catalog: `GET /v1/prices[/{model}]`, `PUT`/`DELETE /v1/prices/{model}`, `POST /v1/prices/import`.
struct PricesController<Context: RequestContext> {
    let pricing: PricingService
    /// `body_timeout_seconds`, as for every route with a body.
    let bodyTimeout: Duration
    let auth: TokenAuthenticator
    let now: WallClock

    /// Reading the catalog needs the read role; changing it, admin.
    var endpoints: [RouteCollection<Context>] {
        let reads = RouteCollection(context: Context.self)
        reads.add(middleware: auth.require(.role(.read), context: Context.self))
        reads.get(use: list)
        reads.get("resolve", use: resolve)
        // `**`: model names may contain slashes (`openai/gpt-4o`, LiteLLM's `gemini/gemini-1.5-pro`).
        reads.get("**", use: show)
        let changes = RouteCollection(context: Context.self)
        changes.add(middleware: auth.require(.role(.admin), context: Context.self))
        changes.post("import", use: importFile)
        changes.post("update", use: update)
        changes.put("**", use: put)
        changes.delete("**", use: delete)
        return [reads, changes]
    }

    struct CatalogResponse: Encodable {
        var count: Int
        var models: [PriceEntry]
    }

    /// Every entry (all versions), sorted by model.
    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let entries = pricing.catalog.entries
        return JSONResponse.make(CatalogResponse(count: entries.count, models: entries))
    }

    struct ShowResponse: Encodable {
        var requested: String
        var model: String
        var versions: [PriceEntry]
    }

    /// The versions of the model a name resolves to (by the matching order of CONTRACT section 2).
    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let name = try Self.model(context)
        let catalog = pricing.catalog
        guard let model = catalog.canonicalModel(for: name) else {
            throw APIError(.notFound, "no price matches '\(name)'; records for it are stored unpriced")
        }
        return JSONResponse.make(ShowResponse(requested: name, model: model, versions: catalog.versions[model] ?? []))
    }

    /// Adds or replaces the version of `{model}` with the body's `valid_from` (none: the undated version).
    @Sendable func put(_ request: Request, context: Context) async throws -> Response {
        let model = try Self.model(context)
        let body = try await UsageController<Context>.collect(request, limit: 1024 * 1024, timeout: bodyTimeout)
        guard case .success(.object(var object)) = JSONValue.parse(body[...]) else {
            throw APIError(.badRequest, "body: must be a JSON object with the price fields (input, output, …)")
        }
        if let given = object["model"], given != .string(model), given != .string(model.lowercased()) {
            throw APIError(.badRequest, "model: the body names a different model than the path")
        }
        object["model"] = .string(model)
        var entry: PriceEntry
        do {
            entry = try JSONDecoder().decode(PriceEntry.self, from: Data(JSONValue.object(object).serialized().utf8))
        } catch let error as DecodingError {
            throw APIError(.badRequest, error.readableDescription)
        }
        // A new price for an existing model keeps the names it answers to unless the body gives them.
        if let current = pricing.catalog.versions[entry.model]?.last {
            if object["aliases"] == nil { entry.aliases = current.aliases }
            if object["match"] == nil { entry.match = current.match }
            if object["snapshots_share_price"] == nil { entry.snapshotsSharePrice = current.snapshotsSharePrice }
        }
        try await apply([.put(entry)])
        return JSONResponse.make(entry)
    }

    /// Deletes every version of `{model}`, or the one given by `?valid_from=`.
    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let model = try Self.model(context).lowercased()
        var validFrom: Date?
        if let text = request.uri.queryParameters.get("valid_from") {
            guard let date = RFC3339.parse(text) else { throw APIError(.badRequest, "valid_from: '\(text)' is not an RFC 3339 timestamp") }
            validFrom = date
        }
        guard let versions = pricing.catalog.versions[model],
              validFrom == nil || versions.contains(where: { $0.validFrom == validFrom }) else {
            throw APIError(.notFound, "no catalog entry '\(model)'\(validFrom == nil ? "" : " with that valid_from")")
        }
        try await apply([.delete(model: model, validFrom: validFrom)])
        return JSONResponse.make(["deleted": model])
    }

    struct ImportResponse: Encodable {
        var imported: Int
        var skipped: [String]
        var conflicts: [String]
    }

    /// `GET /v1/prices/resolve?model=…[&at=RFC3339]`: how a name resolves and why, or why it does not.
    @Sendable func resolve(_ request: Request, context: Context) async throws -> Response {
        guard let name = request.uri.queryParameters.get("model"), !name.isEmpty else {
            throw APIError(.badRequest, "model: required (/v1/prices/resolve?model=NAME)")
        }
        var date = now()
        if let text = request.uri.queryParameters.get("at") {
            guard let parsed = RFC3339.parse(text) else { throw APIError(.badRequest, "at: '\(text)' is not an RFC 3339 timestamp") }
            date = parsed
        }
        return JSONResponse.make(PriceResolveAnswer(pricing.resolve(name, at: date), at: date))
    }

    /// `POST /v1/prices/update[?dry_run=true]`: a tokenmeter catalog file (as `scripts/gen-catalog.py`
    /// writes it) replaces the shipped layer; imports and the operator's changes stay over it.
    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let body = try await UsageController<Context>.collect(request, limit: 64 * 1024 * 1024, timeout: bodyTimeout)
        let dryRun = ["true", "1"].contains(request.uri.queryParameters.get("dry_run") ?? "false")
        let file = try DefaultCatalog.decodeFile(Data(body), source: "body")
        let diff = try pricing.planUpdate(file)
        if !dryRun { try await apply([.replaceShipped(catalogVersion: file.catalog_version, entries: file.models)]) }
        return JSONResponse.make(PriceUpdateAnswer(dry_run: dryRun, diff: diff))
    }

    /// Imports LiteLLM's `model_prices_and_context_window.json` (default) or a tokenmeter catalog
    /// (`?format=catalog`). `?valid_from=` dates every imported entry.
    @Sendable func importFile(_ request: Request, context: Context) async throws -> Response {
        let body = try await UsageController<Context>.collect(request, limit: 64 * 1024 * 1024, timeout: bodyTimeout)
        var validFrom: Date?
        if let text = request.uri.queryParameters.get("valid_from") {
            guard let date = RFC3339.parse(text) else { throw APIError(.badRequest, "valid_from: '\(text)' is not an RFC 3339 timestamp") }
            validFrom = date
        }
        let format = request.uri.queryParameters.get("format") ?? "litellm"
        let result = try PriceImport.entries(from: Data(body), format: format, validFrom: validFrom, source: "import over HTTP")
        guard !result.entries.isEmpty else { throw APIError(.badRequest, "the file holds no priced models") }
        let plan = pricing.planImport(result)
        try await apply(plan.changes)
        return JSONResponse.make(ImportResponse(imported: plan.imported, skipped: plan.skipped, conflicts: plan.conflicts))
    }

    static func model(_ context: Context) throws -> String {
        let name = context.parameters.getCatchAll().joined(separator: "/")
        guard !name.isEmpty else { throw APIError(.badRequest, "model: missing from the path (/v1/prices/{model})") }
        return name.removingPercentEncoding ?? name
    }

    private func apply(_ changes: [PriceChange]) async throws {
        do {
            try await pricing.apply(changes)
        } catch {
            throw APIError.store(StoreFault.of(error), "the price change")
        }
    }
}
