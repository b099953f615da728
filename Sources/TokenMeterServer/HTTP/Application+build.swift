import TokenMeterCore
import Foundation
import Hummingbird
import Logging
import HummingbirdCore
import NIOCore

/// The long-lived parts of a running tokenmeter, built once from the configuration.
public struct AppComponents: Sendable {
    public let config: ServerConfig
    public let store: any UsageStore
    public let pricing: PricingService
    public let metrics: UsageMetrics
    public let queue: WriteQueue
    public let pipeline: IngestPipeline
    public let health: StoreHealth
    /// The one wall clock of the server (records' received time, reports' "now", readiness, retention).
    public let now: WallClock

    /// Loads the catalog with the store's persisted changes, and resumes the counters from the
    /// store's lifetime totals so `increase()` across a restart is exact. The store is opened by the
    /// caller (the CLI picks the backend; tests inject faults this way).
    public static func open(config: ServerConfig, store: any UsageStore, now: @escaping WallClock = Date.init) async throws -> AppComponents {
        // Run-time credits_per_operation changes (admin API) over the configuration file's map.
        let credits = OperationCredits(configured: config.creditsPerOperation, changedMicro: try await store.loadOperationCredits())
        let pricing = try await PricingService.load(catalogFile: config.catalogFile, repository: store, credits: credits)
        let metrics = UsageMetrics(limits: config.metricsLimits)
        for totals in try await store.lifetimeTotals() { metrics.add(totals) }
        // On a store other instances write too, the pending gauge is the store's, read with the store gauges.
        if store.writtenByOtherProcesses { metrics.followStorePending() }
        metrics.setPending(try await store.pendingCounts())
        let queue = WriteQueue(capacity: config.queueCapacity, metrics: metrics)
        metrics.setQueueCapacity(config.queueCapacity)
        let normalizer = RecordNormalizer(maxAge: Double(config.retention.rawDays) * 86400, now: now)
        let pipeline = IngestPipeline(normalizer: normalizer, pricing: pricing, queue: queue, metrics: metrics)
        var thresholds = StoreHealth.Thresholds()
        thresholds.minFreeBytes = config.minFreeDiskBytes
        let health = StoreHealth(thresholds: thresholds, openedAt: now())
        return AppComponents(config: config, store: store, pricing: pricing, metrics: metrics, queue: queue, pipeline: pipeline,
                             health: health, now: now)
    }
}

public func buildRouter(_ components: AppComponents) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: JSONErrorMiddleware())
    let auth = TokenAuthenticator(tokens: components.config.tokens, metricsToken: components.config.metricsToken)
    OperationsController(metrics: components.metrics, store: components.store, health: components.health, queue: components.queue,
                         auth: auth, now: components.now).addRoutes(to: router)
    router.addRoutes(UsageController(pipeline: components.pipeline,
                                     bodyLimit: components.config.bodyLimitBytes,
                                     bodyTimeout: components.config.bodyTimeout, auth: auth).endpoints, atPath: "/v1/usage")
    TracesController(pipeline: components.pipeline, bodyLimit: components.config.bodyLimitBytes,
                     bodyTimeout: components.config.bodyTimeout, auth: auth).addRoutes(to: router)
    for routes in PricesController<BasicRequestContext>(pricing: components.pricing, bodyTimeout: components.config.bodyTimeout, auth: auth, now: components.now).endpoints {
        router.addRoutes(routes, atPath: "/v1/prices")
    }
    router.addRoutes(CreditsController(credits: components.pricing.credits, repository: components.store,
                                       bodyTimeout: components.config.bodyTimeout, auth: auth).endpoints, atPath: "/v1/credits")
    ReportsController(source: components.store, config: components.config, pricing: components.pricing,
                      gate: ReportGate(limit: components.config.maxConcurrentReports), auth: auth, now: components.now).addRoutes(to: router)
    return router
}

/// The whole service: HTTP server plus the batch writer, pruner and gauge refresher, under one
/// service group (graceful shutdown on SIGTERM/SIGINT: the server stops first, then the writer
/// commits what is queued).
public func buildApplication(_ components: AppComponents, logger: Logger) throws -> some ApplicationProtocol {
    let config = components.config
    let problems = config.problems()
    guard problems.isEmpty else { throw ConfigError(problems.joined(separator: "; ")) }
    let writer = BatchWriter(queue: components.queue, store: components.store, metrics: components.metrics, health: components.health,
                             maxBatchRecords: config.batchMaxRecords, maxDelay: config.batchMaxDelay, now: components.now, logger: logger)
    let monitor = StoreHealthMonitor(store: components.store, health: components.health, queue: components.queue,
                                     metrics: components.metrics, now: components.now, logger: logger)
    let pruner = RetentionPruner(store: components.store, retention: config.retention, interval: config.pruneInterval,
                                 metrics: components.metrics, now: components.now, logger: logger)
    let refresher = StoreGaugeRefresher(serving: components.store, metrics: components.metrics, config: config, now: components.now, logger: logger)
    var http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(Int64(config.idleTimeout.components.seconds)))
    http1.httpDecoder = .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 64 * 1024, maxHeaderFieldCount: 100)
    return Application(
        router: buildRouter(components),
        server: .http1(configuration: http1),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "tokenmeter",
                             availableConnectionsDelegate: ConnectionLimit(maxConnections: config.maxConnections, logger: logger)),
        services: [writer, pruner, refresher, monitor],
        logger: logger
    )
}
