import Foundation

/// The other spellings of a model name that platforms put around the same model id, and the dated
/// snapshot suffix of a name. Pure string work, no catalog: the catalog decides what a form is worth.
enum ModelNameForms {
    struct Form: Equatable {
        var name: String
        /// What was stripped, for the resolve explanation.
        var how: String
    }

    /// Bedrock cross-region inference profiles: `us.anthropic.claude-…`, `global.anthropic.…`.
    static let bedrockRegions: Set<String> = ["us", "eu", "apac", "ap", "global", "us-gov", "jp", "au", "ca", "sa"]
    /// Bedrock model ids are `vendor.model-vN:M`.
    static let bedrockVendors: Set<String> = [
        "anthropic", "meta", "amazon", "mistral", "cohere", "ai21", "deepseek", "openai", "qwen", "writer",
        "twelvelabs", "stability", "luma", "moonshot", "moonshotai", "minimax", "google", "nvidia",
    ]

    /// The forms to try after the name itself, in order: each leading `provider/` segment stripped
    /// (`openrouter/openai/gpt-4o` → `openai/gpt-4o` → `gpt-4o`), Vertex's `@date` (`claude-sonnet-4-5@20250929`
    /// → `claude-sonnet-4-5`), Bedrock's region prefix, `-vN:M` version suffix and vendor prefix
    /// (`us.anthropic.claude-3-5-haiku-20241022-v1:0` → `anthropic.claude-3-5-haiku-20241022-v1:0` →
    /// `anthropic.claude-3-5-haiku-20241022` → `claude-3-5-haiku-20241022`).
    static func strippedForms(_ name: String) -> [Form] {
        var forms: [Form] = []
        func add(_ candidate: String, _ how: String) {
            guard !candidate.isEmpty, candidate != name, !forms.contains(where: { $0.name == candidate }) else { return }
            forms.append(Form(name: candidate, how: how))
        }
        var current = name
        while let slash = current.firstIndex(of: "/"), current.index(after: slash) < current.endIndex {
            let prefix = current[..<slash]
            current = String(current[current.index(after: slash)...])
            add(current, "stripping the provider prefix '\(prefix)/'")
        }
        if let at = current.firstIndex(of: "@"), at > current.startIndex {
            current = String(current[..<at])
            add(current, "stripping Vertex's '@version'")
        }
        // Bedrock: the version suffix first (a regional profile keeps its own price), then the
        // region with the version, then neither, then the vendor.
        func versionless(_ name: String) -> (String, Substring)? {
            guard name.contains(".") || name.contains(":"),
                  let range = name.range(of: #"(-v\d+(:\d+)?|:\d+)$"#, options: .regularExpression) else { return nil }
            return (String(name[..<range.lowerBound]), name[range])
        }
        func regionless(_ name: String) -> (String, Substring)? {
            let parts = name.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, bedrockRegions.contains(String(parts[0])), parts[1].contains(".") else { return nil }
            return (String(parts[1]), parts[0])
        }
        var base = current
        if let (name, suffix) = versionless(current) {
            add(name, "stripping Bedrock's version suffix '\(suffix)'")
        }
        if let (name, region) = regionless(current) {
            add(name, "stripping Bedrock's region prefix '\(region).'")
            base = name
            if let (bare, suffix) = versionless(name) {
                add(bare, "stripping Bedrock's region prefix '\(region).' and version suffix '\(suffix)'")
                base = bare
            }
        } else if let (name, _) = versionless(current) {
            base = name
        }
        let vendor = base.split(separator: ".", maxSplits: 1)
        if vendor.count == 2, bedrockVendors.contains(String(vendor[0])) {
            add(String(vendor[1]), "stripping Bedrock's region, version and vendor prefix '\(vendor[0]).'")
        }
        return forms
    }

    /// `-20241022`, `-2024-08-06`, `-0613`, `-002`, `-05-20`, `-09-2025`: the suffixes a provider dates a
    /// snapshot with. `-preview`, `-latest`, `-exp` are never stripped: a preview is not its GA model,
    /// and a moving alias is priced by its own dated entries.
    private static let snapshotSuffix = try! NSRegularExpression(
        pattern: #"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{2}-\d{4}|\d{2}-\d{2}|\d{4}|\d{3})$"#)

    /// The family name and the suffix, when `name` ends with a snapshot suffix.
    static func snapshotFamily(_ name: String) -> (family: String, suffix: String)? {
        let range = NSRange(name.startIndex..., in: name)
        guard let match = snapshotSuffix.firstMatch(in: name, range: range),
              let swiftRange = Range(match.range, in: name), swiftRange.lowerBound > name.startIndex
        else { return nil }
        return (String(name[..<swiftRange.lowerBound]), String(name[swiftRange]))
    }
}
