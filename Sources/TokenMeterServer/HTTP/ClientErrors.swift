import TokenMeterCore

/// Errors of the core that are the client's to fix (a bad report parameter, a catalog file that
/// does not parse): wherever a handler lets one through, it is answered 400 with its own message.
protocol ClientError: Error, CustomStringConvertible {}

extension ReportError: ClientError {}
extension CatalogError: ClientError {}
