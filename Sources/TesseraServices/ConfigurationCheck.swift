import Foundation
import TesseraCore
import Yams

/// `tessera config check`: what is wrong with a configuration, each with its line, without
/// starting anything. Unknown keys (a misspelt `key_encryption_key` is otherwise silently
/// ignored), YAML syntax, the shape the decoder expects, and every rule ``TesseraConfiguration/load(yaml:)``
/// applies.
public enum ConfigurationCheck {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// 1-based; nil when the YAML gives no place for it.
        public let line: Int?
        public let message: String
        public var description: String { line.map { "line \($0): \(message)" } ?? message }
    }

    /// Every problem of `yaml` (none when it would start), and the configuration it loads to.
    public static func check(yaml: String) -> (problems: [Problem], configuration: TesseraConfiguration?) {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else { return ([Problem(line: nil, message: "the configuration is empty")], nil) }
            root = node
        } catch {
            return ([Problem(line: syntaxLine(of: error), message: "not valid YAML: \(error)")], nil)
        }
        let loaded = TesseraConfiguration.loadReportingEveryError(yaml: yaml)
        let problems = unknownKeys(in: root, shape: ConfigurationFile.shape, path: [])
            + loaded.errors.map { Problem(line: line(of: $0.path, in: root), message: $0.description) }
        // In the file's order, as a compiler lists them (the sort is stable).
        return (problems.sorted { ($0.line ?? .max) < ($1.line ?? .max) }, loaded.configuration)
    }

    /// Keys the configuration does not know, anywhere in it.
    public static func unknownKeys(yaml: String) -> [Problem] {
        guard let root = try? Yams.compose(yaml: yaml) else { return [] }
        return unknownKeys(in: root, shape: ConfigurationFile.shape, path: [])
    }

    static func unknownKeys(in node: Node, shape: ConfigurationShape, path: [String]) -> [Problem] {
        switch (shape, node) {
        case (.mapping(let known), .mapping(let mapping)):
            return mapping.flatMap { key, value -> [Problem] in
                let name = key.string ?? "\(key)"
                guard let inner = known[name] else {
                    let place = path.isEmpty ? "at the top" : "in \(path.joined(separator: "."))"
                    let suggestion = closest(to: name, among: known.keys).map { " (did you mean \($0)?)" } ?? ""
                    return [Problem(line: key.mark?.line, message: "unknown key \(name) \(place)\(suggestion)")]
                }
                return unknownKeys(in: value, shape: inner, path: path + [name])
            }
        case (.list(let inner), .sequence(let sequence)):
            return sequence.enumerated().flatMap { index, item in unknownKeys(in: item, shape: inner, path: path + ["\(index)"]) }
        default:
            // A value of the wrong shape is the decoder's to report; `.any` holds anything.
            return []
        }
    }

    /// The line of the deepest node `path` reaches.
    static func line(of path: [String], in root: Node) -> Int? {
        var node = root
        var line = root.mark?.line
        for component in path {
            if case .mapping(let mapping) = node, let pair = mapping.first(where: { $0.key.string == component }) {
                line = pair.key.mark?.line ?? line
                node = pair.value
            } else if case .sequence(let sequence) = node, let index = Int(component), sequence.indices.contains(index) {
                node = sequence[index]
                line = node.mark?.line ?? line
            } else {
                break
            }
        }
        return line
    }

    static func syntaxLine(of error: any Error) -> Int? {
        let text = "\(error)"
        guard let match = text.firstMatch(of: /(\d+):(\d+)/) else { return nil }
        return Int(match.1)
    }

    /// A known key one or two edits from `name`, for the message.
    static func closest(to name: String, among known: some Collection<String>) -> String? {
        known.map { ($0, distance(name, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// What keys a part of the configuration may hold: built from the entries' `CodingKeys`, so a
/// key added to an entry is known here without another list.
indirect enum ConfigurationShape: Sendable {
    /// Anything: a scalar, or a mapping of free keys (a subscriber's metadata).
    case any
    case mapping([String: ConfigurationShape])
    case list(ConfigurationShape)
}

extension ConfigurationFile {
    static func keys<Keys: CodingKey & CaseIterable>(_: Keys.Type, _ nested: [String: ConfigurationShape] = [:]) -> ConfigurationShape {
        let names = Keys.allCases.map(\.stringValue)
        assert(Set(nested.keys).isSubset(of: names), "nested shapes for keys the entry does not have: \(nested.keys)")
        return .mapping(Dictionary(uniqueKeysWithValues: names.map { ($0, nested[$0] ?? .any) }))
    }

    static let shape: ConfigurationShape = keys(CodingKeys.self, [
        "server": keys(Server.CodingKeys.self, ["login_limits": keys(LoginLimitsEntry.CodingKeys.self)]),
        "providers": .list(keys(Provider.CodingKeys.self, ["subscribers": .list(keys(SubscriberEntry.CodingKeys.self)),
                                                          "apple_sso": keys(PartnerEntry.CodingKeys.self),
                                                          "claims": keys(ClaimsEntry.CodingKeys.self, [
                                                              "entitlement_rules": .list(keys(ClaimsEntry.RuleEntry.CodingKeys.self))])])),
        "tenants": .list(keys(TenantEntry.CodingKeys.self, [
            "software_statements": .list(keys(SoftwareStatementEntry.CodingKeys.self)),
            "legacy_keys": .list(keys(LegacyKeyEntry.CodingKeys.self)),
            "policies": keys(Policies.CodingKeys.self),
            "user_metadata": keys(UserMetadata.CodingKeys.self),
            "access_tokens": keys(AccessTokensEntry.CodingKeys.self, ["applications": .list(keys(KeyedApplicationEntry.CodingKeys.self))]),
            "user_sessions": keys(UserSessionsEntry.CodingKeys.self, [
                "applications": .list(keys(UserSessionsEntry.ApplicationEntry.CodingKeys.self)),
                "passwords": keys(UserSessionsEntry.PasswordsEntry.CodingKeys.self),
            ]),
            "single_sign_on": keys(SingleSignOnEntry.CodingKeys.self, [
                "service_token": keys(SingleSignOnEntry.TrustEntry.CodingKeys.self, ["keys": .list(keys(SingleSignOnEntry.KeyEntry.CodingKeys.self))]),
                "platforms": .list(keys(SingleSignOnEntry.TrustEntry.CodingKeys.self, ["keys": .list(keys(SingleSignOnEntry.KeyEntry.CodingKeys.self))])),
            ]),
            "degradation": .list(keys(DegradationEntry.CodingKeys.self)),
        ])),
    ])
}
