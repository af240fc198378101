import Foundation
import TesseraCore

/// The session table as both stores lay it out, and a ``SessionSelector`` as SQL.
///
/// Uniqueness is per kind (partial unique indexes); each selector is served by one index. Kinds
/// are written into the SQL as literals, not bound: a planner can use a partial index only when
/// the query's own text implies the index's condition (a bound `kind = ?` does not imply
/// `kind = 'device'`), for SQLite and for PostgreSQL's generic plans alike.
package enum SessionSQL {
    /// The session table's columns, in the order every `SELECT` and `RETURNING` of ``columns``
    /// lists them, so that a row is decoded by position (a lookup by name costs more than
    /// the rest of decoding a row).
    package enum Column: Int, CaseIterable, Sendable {
        case id, tenantID, kind, applicationID, providerID, userID, deviceID, ssoKey, tokenDigest, refreshDigest
        case familyID, trialID, deviceUser, createdAt, expiresAt, lastUsedAt, clientAddress

        package var name: String {
            switch self {
            case .id: "id"
            case .tenantID: "tenant_id"
            case .kind: "kind"
            case .applicationID: "application_id"
            case .providerID: "provider_id"
            case .userID: "user_id"
            case .deviceID: "device_id"
            case .ssoKey: "sso_key"
            case .tokenDigest: "token_digest"
            case .refreshDigest: "refresh_digest"
            case .familyID: "family_id"
            case .trialID: "trial_id"
            case .deviceUser: "device_user"
            case .createdAt: "created_at"
            case .expiresAt: "expires_at"
            case .lastUsedAt: "last_used_at"
            case .clientAddress: "client_address"
            }
        }
    }

    /// Every column, in ``Column``'s order.
    package static let columns = Column.allCases.map(\.name).joined(separator: ", ")

    /// The indexes of the session table (both stores), each serving one selector, and the index
    /// of expiry times that PostgreSQL's purge uses (SQLite drops it in its v6 and sweeps instead).
    /// Migrations that have shipped create these: change the schema with a new migration.
    package static let indexes = [
        "CREATE UNIQUE INDEX session_device_login ON session(tenant_id, device_id) WHERE kind = 'device'",
        "CREATE UNIQUE INDEX session_profile ON session(tenant_id, device_id, provider_id, COALESCE(application_id, '')) WHERE kind = 'profile'",
        "CREATE UNIQUE INDEX session_sso ON session(tenant_id, sso_key, provider_id) WHERE kind = 'sso'",
        "CREATE UNIQUE INDEX session_token ON session(token_digest) WHERE token_digest IS NOT NULL",
        "CREATE UNIQUE INDEX session_refresh ON session(refresh_digest) WHERE refresh_digest IS NOT NULL",
        "CREATE INDEX session_device_other ON session(tenant_id, device_id, provider_id) WHERE device_id IS NOT NULL AND kind <> 'device'",
        "CREATE INDEX session_subject ON session(tenant_id, user_id)",
        "CREATE INDEX session_family ON session(family_id) WHERE family_id IS NOT NULL",
        "CREATE INDEX session_application ON session(tenant_id, application_id) WHERE application_id IS NOT NULL",
        "CREATE INDEX session_expiry ON session(expires_at)",
    ]

    /// Live sessions by kind: the rows held (the `session_count` table's) less the expired rows
    /// the purge has not removed yet.
    package static func liveCounts(held: [(String, Int)], expired: [(String, Int)]) -> [SessionKind: Int] {
        var counts: [SessionKind: Int] = [:]
        for (name, count) in held { if let kind = SessionKind(rawValue: name) { counts[kind, default: 0] += count } }
        for (name, count) in expired { if let kind = SessionKind(rawValue: name) { counts[kind, default: 0] -= count } }
        return counts.mapValues { max(0, $0) }
    }

    /// The sessions of a TempPass trial (its reset ends them): SQLite v12, PostgreSQL v9.
    package static let trialIndex = "CREATE INDEX session_trial ON session(trial_id) WHERE trial_id IS NOT NULL"

    /// A value a selector binds.
    package enum Value: Sendable {
        case text(String)
        case blob(Data)
        case uuid(UUID)
    }

    /// One WHERE clause (with `?` placeholders) and what it binds.
    package struct Filter: Sendable {
        package var sql: String
        package var values: [Value]
    }

    /// The WHERE clauses that together pick what `selector` picks: usually one; a device across
    /// kinds is two (the v1 logins have an index of their own).
    package static func filters(_ selector: SessionSelector) -> [Filter] {
        var base = Filter(sql: "tenant_id = ?", values: [.text(selector.tenantID)])
        if let application = selector.applicationID {
            base.sql += selector.matchesMissingApplication ? " AND (application_id = ? OR application_id IS NULL)" : " AND application_id = ?"
            base.values.append(.text(application))
        }
        func with(_ sql: String, _ values: [Value], kinds: Set<SessionKind>) -> Filter {
            var filter = base
            filter.sql += " AND " + sql
            filter.values += values
            if !kinds.isEmpty, kinds != Set(SessionKind.allCases) {
                filter.sql += " AND kind IN (" + kinds.map(\.rawValue).sorted().map { "'\($0)'" }.joined(separator: ", ") + ")"
            }
            return filter
        }
        let kinds = selector.kinds.isEmpty ? Set(SessionKind.allCases) : selector.kinds
        switch selector.key {
        case .device(let device), .deviceAndProvider(let device, _):
            var provider = ""
            var values: [Value] = [.text(device)]
            if case .deviceAndProvider(_, let providerID) = selector.key {
                provider = " AND provider_id = ?"
                values.append(.text(providerID))
            }
            var filters: [Filter] = []
            if kinds.contains(.deviceLogin) { filters.append(with("device_id = ?" + provider + " AND kind = 'device'", values, kinds: [])) }
            let others = kinds.subtracting([.deviceLogin])
            if !others.isEmpty {
                filters.append(with("device_id = ?" + provider + " AND device_id IS NOT NULL AND kind <> 'device'", values,
                                    kinds: others == Set(SessionKind.allCases).subtracting([.deviceLogin]) ? [] : others))
            }
            return filters
        case .id(let id): return [with("id = ?", [.uuid(id)], kinds: kinds)]
        case .tokenDigest(let digest): return [with("token_digest = ?", [.blob(digest.bytes)], kinds: kinds)]
        case .refreshDigest(let digest): return [with("refresh_digest = ?", [.blob(digest.bytes)], kinds: kinds)]
        case .family(let family): return [with("family_id = ?", [.uuid(family)], kinds: kinds)]
        case .trial(let trial): return [with("trial_id = ?", [.uuid(trial)], kinds: kinds)]
        case .subject(let userID): return [with("user_id = ?", [.text(userID)], kinds: kinds)]
        case .application(let application): return [with("application_id = ?", [.text(application)], kinds: kinds)]
        case .ssoKey(let key, let provider):
            guard kinds.contains(.ssoProfile) else { return [] }
            if let provider { return [with("kind = 'sso' AND sso_key = ? AND provider_id = ?", [.text(key), .text(provider)], kinds: [])] }
            return [with("kind = 'sso' AND sso_key = ?", [.text(key)], kinds: [])]
        }
    }

    /// `sql` with `?` numbered from `first` for PostgreSQL (`$1`, `$2`…). Our filters have no `?` in literals.
    package static func numbered(_ sql: String, from first: Int = 1) -> String {
        var out = ""
        var n = first
        for character in sql {
            if character == "?" { out += "$\(n)"; n += 1 } else { out.append(character) }
        }
        return out
    }
}
