import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// Precedence: flags, then environment, then the config file, then defaults.
@Suite("Configuration precedence")
struct ConfigLoaderTests {
    static func file(_ json: String) throws -> String {
        let url = temporaryDirectory().appendingPathComponent("config.json")
        try Data(json.utf8).write(to: url)
        return url.path
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheFileWhichBeatsDefaults() throws {
        let path = try Self.file(#"{"host": "10.0.0.1", "port": 1111, "db": "/file.sqlite", "tz": "Europe/Moscow", "synchronous": "NORMAL"}"#)
        let environment = ["TOKENMETER_PORT": "2222", "TOKENMETER_DB": "/env.sqlite"]
        let config = try ConfigLoader.load(file: path, environment: environment, overrides: ConfigOverrides(databasePath: "/flag.sqlite"))
        #expect(config.databasePath == "/flag.sqlite")                       // flag over env over file
        #expect(config.port == 2222)                                         // env over file
        #expect(config.host == "10.0.0.1")                                   // file over default
        #expect(config.timeZone.identifier == "Europe/Moscow")
        #expect(config.synchronous == .normal)
        #expect(config.queueCapacity == ServerConfig().queueCapacity)         // default
    }

    @Test func defaultsWithNothingGiven() throws {
        let config = try ConfigLoader.load(file: nil, environment: [:])
        #expect(config == ServerConfig())
        #expect(config.synchronous == .full && config.port == 9477 && config.host == "127.0.0.1")
    }

    @Test func everyFileKeyIsRead() throws {
        let path = try Self.file("""
            {"retention": {"raw_days": 30, "pending_timeout_hours": 12}, "min_free_disk_mb": 5, "max_connections": 50,
             "max_report_groups": 20, "max_concurrent_reports": 3, "body_timeout_seconds": 7, "batch_max_records": 10}
            """)
        let config = try ConfigLoader.load(file: path, environment: [:])
        #expect(config.retention.rawDays == 30 && config.retention.pendingTimeoutHours == 12)
        #expect(config.minFreeDiskBytes == 5 * 1024 * 1024 && config.maxConnections == 50)
        #expect(config.maxReportGroups == 20 && config.maxConcurrentReports == 3)
        #expect(config.bodyTimeout == .seconds(7) && config.batchMaxRecords == 10)
        #expect(config != ServerConfig(), "equality compares every field")
    }

    @Test func badValuesAreNamed() throws {
        #expect(throws: ConfigError("TOKENMETER_PORT: 'x' is not a number")) {
            try ConfigLoader.load(file: nil, environment: ["TOKENMETER_PORT": "x"])
        }
        let path = try Self.file(#"{"synchronous": "sometimes"}"#)
        #expect(throws: ConfigError("synchronous: 'sometimes' must be FULL or NORMAL")) { try ConfigLoader.load(file: path, environment: [:]) }
    }
}
