import Foundation
import PostgresNIO
import TokenMeterCore

/// Mapping between `PricedRecord` and a row of the PostgreSQL `usage_records` (the SQLite store's
/// columns, plus the instance that accepted the record).
enum PostgresRecordRow {
    static let columns = StoreRowCoding.recordColumns + ["instance"]

    /// The element type of each of `columns`, in order (as in the table; see `PostgresSchema`).
    static let types: [String] = [
        "text", "boolean", "bigint", "bigint", "text", "text", "boolean", "text", "text", "text", "text",
        "text", "text", "text", "bigint", "bigint", "bigint", "bigint",
        "bigint", "double precision", "double precision", "double precision", "double precision", "double precision",
        "bigint", "text", "bigint", "text", "boolean", "bigint",
        "bigint", "bigint", "text", "text", "text", "bigint",
        "bigint", "bigint", "text", "text", "text",
        "text", "text", "text", "text",
    ]

    /// The records as one array per column, in `columns` order (for `PostgresSQL.insertUnnest`).
    static func columnArrays(_ records: [PricedRecord], userOrdinals: [Int64?], receivedAtMs: Int64, instance: String) -> [PostgresColumnArray] {
        precondition(records.count == userOrdinals.count, "one user ordinal (or nil) per record")
        func text(_ value: (PricedRecord) -> String?) -> PostgresColumnArray { .text(records.map(value)) }
        func int(_ value: (PricedRecord) -> Int64?) -> PostgresColumnArray { .bigint(records.map(value)) }
        func bool(_ value: (PricedRecord) -> Bool?) -> PostgresColumnArray { .boolean(records.map(value)) }
        func real(_ value: (PricedRecord) -> Double?) -> PostgresColumnArray { .double(records.map(value)) }
        return [
            text { $0.record.id }, bool { $0.record.idWasGiven }, int { $0.record.timestamp.unixMilliseconds },
            .bigint(Array(repeating: receivedAtMs, count: records.count)),
            text { $0.record.userID }, text { $0.record.plan }, bool { $0.record.paying },
            text { $0.record.service }, text { $0.record.operation }, text { $0.category.rawValue }, text { $0.provider },
            text { $0.model }, text { $0.record.model }, text { $0.record.status.rawValue },
            int { $0.record.tokens.input }, int { $0.record.tokens.cachedInput }, int { $0.record.tokens.cacheWrite },
            int { $0.record.tokens.output }, int { $0.record.tokens.reasoning },
            real { $0.record.units.requests }, real { $0.record.units.images }, real { $0.record.units.seconds },
            real { $0.record.units.minutes }, real { $0.record.units.characters },
            int { $0.costNanoUSD }, text { $0.costSource.rawValue }, int { $0.record.callerCostNanoUSD }, text { $0.priceVersion },
            bool { $0.unpriced }, int { $0.creditsMicro },
            int { $0.record.creditsMicro }, int { $0.record.durationMicros },
            text { $0.record.errorType }, text { $0.record.errorMessage }, text { $0.record.metadataJSON }, .bigint(userOrdinals),
            int { $0.record.tokens.cacheWrite1h }, int { $0.record.routerCostNanoUSD }, text { StoreRowCoding.unrecognizedJSON($0.record.unrecognizedUsage) },
            text { $0.priceMatch }, text { $0.unpricedReason },
            text { $0.record.resourceType }, text { $0.record.resourceID }, text { ResourceFields.json($0.record.tags) },
            .text(Array(repeating: instance, count: records.count)),
        ]
    }

    /// What a completion reads back.
    static let readColumns = [
        "id", "id_given", "ts", "user_id", "plan", "paying", "service", "operation", "category", "provider", "model",
        "model_raw", "status", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
        "units_requests", "units_images", "units_seconds", "units_minutes", "units_characters", "caller_cost_nano",
        "caller_credits_micro", "duration_us", "error_type", "error_message", "metadata", "unrecognized_usage",
        "router_cost_nano", "cache_write_1h_tokens", "user_ordinal", "resource_type", "resource_id", "tags",
    ]

    /// The record as the client sent it (model as sent; category and provider as resolved at ingest),
    /// the model its pending row was counted under, and its user ordinal.
    static func record(from row: PostgresRow) throws -> (UsageRecord, pendingModel: String, userOrdinal: Int64?) {
        let c = row.makeRandomAccess()
        func text(_ name: String) throws -> String { try c[name].decode(String.self) }
        func optionalText(_ name: String) throws -> String? { try c[name].decode(String?.self) }
        func int(_ name: String) throws -> Int64 { try c[name].decode(Int64.self) }
        func optionalInt(_ name: String) throws -> Int64? { try c[name].decode(Int64?.self) }
        func real(_ name: String) throws -> Double? { try c[name].decode(Double?.self) }
        let durationMicros = try optionalInt("duration_us")
        let record = UsageRecord(
            id: try text("id"), idWasGiven: try c["id_given"].decode(Bool.self), timestamp: Date(unixMilliseconds: try int("ts")),
            userID: try optionalText("user_id"), plan: try optionalText("plan"), paying: try c["paying"].decode(Bool?.self),
            service: try text("service"), operation: try text("operation"), category: UsageCategory(rawValue: try text("category")),
            provider: try text("provider"), model: try text("model_raw"), status: RecordStatus(rawValue: try text("status")) ?? .pending,
            tokens: TokenCounts(input: try int("input_tokens"), cachedInput: try int("cached_input_tokens"),
                                cacheWrite: try int("cache_write_tokens"), output: try int("output_tokens"),
                                reasoning: try int("reasoning_tokens"), cacheWrite1h: try int("cache_write_1h_tokens")),
            units: UsageUnits(requests: try real("units_requests"), images: try real("units_images"), seconds: try real("units_seconds"),
                              minutes: try real("units_minutes"), characters: try real("units_characters")),
            callerCostNanoUSD: try optionalInt("caller_cost_nano"), creditsMicro: try optionalInt("caller_credits_micro"),
            durationMs: durationMicros.map { Double($0) / 1000 }, errorType: try optionalText("error_type"),
            errorMessage: try optionalText("error_message"), metadataJSON: try optionalText("metadata"),
            unrecognizedUsage: StoreRowCoding.unrecognized(fromJSON: try optionalText("unrecognized_usage")),
            routerCostNanoUSD: try optionalInt("router_cost_nano"),
            resourceType: try optionalText("resource_type"), resourceID: try optionalText("resource_id"),
            tags: ResourceFields.tags(fromJSON: try optionalText("tags")))
        return (record, try text("model"), try optionalInt("user_ordinal"))
    }

    /// The update of a completed record, in its time partition (`partitionTimestamp`: its stored `ts`).
    static func completion(_ p: PricedRecord, completedAt: Date, partitionTimestamp: Int64) -> PostgresQuery {
        let r = p.record
        var b = PostgresBindings()
        b.append(r.status.rawValue); b.append(completedAt.unixMilliseconds); b.append(p.category.rawValue); b.append(p.provider); b.append(p.model)
        b.append(r.tokens.input); b.append(r.tokens.cachedInput); b.append(r.tokens.cacheWrite); b.append(r.tokens.output); b.append(r.tokens.reasoning)
        b.append(r.units.requests); b.append(r.units.images); b.append(r.units.seconds); b.append(r.units.minutes); b.append(r.units.characters)
        b.append(p.costNanoUSD); b.append(p.costSource.rawValue); b.append(r.callerCostNanoUSD); b.append(p.priceVersion); b.append(p.unpriced)
        b.append(p.creditsMicro); b.append(r.creditsMicro); b.append(r.durationMicros); b.append(r.errorType); b.append(r.errorMessage)
        b.append(r.tokens.cacheWrite1h); b.append(r.routerCostNanoUSD); b.append(StoreRowCoding.unrecognizedJSON(r.unrecognizedUsage))
        b.append(p.priceMatch); b.append(p.unpricedReason); b.append(r.id)
        b.append(partitionTimestamp)
        return PostgresQuery(unsafeSQL: """
            UPDATE usage_records SET status = $1, completed_at = $2, category = $3, provider = $4, model = $5,
                input_tokens = $6, cached_input_tokens = $7, cache_write_tokens = $8, output_tokens = $9, reasoning_tokens = $10,
                units_requests = $11, units_images = $12, units_seconds = $13, units_minutes = $14, units_characters = $15,
                cost_nano = $16, cost_source = $17, caller_cost_nano = $18, price_version = $19, unpriced = $20, credits_micro = $21,
                caller_credits_micro = $22, duration_us = $23, error_type = $24, error_message = $25,
                cache_write_1h_tokens = $26, router_cost_nano = $27, unrecognized_usage = $28, price_match = $29, unpriced_reason = $30
            WHERE id = $31 AND ts = $32 AND status = 'pending'
            """, binds: b)
    }
}
