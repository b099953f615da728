extension SQLiteStore: UnpricedReasonSource {}
