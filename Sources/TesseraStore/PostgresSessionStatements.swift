import Foundation
import PostgresNIO
import TesseraCore

// The session changes as single prepared statements: one round trip each, planned once per
// connection. A login was four statements (savepoint, trial, delete, insert) before.

/// The device's previous session goes (its decisions with it, ON DELETE CASCADE) and `session`
/// takes its place, in one statement. The INSERT reads the DELETE's count, so the old row is gone
/// before the new one is checked against the device's unique index.
struct ReplaceSession: PostgresPreparedStatement {
    static let sql = """
        WITH old AS (DELETE FROM session WHERE tenant_id = $2 AND device_id = $3 RETURNING 1)
        INSERT INTO session (id, tenant_id, device_id, provider_id, user_id, device_user, created_at, expires_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM (SELECT count(*) FROM old) AS gone
        """
    typealias Row = Void
    var session: Session

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        Self.bind(session, to: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}

    static func bind(_ session: Session, to bindings: inout PostgresBindings) {
        bindings.append(session.id)
        bindings.append(session.device.tenantID)
        bindings.append(session.device.deviceID)
        bindings.append(session.subject.providerID)
        bindings.append(session.subject.userID)
        bindings.append(session.deviceUser)
        bindings.append(session.createdAt.epochMilliseconds)
        bindings.append(session.expiresAt.epochMilliseconds)
    }
}

/// ``ReplaceSession`` that also stores a new TempPass trial, in the same statement.
struct ReplaceSessionCreatingTrial: PostgresPreparedStatement {
    static let sql = """
        WITH trial AS (
            INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources)
            VALUES ($9, $10, $11, $12, $13, $14, $15) RETURNING 1),
        old AS (DELETE FROM session WHERE tenant_id = $2 AND device_id = $3 RETURNING 1)
        INSERT INTO session (id, tenant_id, device_id, provider_id, user_id, device_user, created_at, expires_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM (SELECT count(*) FROM old) AS gone, (SELECT count(*) FROM trial) AS made
        """
    typealias Row = Void
    var session: Session
    var trial: TemporaryAccess

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 15)
        ReplaceSession.bind(session, to: &bindings)
        bindings.append(trial.id)
        bindings.append(trial.tenantID)
        bindings.append(trial.providerID)
        bindings.append(trial.deviceID)
        try bindings.append(trial.identityDigest?.bytes)
        bindings.append(trial.startedAt?.epochMilliseconds)
        bindings.append(String(decoding: try JSONEncoder().encode(trial.resources), as: UTF8.self))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

/// Logout: the device's sessions go, with their decisions.
struct RevokeDevice: PostgresPreparedStatement {
    static let sql = "DELETE FROM session WHERE tenant_id = $1 AND device_id = $2 RETURNING 1"
    typealias Row = Int32
    var device: DeviceKey

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(device.tenantID)
        bindings.append(device.deviceID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int32.self) }
}

/// The TempPass trial a device already has with a provider.
struct TrialOfDevice: PostgresPreparedStatement {
    static let sql = """
        SELECT id, tenant_id, provider_id, device_id, identity_digest, started_at, resources FROM temporary_access
        WHERE tenant_id = $1 AND provider_id = $2 AND device_id = $3 LIMIT 1
        """
    typealias Row = (UUID, String, String, String, Data?, Int64?, String)
    var tenantID: String
    var providerID: String
    var deviceID: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(tenantID)
        bindings.append(providerID)
        bindings.append(deviceID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }

    static func trial(_ row: Row) throws -> TemporaryAccess {
        TemporaryAccess(
            id: row.0, tenantID: row.1, providerID: row.2, deviceID: row.3, identityDigest: row.4.map(SecretDigest.init(bytes:)),
            startedAt: row.5.map(Date.init(epochMilliseconds:)), resources: try JSONDecoder().decode([String].self, from: Data(row.6.utf8)))
    }
}
