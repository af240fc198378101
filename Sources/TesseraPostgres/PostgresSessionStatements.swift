import Foundation
import PostgresNIO
import TesseraCore
import TesseraStore

// The session changes as single prepared statements: one round trip each, planned once per
// connection. A login was four statements (savepoint, trial, delete, insert) before.

/// A transaction-level advisory lock per device, taken by every write that inserts a session,
/// before its DELETE and held to its COMMIT. Two instances logging one device in at once could
/// otherwise both find no session in their snapshots and both insert: the second then fails on
/// the (tenant, device) unique index, and in a retry it may meet the first instance's next
/// uncommitted login again. A retry takes the lock in a statement of its own first
/// (``DeviceLock``): its next statement's snapshot then holds every session committed for the
/// device, and no other writer can insert one before it commits.
/// The two-key form keeps these locks apart from the migrations' one-key lock; two devices
/// whose names hash alike only wait for each other. Advisory locks are per database, not per
/// schema, so the key includes the schema: Tesseras in other schemas of the same database (the
/// tests' hundred servers; two deployments sharing a database) do not wait on each other's
/// devices. (Before 2026-12-03 it did not: during a rolling upgrade across that change, an old and
/// a new instance may log one device in at once; the second then meets the unique index and is
/// retried, as between instances without the lock.)
enum DeviceLocks {
    static let lockClass = 0x7E55

    /// SQL that locks the device `tenant`, `device` (two SQL expressions) in the current schema.
    static func lock(tenant: String, device: String) -> String {
        "pg_advisory_xact_lock(\(lockClass), hashtext(current_schema() || E'\\n' || \(tenant) || E'\\n' || \(device)))"
    }
}

extension DeviceKey {
    /// $1 the tenant, $2 the device.
    var bindings: PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(tenantID)
        bindings.append(deviceID)
        return bindings
    }
}

/// Locks one device until the transaction ends (see ``DeviceLocks``).
struct DeviceLock: PostgresPreparedStatement {
    static let sql = "SELECT \(DeviceLocks.lock(tenant: "$1", device: "$2"))"
    typealias Row = Void
    var device: DeviceKey

    func makeBindings() throws -> PostgresBindings { device.bindings }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

/// A v1 device's previous login goes (its decisions with it, ON DELETE CASCADE) and `session`
/// takes its place, in one statement. The INSERT reads the DELETE's count, so the old row is gone
/// before the new one is checked against the device's unique index. The device's lock
/// (``DeviceLocks``) is taken first: the DELETE's one-time filter reads it. Returns the ended
/// sessions as JSON rows (``SessionRowJSON``).
struct ReplaceSession: PostgresPreparedStatement {
    static let sql = """
        WITH locked AS (SELECT \(DeviceLocks.lock(tenant: "$2", device: "$3"))),
        old AS (DELETE FROM session WHERE tenant_id = $2 AND device_id = $3 AND kind = 'device' AND (SELECT count(*) FROM locked) > 0
                RETURNING \(SessionSQL.columns)),
        added AS (INSERT INTO session (\(SessionSQL.columns))
                  SELECT $1, $2, 'device', NULL, $4, $5, $3, NULL, NULL, NULL, NULL, $9, $6, $7, $8, $7, NULL FROM (SELECT count(*) FROM old) AS gone
                  RETURNING 1)
        SELECT row_to_json(o)::text FROM old o
        """
    typealias Row = String
    var session: Session

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 9)
        Self.bind(session, to: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }

    /// $1…$9: id, tenant, device, provider, user, device user, created, expires, trial.
    static func bind(_ session: Session, to bindings: inout PostgresBindings) {
        bindings.append(session.id)
        bindings.append(session.tenantID)
        bindings.append(session.deviceID ?? "")
        bindings.append(session.subject.providerID)
        bindings.append(session.subject.userID)
        bindings.append(session.deviceUser)
        bindings.append(session.createdAt.epochMilliseconds)
        bindings.append(session.expiresAt.epochMilliseconds)
        bindings.append(session.trialID)
    }
}

/// ``ReplaceSession`` that also stores a new TempPass trial, in the same statement.
struct ReplaceSessionCreatingTrial: PostgresPreparedStatement {
    static let sql = """
        WITH trial AS (
            INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources)
            VALUES ($10, $11, $12, $13, $14, $15, $16) RETURNING 1),
        locked AS (SELECT \(DeviceLocks.lock(tenant: "$2", device: "$3"))),
        old AS (DELETE FROM session WHERE tenant_id = $2 AND device_id = $3 AND kind = 'device' AND (SELECT count(*) FROM locked) > 0
                RETURNING \(SessionSQL.columns)),
        added AS (INSERT INTO session (\(SessionSQL.columns))
                  SELECT $1, $2, 'device', NULL, $4, $5, $3, NULL, NULL, NULL, NULL, $9, $6, $7, $8, $7, NULL
                  FROM (SELECT count(*) FROM old) AS gone, (SELECT count(*) FROM trial) AS made
                  RETURNING 1)
        SELECT row_to_json(o)::text FROM old o
        """
    typealias Row = String
    var session: Session
    var trial: TemporaryAccess

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
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

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
}

/// v1 logout: the device's login goes, with its decisions; the ended rows as JSON.
struct RevokeDevice: PostgresPreparedStatement {
    static let sql = """
        WITH gone AS (DELETE FROM session WHERE tenant_id = $1 AND device_id = $2 AND kind = 'device' RETURNING \(SessionSQL.columns))
        SELECT row_to_json(g)::text FROM gone g
        """
    typealias Row = String
    var device: DeviceKey

    func makeBindings() throws -> PostgresBindings { device.bindings }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
}

/// A session row as `row_to_json` writes it (a bytea as `\\x` and hex digits).
struct SessionRowJSON: Decodable {
    let id: UUID
    let tenant_id: String
    let kind: String
    let application_id: String?
    let provider_id: String
    let user_id: String
    let device_id: String?
    let sso_key: String?
    let token_digest: String?
    let refresh_digest: String?
    let family_id: UUID?
    let trial_id: UUID?
    let device_user: String?
    let created_at: Int64
    let expires_at: Int64
    let last_used_at: Int64?
    let client_address: String?

    static func sessions(_ rows: [String]) throws -> [Session] {
        try rows.map { try JSONDecoder().decode(SessionRowJSON.self, from: Data($0.utf8)).session() }
    }

    func session() throws -> Session {
        guard let kind = SessionKind(rawValue: kind) else { throw StoreError("stored session kind \(kind) is unknown") }
        return Session(
            id: id, tenantID: tenant_id, kind: kind, applicationID: application_id, subject: Subject(userID: user_id, providerID: provider_id),
            deviceID: device_id, ssoKey: sso_key, tokenDigest: try token_digest.map(Self.bytes).map(SecretDigest.init(bytes:)),
            refreshDigest: try refresh_digest.map(Self.bytes).map(SecretDigest.init(bytes:)), familyID: family_id, trialID: trial_id,
            deviceUser: device_user, createdAt: Date(epochMilliseconds: created_at), expiresAt: Date(epochMilliseconds: expires_at),
            lastUsedAt: last_used_at.map(Date.init(epochMilliseconds:)), clientAddress: client_address)
    }

    /// A bytea as `row_to_json` writes it: `\\x` and lower-case hex digits.
    private static func bytes(_ hex: String) throws -> Data {
        guard hex.hasPrefix("\\x"), let data = Data(hexadecimal: hex.dropFirst(2)) else { throw StoreError("a stored digest is not hex") }
        return data
    }
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

/// A batch of logouts and logins (each of a different device) as one statement: every device's
/// session goes (decisions with it), the logins' sessions and new trials are inserted, and the
/// other instances are notified, all committed together without BEGIN or COMMIT.
///
/// The notification names every device of the batch, and is sent unless nothing changed at all.
/// The result is the sessions removed (as JSON rows), and whether the notification went.
/// The DELETE finds its rows through the (tenant, device) index with `= ANY` (a join with
/// `unnest` was planned as a scan of the whole table). The logins' INSERT reads
/// the DELETE's count first, so the old rows are gone before the unique index is checked. The
/// logins' devices are locked first (``DeviceLocks``), in the batch's order. Any
/// failure (a trial taken meanwhile, a deadlock with another instance) fails the whole statement,
/// and the batch then runs one change at a time.
struct PlainBatch {
    /// Stands in the trial array where a session has none (its has_trial is false).
    static let noTrial = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!
    let devices: [DeviceKey]
    private let changes: [SessionChangeBatches.PlainChange]

    /// nil when a device appears twice: the order of its changes would matter.
    init?(_ changes: [SessionChangeBatches.PlainChange]) {
        devices = changes.map { change in
            switch change {
            case .revoke(let device): device
            case .replace(let session, _): session.device!
            }
        }
        guard Set(devices).count == devices.count else { return nil }
        self.changes = changes
    }

    func query(channel: String, payloads: [String]) throws -> PostgresQuery {
        var sessions: (id: [UUID], tenant: [String], device: [String], provider: [String], user: [String],
                       hasDeviceUser: [Bool], deviceUser: [String], created: [Int64], expires: [Int64],
                        hasTrial: [Bool], trial: [UUID]) = ([], [], [], [], [], [], [], [], [], [], [])
        var trials: (id: [UUID], tenant: [String], provider: [String], device: [String], hasIdentity: [Bool], identity: [ByteBuffer],
                     hasStart: [Bool], started: [Int64], resources: [String]) = ([], [], [], [], [], [], [], [], [])
        for change in changes {
            guard case .replace(let session, let trial) = change else { continue }
            sessions.id.append(session.id)
            sessions.tenant.append(session.tenantID)
            sessions.device.append(session.deviceID ?? "")
            sessions.provider.append(session.subject.providerID)
            sessions.user.append(session.subject.userID)
            sessions.hasDeviceUser.append(session.deviceUser != nil)
            sessions.deviceUser.append(session.deviceUser ?? "")
            sessions.created.append(session.createdAt.epochMilliseconds)
            sessions.expires.append(session.expiresAt.epochMilliseconds)
            sessions.hasTrial.append(session.trialID != nil)
            sessions.trial.append(session.trialID ?? PlainBatch.noTrial)
            guard let trial else { continue }
            trials.id.append(trial.id)
            trials.tenant.append(trial.tenantID)
            trials.provider.append(trial.providerID)
            trials.device.append(trial.deviceID)
            trials.hasIdentity.append(trial.identityDigest != nil)
            trials.identity.append(ByteBuffer(data: trial.identityDigest?.bytes ?? Data()))
            trials.hasStart.append(trial.startedAt != nil)
            trials.started.append(trial.startedAt?.epochMilliseconds ?? 0)
            trials.resources.append(String(decoding: try JSONEncoder().encode(trial.resources), as: UTF8.self))
        }
        var bindings = PostgresBindings(capacity: 24)
        bindings.append(devices.map(\.tenantID))
        bindings.append(devices.map(\.deviceID))
        bindings.append(trials.id)
        bindings.append(trials.tenant)
        bindings.append(trials.provider)
        bindings.append(trials.device)
        bindings.append(trials.hasIdentity)
        bindings.append(trials.identity)
        bindings.append(trials.hasStart)
        bindings.append(trials.started)
        bindings.append(trials.resources)
        bindings.append(sessions.id)
        bindings.append(sessions.tenant)
        bindings.append(sessions.device)
        bindings.append(sessions.provider)
        bindings.append(sessions.user)
        bindings.append(sessions.hasDeviceUser)
        bindings.append(sessions.deviceUser)
        bindings.append(sessions.created)
        bindings.append(sessions.expires)
        bindings.append(channel)
        bindings.append(payloads)
        bindings.append(sessions.hasTrial)
        bindings.append(sessions.trial)
        return PostgresQuery(unsafeSQL: Self.sql, binds: bindings)
    }

    private static let sql = """
        WITH locked AS (
            SELECT count(*) FROM (SELECT \(DeviceLocks.lock(tenant: "l.tenant_id", device: "l.device_id"))
                                  FROM unnest($13::text[], $14::text[]) AS l(tenant_id, device_id)) AS l),
        gone AS (
            DELETE FROM session
            WHERE tenant_id = ANY($1::text[]) AND device_id = ANY($2::text[]) AND kind = 'device'
              AND (tenant_id, device_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
              AND (SELECT * FROM locked) >= 0
            RETURNING \(SessionSQL.columns)),
        trials AS (
            INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources)
            SELECT t.id, t.tenant_id, t.provider_id, t.device_id, CASE WHEN t.has_identity THEN t.identity END,
                   CASE WHEN t.has_start THEN t.started_at END, t.resources
            FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::bytea[], $9::bool[], $10::int8[], $11::text[])
                AS t(id, tenant_id, provider_id, device_id, has_identity, identity, has_start, started_at, resources)
            RETURNING 1),
        added AS (
            INSERT INTO session (\(SessionSQL.columns))
            SELECT n.id, n.tenant_id, 'device', NULL, n.provider_id, n.user_id, n.device_id, NULL, NULL, NULL, NULL,
                   CASE WHEN n.has_trial THEN n.trial END, CASE WHEN n.has_device_user THEN n.device_user END,
                   n.created_at, n.expires_at, n.created_at, NULL
            FROM unnest($12::uuid[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bool[], $18::text[], $19::int8[], $20::int8[],
                        $23::bool[], $24::uuid[])
                AS n(id, tenant_id, device_id, provider_id, user_id, has_device_user, device_user, created_at, expires_at, has_trial, trial)
            WHERE (SELECT count(*) FROM gone) >= 0
            RETURNING 1)
        SELECT ARRAY(SELECT row_to_json(g)::text FROM gone g), (SELECT count(*) FROM trials), (SELECT count(*) FROM added),
               (SELECT count(pg_notify($21, p)) FROM unnest($22::text[]) AS p
                WHERE EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM added))
        """
}
