import Foundation
import GRDB
import TokenMeterCore
import GRDBSQLite

/// Mapping between `PricedRecord` and a row of `usage_records`.
enum RecordRow {
    /// Also what the benchmark's raw-SQLite reference inserts (`SQLiteStore.usageRecordColumns`).
    static let columns = StoreRowCoding.recordColumns + ["id_hash"]

    /// The idempotency check: a stored record with this id. `id_hash` is `RecordIDKey` of the id (an
    /// integer index, not unique) and the id text is compared among the rows with that key, so two
    /// different ids with the same key are both stored. Parameters: the key, the id.
    static let storedSQL = "SELECT 1 FROM usage_records WHERE id_hash = ?1 AND id = ?2"

    /// The insert of a record the check did not find. Parameters are numbered as `columns`.
    static let insertSQL = """
        INSERT INTO usage_records (\(columns.joined(separator: ", ")))
        VALUES (\((1...columns.count).map { "?\($0)" }.joined(separator: ", ")))
        """

    /// Inserts the record unless a stored record has its id: the check, then the insert, in the
    /// caller's write transaction (nothing can come in between: SQLite has one writer). Returns
    /// whether it inserted; a failed step throws as GRDB reports a failed statement, so the store
    /// sorts it into a fault like any other. The store and the benchmark's raw-SQLite reference both
    /// write through this.
    ///
    /// Two statements, not one `INSERT … SELECT … WHERE NOT EXISTS (…)`: an INSERT whose SELECT reads
    /// the table it inserts into makes SQLite copy each row through an ephemeral table first (a new
    /// temporary b-tree, its page zeroed, per record; BENCHMARKS.md, issue 20).
    static func insertUnlessStored(_ p: PricedRecord, userOrdinal: Int64?, receivedAtMs: Int64, idKey: Int64,
                                   check: OpaquePointer, insert: OpaquePointer, texts: TextArena) throws(DatabaseError) -> Bool {
        var c = StatementBinder(resetting: check)
        c.int(idKey); c.text(p.record.id)
        c.assertComplete()
        switch sqlite3_step(check) {
        case SQLITE_ROW:
            sqlite3_reset(check)
            return false
        case SQLITE_DONE:
            break
        case let code:
            throw DatabaseError.stepFailure(code, check, storedSQL)
        }
        bind(p, userOrdinal: userOrdinal, receivedAtMs: receivedAtMs, idKey: idKey, to: insert, texts: texts)
        let code = sqlite3_step(insert)
        guard code == SQLITE_DONE else { throw DatabaseError.stepFailure(code, insert, insertSQL) }
        return true
    }


    /// Binds a record's values, in `columns` order, straight to a prepared `insertSQL` statement
    /// through the sqlite3 C API. Building GRDB `StatementArguments` from 36 existentials per record
    /// was a tenth of the batched ingest profile; this is also what the benchmark's raw-SQLite
    /// reference binds, so both sides write the same rows. Text goes through `texts` (`TextArena`):
    /// call this only after the statement's previous row was stepped.
    static func bind(_ p: PricedRecord, userOrdinal: Int64?, receivedAtMs: Int64, idKey: Int64, to statement: OpaquePointer,
                     texts: TextArena) {
        let r = p.record
        var b = StatementBinder(resetting: statement)
        texts.startRow()
        b.text(r.id, in: texts); b.bool(r.idWasGiven); b.int(r.timestamp.unixMilliseconds); b.int(receivedAtMs)
        b.text(r.userID, in: texts); b.text(r.plan, in: texts); b.bool(r.paying)
        b.text(r.service, in: texts); b.text(r.operation, in: texts); b.text(p.category.rawValue, in: texts); b.text(p.provider, in: texts); b.text(p.model, in: texts); b.text(r.model, in: texts)
        b.text(r.status.rawValue, in: texts)
        b.int(r.tokens.input); b.int(r.tokens.cachedInput); b.int(r.tokens.cacheWrite); b.int(r.tokens.output); b.int(r.tokens.reasoning)
        b.real(r.units.requests); b.real(r.units.images); b.real(r.units.seconds); b.real(r.units.minutes); b.real(r.units.characters)
        b.int(p.costNanoUSD); b.text(p.costSource.rawValue, in: texts); b.int(r.callerCostNanoUSD); b.text(p.priceVersion, in: texts); b.bool(p.unpriced)
        b.int(p.creditsMicro); b.int(r.creditsMicro); b.int(r.durationMicros)
        b.text(r.errorType, in: texts); b.text(r.errorMessage, in: texts); b.text(r.metadataJSON, in: texts); b.int(userOrdinal)
        b.int(r.tokens.cacheWrite1h); b.int(r.routerCostNanoUSD); b.text(StoreRowCoding.unrecognizedJSON(r.unrecognizedUsage), in: texts)
        b.text(p.priceMatch, in: texts); b.text(p.unpricedReason, in: texts)
        b.text(r.resourceType, in: texts); b.text(r.resourceID, in: texts); b.text(ResourceFields.json(r.tags), in: texts); b.int(idKey)
        b.requireComplete()
    }

    static let completeSQL = """
        UPDATE usage_records SET status = ?, completed_at = ?, category = ?, provider = ?, model = ?,
            input_tokens = ?, cached_input_tokens = ?, cache_write_tokens = ?, output_tokens = ?, reasoning_tokens = ?,
            units_requests = ?, units_images = ?, units_seconds = ?, units_minutes = ?, units_characters = ?,
            cost_nano = ?, cost_source = ?, caller_cost_nano = ?, price_version = ?, unpriced = ?, credits_micro = ?,
            caller_credits_micro = ?, duration_us = ?, error_type = ?, error_message = ?,
            cache_write_1h_tokens = ?, router_cost_nano = ?, unrecognized_usage = ?, price_match = ?, unpriced_reason = ?
        WHERE seq = ? AND status = 'pending'
        """

    /// `seq`: the row the completion was read from (found by `id_hash` and `id`).
    static func completionArguments(_ p: PricedRecord, completedAt: Date, seq: Int64) -> StatementArguments {
        let r = p.record
        let values: [(any DatabaseValueConvertible)?] = [
            r.status.rawValue, completedAt.unixMilliseconds, p.category.rawValue, p.provider, p.model,
            r.tokens.input, r.tokens.cachedInput, r.tokens.cacheWrite, r.tokens.output, r.tokens.reasoning,
            r.units.requests, r.units.images, r.units.seconds, r.units.minutes, r.units.characters,
            p.costNanoUSD, p.costSource.rawValue, r.callerCostNanoUSD, p.priceVersion, p.unpriced, p.creditsMicro,
            r.creditsMicro, r.durationMicros, r.errorType, r.errorMessage, r.tokens.cacheWrite1h, r.routerCostNanoUSD,
            StoreRowCoding.unrecognizedJSON(r.unrecognizedUsage), p.priceMatch, p.unpricedReason, seq,
        ]
        return StatementArguments(values)
    }

    /// The record as the client sent it (model as sent; category and provider as resolved at ingest).
    static func record(from row: Row) -> UsageRecord {
        let durationMicros: Int64? = row["duration_us"]
        return UsageRecord(
            id: row["id"], idWasGiven: row["id_given"], timestamp: Date(unixMilliseconds: row["ts"]),
            userID: row["user_id"], plan: row["plan"], paying: row["paying"], service: row["service"],
            operation: row["operation"], category: UsageCategory(rawValue: row["category"]), provider: row["provider"],
            model: row["model_raw"], status: RecordStatus(rawValue: row["status"]) ?? .pending,
            tokens: TokenCounts(input: row["input_tokens"], cachedInput: row["cached_input_tokens"],
                                cacheWrite: row["cache_write_tokens"], output: row["output_tokens"],
                                reasoning: row["reasoning_tokens"], cacheWrite1h: row["cache_write_1h_tokens"] ?? 0),
            units: UsageUnits(requests: row["units_requests"], images: row["units_images"], seconds: row["units_seconds"],
                              minutes: row["units_minutes"], characters: row["units_characters"]),
            callerCostNanoUSD: row["caller_cost_nano"], creditsMicro: row["caller_credits_micro"],
            durationMs: durationMicros.map { Double($0) / 1000 }, errorType: row["error_type"],
            errorMessage: row["error_message"], metadataJSON: row["metadata"],
            unrecognizedUsage: StoreRowCoding.unrecognized(fromJSON: row["unrecognized_usage"]), routerCostNanoUSD: row["router_cost_nano"],
            resourceType: row["resource_type"], resourceID: row["resource_id"], tags: ResourceFields.tags(fromJSON: row["tags"])
        )
    }
}

