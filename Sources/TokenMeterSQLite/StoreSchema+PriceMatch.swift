import GRDB
import TokenMeterCore

extension StoreSchema {
    /// `price_match`: how each record's price was found (`exact`, `alias`, `provider_prefix`,
    /// `snapshot`, `regex`, or `caller` for the caller's cost; NULL when unpriced and for records stored
    /// before this migration). `unpriced_reason`: why a record is unpriced. `price_changes.layer`:
    /// NULL for the operator's own changes, `import` for imported entries, `update` for a refresh of
    /// the shipped catalog by `prices update` (a `delete` row of model `*` starts one).
    static func registerPriceMatch(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-price-match") { db in
            try db.execute(sql: """
                ALTER TABLE usage_records ADD COLUMN price_match TEXT;
                ALTER TABLE usage_records ADD COLUMN unpriced_reason TEXT;
                ALTER TABLE price_changes ADD COLUMN layer TEXT;
                """)
        }
    }
}
