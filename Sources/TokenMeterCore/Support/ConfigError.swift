/// A configuration value that cannot be used; the message names the setting and what to do.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
