import Foundation
import Hummingbird

/// CSV renderings of reports: one row per group, the figure fields as columns.
public enum CSVReport {
    static let figureColumns = [
        "requests", "errors", "success_rate", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "total_tokens", "cost_usd", "credits", "unpriced_requests", "active_users", "avg_duration_ms",
    ]

    static func values(_ f: FigureBlock) -> [String] {
        [String(f.requests), String(f.errors), String(f.success_rate), String(f.input_tokens), String(f.cached_input_tokens),
         String(f.cache_write_tokens), String(f.output_tokens), String(f.reasoning_tokens), String(f.total_tokens),
         Money.decimalString(nano: f.cost_nano_usd), String(f.credits), String(f.unpriced_requests), String(f.active_users),
         f.avg_duration_ms.map { String($0) } ?? ""]
    }

    public static func summary(_ s: ReportService.Summary) -> String {
        var lines = [(s.group_by + figureColumns).map(escape).joined(separator: ",")]
        if s.group_by.isEmpty {
            lines.append(values(s.totals).joined(separator: ","))
        }
        for group in s.groups {
            lines.append((s.group_by.map { group.key[$0] ?? "" } + values(group.figures)).map(escape).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func timeseries(_ t: ReportService.Timeseries) -> String {
        var lines = [(["start"] + figureColumns).joined(separator: ",")]
        for bucket in t.series { lines.append(([bucket.start] + values(bucket.totals)).map(escape).joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func response(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
