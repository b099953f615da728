import TokenMeterCore
import Foundation

/// CSV renderings of reports, carrying everything the JSON answer to the same query carries.
/// Summary, timeseries and user usage: one row per figure block (`row` = `total` or `group`), with
/// the block's range (`from`, `to`: the bucket's start and end in a timeseries), `tz`, `rounded`,
/// `active_users_rounded` and what the figures cover (`covered_from`, `covered_to`),
/// the group key columns, an `other` marker (`true` on the summed rest of a top-N answer, so it is
/// never mistaken for a real group named `other`), every figure and, with `currency`, the
/// `cost` and `currency` columns. Monitoring and economics are nested answers: their CSV is one
/// row per JSON value (`path,value`, e.g. `unit_economics.cost_per_paying_user,1.59`).
/// An empty field is a JSON null.
public enum CSVReport {
    static let figureColumns = [
        "requests", "errors", "success_rate", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "total_tokens", "cost_usd", "cost_nano_usd", "credits", "unpriced_requests", "active_users",
        "avg_duration_ms",
    ]

    static func number(_ value: Double?) -> String { value.map { String($0) } ?? "" }

    static func values(_ f: FigureBlock, currency: Bool) -> [String] {
        var row = [String(f.requests), String(f.errors), number(f.success_rate), String(f.input_tokens), String(f.cached_input_tokens),
                   String(f.cache_write_tokens), String(f.output_tokens), String(f.reasoning_tokens), String(f.total_tokens),
                   Money.decimalString(nano: f.cost_nano_usd), String(f.cost_nano_usd), String(f.credits),
                   String(f.unpriced_requests), String(f.active_users), number(f.avg_duration_ms)]
        if currency { row += [number(f.cost), f.currency ?? ""] }
        return row
    }

    static func header(_ dimensions: [String], currency: Bool, extra: [String] = []) -> String {
        (["from", "to", "tz", "rounded", "active_users_rounded", "covered_from", "covered_to", "row"] + dimensions + extra + ["other"] + figureColumns + (currency ? ["cost", "currency"] : []))
            .map(escape).joined(separator: ",")
    }

    static func rows(from: String, to: String, tz: String, coverage: Coverage, usersRounded: Bool, dimensions: [String],
                     currency: Bool, totals: FigureBlock, groups: [ReportService.Group]) -> [String] {
        let lead = [from, to, tz, String(coverage.rounded), String(usersRounded), coverage.from, coverage.to]
        var lines = [(lead + ["total"] + dimensions.map { _ in "" } + ["false"] + values(totals, currency: currency)).map(escape).joined(separator: ",")]
        for group in groups {
            let cells = lead + ["group"] + dimensions.map { group.key[$0] ?? "" } + [String(group.other == true)]
                + values(group.figures, currency: currency)
            lines.append(cells.map(escape).joined(separator: ","))
        }
        return lines
    }

    public static func summary(_ s: ReportService.Summary, currency: Bool) -> String {
        let lines = [header(s.group_by, currency: currency)]
            + rows(from: s.from, to: s.to, tz: s.tz, coverage: s.coverage, usersRounded: s.active_users_rounded, dimensions: s.group_by, currency: currency,
                   totals: s.totals, groups: s.groups)
        return lines.joined(separator: "\n") + "\n"
    }

    /// One total row per bucket, then the bucket's groups; `from`/`to` are the bucket's start and end.
    public static func timeseries(_ t: ReportService.Timeseries, groupBy: [String], currency: Bool) -> String {
        var lines = [header(groupBy, currency: currency)]
        for bucket in t.series {
            lines += rows(from: bucket.start, to: bucket.end, tz: t.tz, coverage: bucket.coverage,
                          usersRounded: bucket.active_users_rounded, dimensions: groupBy,
                          currency: currency, totals: bucket.totals, groups: bucket.groups)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The totals row, then one row per model with its daily limit columns.
    public static func userUsage(_ u: ReportService.UserUsage, currency: Bool) -> String {
        let limitColumns = ["daily_limit", "used_today", "remaining"]
        var lines = [header(["user_id", "model"], currency: currency, extra: limitColumns)]
        let lead = [u.from, u.to, u.tz, String(u.rounded), String(u.active_users_rounded), u.coverage.from, u.coverage.to]
        lines.append((lead + ["total", u.user_id, "", "", "", "", "false"] + values(u.totals, currency: currency)).map(escape).joined(separator: ","))
        for model in u.models {
            let limits = [model.daily_limit.map { String($0) } ?? "", model.used_today.map { String($0) } ?? "",
                          model.remaining.map { String($0) } ?? ""]
            lines.append((lead + ["group", u.user_id, model.model] + limits + ["false"] + values(model.figures, currency: currency))
                .map(escape).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every value of a JSON answer as `path,value` (keys sorted, array items by index: `by_plan.0.key`).
    public static func flattened<T: Encodable>(_ report: T) throws -> String {
        let value = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(report))
        var lines = ["path,value"]
        func walk(_ value: JSONValue, _ path: String) {
            switch value {
            case .object(let dictionary):
                for key in dictionary.keys.sorted() { walk(dictionary[key]!, path.isEmpty ? key : path + "." + key) }
            case .array(let array):
                for (index, item) in array.enumerated() { walk(item, path + "." + String(index)) }
            case .scalar(let text):
                lines.append(escape(path) + "," + escape(text))
            }
        }
        walk(value, "")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A decoded JSON answer; scalars as their CSV text (null: empty).
    indirect enum JSONValue: Decodable {
        case object([String: JSONValue])
        case array([JSONValue])
        case scalar(String)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .scalar(""); return }
            if let bool = try? container.decode(Bool.self) { self = .scalar(String(bool)); return }
            if let integer = try? container.decode(Int64.self) { self = .scalar(String(integer)); return }
            if let double = try? container.decode(Double.self) { self = .scalar(String(double)); return }
            if let string = try? container.decode(String.self) { self = .scalar(string); return }
            if let array = try? container.decode([JSONValue].self) { self = .array(array); return }
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
