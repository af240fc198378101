import Foundation
import GRDB
import Synchronization
import TesseraCore
import TesseraStore

/// The embedded store: one SQLite file in WAL mode, through GRDB.
///
/// `synchronous=NORMAL` in WAL mode: a committed transaction survives a crash of the process
/// (kill -9); only a power cut or kernel crash may lose the last commits. Writes go through
/// GRDB's single writer, those that queue up together sharing one transaction (``GroupCommit``);
/// reads run concurrently.
public final class SQLiteStore: Store {
    let pool: DatabasePool
    /// Every write goes through here: see ``GroupCommit``.
    private let commits: GroupCommit
    /// Copies committed pages from the WAL back into the database file, on its own connection,
    /// every 50 ms, so that little is left for the writer's own checkpoints (see
    /// ``walCheckpointFrames``). A PASSIVE checkpoint waits for nobody and nobody waits for it;
    /// commits stay durable in the WAL either way.
    private let checkpoints: Task<Void, Never>

    /// WAL frames (pages) past which the writer checkpoints too, inside the commit that crosses
    /// the mark: 65,536 frames (128 MB of 2 KB pages, 256 MB in a file of 4 KB pages from an earlier
    /// Tessera). Below it only the side checkpointer copies pages, and
    /// nobody waits. But under writes that never pause, its PASSIVE checkpoint never catches up
    /// with the writer, so the WAL never starts over: it grew by 1.3 GB in 16 s of the benchmark's
    /// write cycle, and kept that size. A checkpoint on the writer's own connection runs while no
    /// write can land, so it completes and the next write starts the WAL over; it only has to copy
    /// what the side checkpointer has not copied yet. Measured on the write cycle
    /// (`bench.py --devices 100000 --only logout`): 64 MB gave 0.29-0.31 of the baseline with a
    /// p99 of 56-67 ms, 256 MB 0.31-0.35 and 47 ms, none 0.35-0.41 and 16-19 ms (and 600 MB of WAL
    /// after 12 s).
    public static let walCheckpointFrames = 65_536

    /// WAL frames past which the writer, between two batches, finishes a checkpoint the side
    /// checkpointer nearly completed, so that the WAL starts over (see ``WALRestart``): 4,096
    /// frames, 8 MB of 2 KB pages. Well under ``walCheckpointFrames``, whose checkpoint inside a
    /// commit then only runs when the side checkpointer falls behind.
    public static let walRestartFrames = 4_096

    /// The page size of a database this store creates: 2 KB, not SQLite's 4 KB.
    ///
    /// Every login and logout changes one entry in each of several indexes keyed on values with no
    /// order (device, subject), so each dirties a page per index; at COMMIT each dirty page goes
    /// whole into the WAL (checksummed and written), and later whole into the database file at the
    /// checkpoint. A page half the size is half those bytes for the same entries changed; the trees
    /// are a level deeper at most, and the hot reads are answered from memory. Measured by
    /// replaying the write cycle on this schema (40,000 logouts and logins over 100,000 sessions,
    /// batches of 32, a checkpoint every 1,000 frames, Python's sqlite3 on the same libsqlite3):
    /// 63 µs of CPU an operation with 4 KB pages, 56 µs with 2 KB. A database made by an earlier
    /// Tessera keeps its page size (changing it rewrites the whole file).
    public static let pageSize = 2048

    /// Rows of the session table one purge looks at, at most: the purge sweeps the table by
    /// rowid, carrying on where the previous one stopped, instead of keeping an index of expiry
    /// times (see ``purgeExpired(now:grace:)``). 200,000: a table of a million sessions is swept
    /// every five purges (minutes), of ten million every fifty, well inside the day of grace an
    /// expired session is kept anyway.
    public static let sessionSweepRows = 200_000
    /// Rows one write of the sweep looks at: the writer is never held by the purge for longer
    /// than a few milliseconds.
    static let sweepChunk = 20_000
    private let sessionSweepRows: Int
    /// The rowid after which the next sweep starts.
    private let sweepCursor = Mutex<Int64>(0)
    private let metrics: StoreMetrics

    /// Opens (creating if needed) the database at `path` and applies the migrations.
    /// `walCheckpointFrames`: see ``walCheckpointFrames``; the WAL file is cut back to that size
    /// whenever it starts over. `walRestartFrames`: see ``walRestartFrames``. `sessionSweepRows`:
    /// see ``sessionSweepRows``.
    public init(path: String, walCheckpointFrames: Int = SQLiteStore.walCheckpointFrames,
                walRestartFrames: Int = SQLiteStore.walRestartFrames,
                sessionSweepRows: Int = SQLiteStore.sessionSweepRows, metrics: StoreMetrics = .none) throws {
        self.metrics = metrics
        precondition(sessionSweepRows > 0, "a purge sweeps at least one row")
        self.sessionSweepRows = sessionSweepRows
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // The writer walks several indexes per logout or login; with SQLite's default 2 MB
            // page cache most of those pages come back through a read(2) each time.
            if !db.configuration.readonly {
                // Before the first table exists (a new file); SQLite ignores it for an existing one.
                try db.execute(sql: "PRAGMA page_size = \(Self.pageSize)")
                // 8 MB, not more: every commit on a database under 1 GB scans the writer's whole
                // page cache (SQLite's `balance_nonroot` renumbers split pages through the lock-byte
                // page, 524,289, which the cache keeps as its highest key, so the truncate at commit
                // takes its full-scan branch). At 32 MB that scan was 6.3 % of the write cycle's CPU.
                try db.execute(sql: "PRAGMA cache_size = -8192")
                // Checkpoints run beside the writer (see `checkpoints`), not inside every COMMIT
                // that crosses SQLite's default threshold of 1,000 frames: they were two thirds
                // of a logout's cost. The writer checkpoints only past `walCheckpointFrames`.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(walCheckpointFrames)")
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA journal_size_limit = \(walCheckpointFrames * pageSize)")
            }
        }
        // SQLite creates its -wal and -shm files with the database file's mode: 0600 for all three.
        for file in [path, path + "-wal", path + "-shm"] { try DataDirectory.securePrivateFile(file, create: file == path) }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError("cannot open the SQLite database at \(path): \(error)")
        }
        let restart = WALRestart(frames: walRestartFrames, uncopied: walRestartFrames / 4)
        commits = GroupCommit(pool: pool, metrics: metrics, betweenBatches: restart.writerIdle)
        let checkpointer: DatabaseQueue
        do { checkpointer = try DatabaseQueue(path: path, configuration: Self.sideConfiguration) } catch {
            throw StoreError("cannot open the SQLite database at \(path) for checkpoints: \(error)")
        }
        checkpoints = Task.detached(priority: .utility) {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                if let counts = try? await checkpointer.writeWithoutTransaction({ db in try db.checkpoint(.passive) }) {
                    restart.sideCheckpointed(walFrames: counts.walFrameCount, copied: counts.checkpointedFrameCount)
                }
            }
        }
        let migrator = Self.migrator
        let unknown: [String]
        do { unknown = try pool.read { db in try migrator.appliedIdentifiers(db).subtracting(migrator.migrations) }.sorted() } catch {
            throw StoreError("cannot read the schema version of \(path): \(error)")
        }
        // A newer Tessera migrated this file: running an older one on it could corrupt it.
        guard unknown.isEmpty else {
            throw StoreError("the database at \(path) has a newer schema than this Tessera knows (\(unknown.joined(separator: ", "))); upgrade Tessera")
        }
        do {
            try migrator.migrate(pool)
        } catch {
            throw StoreError("cannot open the SQLite database at \(path): \(error)")
        }
    }

    deinit { checkpoints.cancel() }

    /// Stops the side checkpointer and waits for a checkpoint in flight, so that nothing of the
    /// store holds a lock on the file once this returns.
    /// SQLite has no gauge to sample: its batches and operations are recorded as they happen.
    public func sampleGauges() {}

    public func close() async {
        checkpoints.cancel()
        await checkpoints.value
    }

    /// For a connection beside the pool (checkpoints, tools, tests): waits for locks instead of failing.
    public static var sideConfiguration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        return configuration
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: clients, pending logins, sessions, decisions, nonces, keys") { db in
            try db.execute(sql: """
                CREATE TABLE registered_client (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, software_id TEXT NOT NULL,
                    secret_digest BLOB NOT NULL, redirect_uris TEXT NOT NULL, issued_at INTEGER NOT NULL);
                CREATE TABLE pending_login (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, code_digest BLOB NOT NULL UNIQUE,
                    device_id TEXT NOT NULL, provider_id TEXT, description TEXT NOT NULL,
                    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, completed_session_id TEXT);
                CREATE INDEX pending_login_expiry ON pending_login(expires_at);
                CREATE TABLE login_attempt (
                    state_digest BLOB PRIMARY KEY, tenant_id TEXT NOT NULL,
                    pending_login_id TEXT NOT NULL REFERENCES pending_login(id) ON DELETE CASCADE,
                    provider_id TEXT NOT NULL, return_url TEXT NOT NULL, expires_at INTEGER NOT NULL,
                    failed_passwords INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX login_attempt_pending ON login_attempt(pending_login_id);
                CREATE TABLE session (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, device_id TEXT NOT NULL,
                    provider_id TEXT NOT NULL, user_id TEXT NOT NULL, device_user TEXT,
                    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                    UNIQUE (tenant_id, device_id));
                CREATE INDEX session_expiry ON session(expires_at);
                CREATE TABLE decision (
                    session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
                    resource TEXT NOT NULL, provider_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
                    PRIMARY KEY (session_id, resource));
                CREATE TABLE nonce (
                    tenant_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, nonce));
                CREATE TABLE signing_key (
                    kid TEXT PRIMARY KEY, algorithm TEXT NOT NULL, private_key_pem TEXT NOT NULL,
                    created_at INTEGER NOT NULL);
                CREATE TABLE provider_session (
                    digest BLOB PRIMARY KEY, provider_id TEXT NOT NULL, user_id TEXT NOT NULL,
                    expires_at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v2: TempPass trials and metadata versions") { db in
            try db.execute(sql: """
                CREATE TABLE temporary_access (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL, device_id TEXT NOT NULL,
                    identity_digest BLOB, started_at INTEGER, resources TEXT NOT NULL);
                CREATE INDEX temporary_access_device ON temporary_access(tenant_id, provider_id, device_id);
                CREATE INDEX temporary_access_identity ON temporary_access(tenant_id, provider_id, identity_digest);
                CREATE TABLE metadata_version (
                    provider_id TEXT NOT NULL, user_id TEXT NOT NULL, digest BLOB NOT NULL, updated_at INTEGER NOT NULL,
                    PRIMARY KEY (provider_id, user_id));
                """)
        }
        migrator.registerMigration("v3: expiry indexes for the purge") { db in
            // Without these the purge scans every decision (millions) inside a write transaction.
            try db.execute(sql: """
                CREATE INDEX decision_expiry ON decision(expires_at);
                CREATE INDEX nonce_expiry ON nonce(expires_at);
                CREATE INDEX provider_session_expiry ON provider_session(expires_at);
                CREATE INDEX login_attempt_expiry ON login_attempt(expires_at);
                """)
        }
        migrator.registerMigration("v4: when each client first got a token") { db in
            // Clients registered before this are taken as used: the upgrade purges none of them.
            try db.execute(sql: """
                ALTER TABLE registered_client ADD COLUMN first_token_at INTEGER;
                UPDATE registered_client SET first_token_at = issued_at;
                CREATE INDEX registered_client_unused ON registered_client(issued_at) WHERE first_token_at IS NULL;
                """)
        }
        migrator.registerMigration("v5: sessions of many kinds") { db in
            // SQLite cannot drop the (tenant, device) UNIQUE constraint: the table is rebuilt and
            // every row carried over as a v1 device login. A session whose subscriber is a TempPass
            // trial (its user id is the trial's) now names the trial in trial_id. Decisions keep
            // pointing at their session's id (foreign keys are off while a migration runs).
            try db.execute(sql: """
                CREATE TABLE session_v5 (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, kind TEXT NOT NULL, application_id TEXT,
                    provider_id TEXT NOT NULL, user_id TEXT NOT NULL, device_id TEXT, sso_key TEXT,
                    token_digest BLOB, refresh_digest BLOB, family_id TEXT, trial_id TEXT, device_user TEXT,
                    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL);
                INSERT INTO session_v5 (id, tenant_id, kind, application_id, provider_id, user_id, device_id, sso_key, token_digest,
                                        refresh_digest, family_id, trial_id, device_user, created_at, expires_at, last_used_at)
                    SELECT s.id, s.tenant_id, 'device', NULL, s.provider_id, s.user_id, s.device_id, NULL, NULL, NULL, NULL,
                           (SELECT t.id FROM temporary_access t
                            WHERE t.id = s.user_id AND t.tenant_id = s.tenant_id AND t.provider_id = s.provider_id),
                           s.device_user, s.created_at, s.expires_at, s.created_at
                    FROM session s;
                DROP TABLE session;
                ALTER TABLE session_v5 RENAME TO session;
                """)
            for index in SessionSQL.indexes { try db.execute(sql: index) }
        }
        migrator.registerMigration("v6: sessions purged by a sweep, not through an index of expiry times") { db in
            // Every logout deleted an entry of this index (on a page of its own, the session's
            // expiry being unrelated to anything near it) and every login added one, only so that
            // the purge could find the expired; the purge now sweeps the table (``purgeExpired``).
            // PostgreSQL keeps its index: there a DELETE leaves index entries for VACUUM to remove.
            try db.execute(sql: "DROP INDEX IF EXISTS session_expiry")
        }
        migrator.registerMigration("v7: the client address a session started from") { db in
            // Existing sessions keep everything they had; their address was never kept (NULL).
            try db.execute(sql: "ALTER TABLE session ADD COLUMN client_address TEXT")
        }
        migrator.registerMigration("v8: last-used times beside the sessions") { db in
            // Every session keeps the last-used time it has (session.last_used_at, which reads
            // take together with this table's). A migration that rebuilds the session table must
            // create the trigger again.
            try db.execute(sql: """
                CREATE TABLE session_use (session_id TEXT PRIMARY KEY, last_used_at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TRIGGER session_use_ends AFTER DELETE ON session BEGIN
                    DELETE FROM session_use WHERE session_id = old.id;
                END;
                """)
        }
        migrator.registerMigration("v9: user-session applications' key pairs, users' changed passwords") { db in
            // New: no existing rows to carry over. The private half is sealed (KeySealing).
            try db.execute(sql: """
                CREATE TABLE password_change (
                    provider_id TEXT NOT NULL, user_id TEXT NOT NULL, password_hash TEXT NOT NULL, changed_at INTEGER NOT NULL,
                    PRIMARY KEY (provider_id, user_id));
                CREATE TABLE application_key (
                    tenant_id TEXT NOT NULL, client_id TEXT NOT NULL, key_id TEXT NOT NULL, public_key BLOB NOT NULL,
                    sealed_private_key BLOB NOT NULL, created_at INTEGER NOT NULL, retired_at INTEGER,
                    PRIMARY KEY (tenant_id, client_id, key_id));
                """)
        }
        migrator.registerMigration("v10: signing keys sealed under the key-encryption key") { db in
            // Existing keys stay as they are (clear, in private_key_pem) until a start seals them
            // (TokenAuthority.load): SQL cannot encrypt. A sealed key leaves private_key_pem ''.
            try db.execute(sql: "ALTER TABLE signing_key ADD COLUMN sealed_private_key BLOB")
        }
        migrator.registerMigration("v11: degradation rules") { db in
            // New: no existing rows to carry over.
            try db.execute(sql: """
                CREATE TABLE degradation_rule (
                    tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL, kind TEXT NOT NULL, details TEXT, created_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, provider_id, kind));
                """)
        }
        migrator.registerMigration("v12: sessions by TempPass trial") { db in
            // An index only: every row stays as it is.
            try db.execute(sql: SessionSQL.trialIndex)
        }
        migrator.registerMigration("v13: sessions counted by kind") { db in
            // The `tessera_sessions` gauge without a scan of the session table: triggers keep a
            // row count per kind, started from the rows there are (carried over once, here). A
            // session's kind never changes after its insert, so no UPDATE trigger.
            try db.execute(sql: """
                CREATE TABLE session_count (kind TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO session_count (kind, n) SELECT kind, count(*) FROM session GROUP BY kind;
                CREATE TRIGGER session_counted AFTER INSERT ON session BEGIN
                    INSERT OR IGNORE INTO session_count (kind, n) VALUES (NEW.kind, 0);
                    UPDATE session_count SET n = n + 1 WHERE kind = NEW.kind;
                END;
                CREATE TRIGGER session_uncounted AFTER DELETE ON session BEGIN
                    UPDATE session_count SET n = n - 1 WHERE kind = OLD.kind;
                END;
                """)
        }
        migrator.registerMigration("v14: what upstream OpenID Connect providers said of each session") { db in
            // A new table: no session has one yet. The tokens are sealed under the key-encryption
            // key; the row goes with its session (trigger), whatever ends it.
            try db.execute(sql: """
                CREATE TABLE upstream_login (
                    session_id TEXT PRIMARY KEY, provider_id TEXT NOT NULL, subject_id TEXT NOT NULL, provider_session_id TEXT,
                    claims TEXT NOT NULL, id_token BLOB, refresh_token BLOB);
                CREATE INDEX upstream_login_provider_session ON upstream_login(provider_id, provider_session_id)
                    WHERE provider_session_id IS NOT NULL;
                CREATE INDEX upstream_login_subject ON upstream_login(provider_id, subject_id);
                CREATE TRIGGER upstream_login_ends AFTER DELETE ON session BEGIN
                    DELETE FROM upstream_login WHERE session_id = OLD.id;
                END;
                """)
        }
        migrator.registerMigration("v15: logout deliveries") { db in
            // An outbox the session table's triggers fill, in the transaction that ends a session:
            // a refresh token to revoke at an upstream provider (the upstream row's sealed token
            // moves here), and, for the tenants listed in `backchannel_tenant`, a logout to tell
            // their services, except when the purge ends a session (it marks `purge_marker`
            // within its own write: expiry is not a logout). New tables; no row to carry over.
            try db.execute(sql: """
                CREATE TABLE logout_delivery (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL,
                    session_id TEXT NOT NULL, user_id TEXT NOT NULL, token BLOB, created_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, claimed_until INTEGER);
                CREATE INDEX logout_delivery_due ON logout_delivery(next_attempt_at);
                CREATE TABLE backchannel_tenant (tenant_id TEXT PRIMARY KEY) WITHOUT ROWID;
                CREATE TABLE purge_marker (running INTEGER PRIMARY KEY);
                DROP TRIGGER upstream_login_ends;
                CREATE TRIGGER upstream_login_ends AFTER DELETE ON session BEGIN
                    INSERT INTO logout_delivery (kind, tenant_id, provider_id, session_id, user_id, token, created_at)
                        SELECT 'revoke', OLD.tenant_id, u.provider_id, u.session_id, u.subject_id, u.refresh_token,
                               CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                        FROM upstream_login u WHERE u.session_id = OLD.id AND u.refresh_token IS NOT NULL;
                    DELETE FROM upstream_login WHERE session_id = OLD.id;
                END;
                CREATE TRIGGER session_logout_delivery AFTER DELETE ON session
                WHEN EXISTS (SELECT 1 FROM backchannel_tenant WHERE tenant_id = OLD.tenant_id) AND NOT EXISTS (SELECT 1 FROM purge_marker)
                BEGIN
                    INSERT INTO logout_delivery (kind, tenant_id, provider_id, session_id, user_id, created_at)
                    VALUES ('programmer', OLD.tenant_id, OLD.provider_id, OLD.id, OLD.user_id,
                            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
                END;
                """)
        }
        return migrator
    }

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await metrics.time(metrics.writes) { try await commits.write(body) } } catch let error as StoreError { throw error } catch {
            throw StoreError("SQLite write failed: \(error)")
        }
    }

    private func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await metrics.time(metrics.reads) { try await pool.read(body) } } catch { throw StoreError("SQLite read failed: \(error)") }
    }

    // MARK: Clients

    public func insert(_ client: RegisteredClient) async throws {
        let uris = String(decoding: try JSONEncoder().encode(client.redirectURIs), as: UTF8.self)
        try await write { db in
            try db.run(sql: "INSERT INTO registered_client (id, tenant_id, software_id, secret_digest, redirect_uris, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [client.id, client.tenantID, client.softwareID, client.secretDigest.bytes, uris, client.issuedAt.epochMilliseconds])
        }
    }

    public func client(id: String) async throws -> RegisteredClient? {
        try await read { db in
            try db.row(sql: "SELECT * FROM registered_client WHERE id = ?", arguments: [id]).map { row in
                let uris = try JSONDecoder().decode([String].self, from: Data((row["redirect_uris"] as String).utf8))
                return RegisteredClient(
                    id: row["id"], tenantID: row["tenant_id"], softwareID: row["software_id"],
                    secretDigest: SecretDigest(bytes: row["secret_digest"]), redirectURIs: uris,
                    issuedAt: Date(epochMilliseconds: row["issued_at"]),
                    firstTokenAt: (row["first_token_at"] as Int64?).map(Date.init(epochMilliseconds:)))
            }
        }
    }

    public func deleteClient(id: String, tenantID: String) async throws -> Bool {
        try await write { db in
            try db.run(sql: "DELETE FROM registered_client WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
            return db.changesCount > 0
        }
    }

    public func markFirstToken(clientID: String, at date: Date) async throws {
        try await write { db in
            try db.run(sql: "UPDATE registered_client SET first_token_at = ? WHERE id = ? AND first_token_at IS NULL",
                       arguments: [date.epochMilliseconds, clientID])
        }
    }

    // MARK: Pending logins

    public func insert(_ login: PendingLogin) async throws -> Bool {
        let description = String(decoding: try JSONEncoder().encode(login.description), as: UTF8.self)
        return try await write { db in
            // An expired code with the same digest may still wait for the purge: it is dead, replace it.
            try db.run(sql: "DELETE FROM pending_login WHERE code_digest = ? AND expires_at <= ?",
                           arguments: [login.codeDigest.bytes, login.createdAt.epochMilliseconds])
            if try db.bool(sql: "SELECT 1 FROM pending_login WHERE code_digest = ?", arguments: [login.codeDigest.bytes]) != nil {
                return false
            }
            try db.run(sql: """
                    INSERT INTO pending_login (id, tenant_id, code_digest, device_id, provider_id, description, created_at, expires_at, completed_session_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [login.id.canonicalText, login.device.tenantID, login.codeDigest.bytes, login.device.deviceID, login.providerID,
                            description, login.createdAt.epochMilliseconds, login.expiresAt.epochMilliseconds, login.completedSessionID?.canonicalText])
            return true
        }
    }

    public func pendingLogin(codeDigest: SecretDigest) async throws -> PendingLogin? {
        try await read { db in
            try db.row(sql: "SELECT * FROM pending_login WHERE code_digest = ?", arguments: [codeDigest.bytes]).map(Self.pendingLogin(from:))
        }
    }

    public func pendingLogin(id: UUID) async throws -> PendingLogin? {
        try await read { db in
            try db.row(sql: "SELECT * FROM pending_login WHERE id = ?", arguments: [id.canonicalText]).map(Self.pendingLogin(from:))
        }
    }

    public func deletePendingLogin(codeDigest: SecretDigest) async throws -> Bool {
        try await write { db in
            try db.run(sql: "DELETE FROM pending_login WHERE code_digest = ?", arguments: [codeDigest.bytes])
            return db.changesCount > 0
        }
    }

    static func pendingLogin(from row: Row) throws -> PendingLogin {
        let description = try JSONDecoder().decode(DeviceDescription.self, from: Data((row["description"] as String).utf8))
        return PendingLogin(
            id: try uuid(row["id"]), codeDigest: SecretDigest(bytes: row["code_digest"]),
            device: DeviceKey(tenantID: row["tenant_id"], deviceID: row["device_id"]),
            providerID: row["provider_id"], description: description,
            createdAt: Date(epochMilliseconds: row["created_at"]), expiresAt: Date(epochMilliseconds: row["expires_at"]),
            completedSessionID: try (row["completed_session_id"] as String?).map(uuid))
    }

    static func uuid(_ text: String) throws -> UUID {
        guard let id = UUID(canonicalText: text) else { throw StoreError("stored id \(text) is not a UUID") }
        return id
    }

    public func updatePendingLogin(id: UUID, providerID: String?, description: DeviceDescription) async throws -> Bool {
        let text = String(decoding: try JSONEncoder().encode(description), as: UTF8.self)
        return try await write { db in
            try db.run(sql: "UPDATE pending_login SET provider_id = ?, description = ? WHERE id = ? AND completed_session_id IS NULL",
                       arguments: [providerID, text, id.canonicalText])
            return db.changesCount == 1
        }
    }

    // MARK: Degradation rules

    public func degradationRules() async throws -> [DegradationRule] {
        try await read { db in
            try db.rows(sql: "SELECT tenant_id, provider_id, kind, details FROM degradation_rule ORDER BY tenant_id, provider_id, kind").compactMap { row in
                DegradationRule.Kind(rawValue: row["kind"]).map {
                    DegradationRule(tenantID: row["tenant_id"], providerID: row["provider_id"], kind: $0, details: row["details"])
                }
            }
        }
    }

    public func setDegradationRule(_ rule: DegradationRule, now: Date) async throws {
        try await write { db in
            let replaced = rule.kind.isAuthorization ? DegradationRule.Kind.allCases.filter(\.isAuthorization) : [rule.kind]
            for kind in replaced {
                try db.run(sql: "DELETE FROM degradation_rule WHERE tenant_id = ? AND provider_id = ? AND kind = ?",
                           arguments: [rule.tenantID, rule.providerID, kind.rawValue])
            }
            try db.run(sql: "INSERT INTO degradation_rule (tenant_id, provider_id, kind, details, created_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [rule.tenantID, rule.providerID, rule.kind.rawValue, rule.details, now.epochMilliseconds])
        }
    }

    public func clearDegradationRules(tenantID: String, providerID: String, kind: DegradationRule.Kind?) async throws -> Int {
        try await write { db in
            try db.run(sql: "DELETE FROM degradation_rule WHERE tenant_id = ? AND provider_id = ? AND (? IS NULL OR kind = ?)",
                       arguments: [tenantID, providerID, kind?.rawValue, kind?.rawValue])
            return db.changesCount
        }
    }

    // MARK: Login attempts

    public func insert(_ attempt: LoginAttempt) async throws {
        try await write { db in
            try db.run(sql: """
                    INSERT INTO login_attempt (state_digest, tenant_id, pending_login_id, provider_id, return_url, expires_at, failed_passwords)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [attempt.stateDigest.bytes, attempt.tenantID, attempt.pendingLoginID.canonicalText, attempt.providerID,
                            attempt.returnURL, attempt.expiresAt.epochMilliseconds, attempt.failedPasswords])
        }
    }

    public func loginAttempt(stateDigest: SecretDigest) async throws -> LoginAttempt? {
        try await read { db in
            try db.row(sql: "SELECT * FROM login_attempt WHERE state_digest = ?", arguments: [stateDigest.bytes]).map { row in
                LoginAttempt(
                    stateDigest: SecretDigest(bytes: row["state_digest"]), tenantID: row["tenant_id"],
                    pendingLoginID: try Self.uuid(row["pending_login_id"]), providerID: row["provider_id"],
                    returnURL: row["return_url"], expiresAt: Date(epochMilliseconds: row["expires_at"]),
                    failedPasswords: row["failed_passwords"])
            }
        }
    }

    public func recordFailedPassword(stateDigest: SecretDigest, limit: Int) async throws -> Int {
        try await write { db in
            try db.run(sql: "UPDATE login_attempt SET failed_passwords = failed_passwords + 1 WHERE state_digest = ?",
                           arguments: [stateDigest.bytes])
            let count = try db.int(sql: "SELECT failed_passwords FROM login_attempt WHERE state_digest = ?",
                                         arguments: [stateDigest.bytes]) ?? limit
            if count >= limit {
                try db.run(sql: "DELETE FROM login_attempt WHERE state_digest = ?", arguments: [stateDigest.bytes])
            }
            return count
        }
    }

    // MARK: Sessions

    public func completeLogin(attemptDigest: SecretDigest, session: Session, alsoStarting: [Session], upstream: UpstreamLogin?,
                              now: Date) async throws -> LoginCompletion {
        let upstreamRows = try upstream.map { try Self.upstreamRows($0, sessions: [session] + alsoStarting) } ?? []
        return try await write { db in
            guard let attempt = try db.row(sql: "SELECT pending_login_id, expires_at FROM login_attempt WHERE state_digest = ?",
                                                 arguments: [attemptDigest.bytes]),
                  (attempt["expires_at"] as Int64) > now.epochMilliseconds
            else { return .attemptNotFound }
            let pendingID: String = attempt["pending_login_id"]
            guard let row = try db.row(sql: "SELECT * FROM pending_login WHERE id = ?", arguments: [pendingID]) else {
                return .codeNotFound
            }
            let pending = try Self.pendingLogin(from: row)
            if pending.completedSessionID != nil { return .codeAlreadyUsed }
            if pending.isExpired(at: now) { return .codeExpired }
            try db.run(sql: "DELETE FROM login_attempt WHERE pending_login_id = ?", arguments: [pendingID])
            try db.run(sql: "UPDATE pending_login SET completed_session_id = ? WHERE id = ?", arguments: [session.id.canonicalText, pendingID])
            try Self.startDiscardingEnded(session, in: db)
            for other in alsoStarting { try Self.startDiscardingEnded(other, in: db) }
            for row in upstreamRows {
                try db.run(sql: """
                    INSERT INTO upstream_login (session_id, provider_id, subject_id, provider_session_id, claims, id_token, refresh_token)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: row)
            }
            var completed = pending
            completed.completedSessionID = session.id
            return .completed(completed)
        }
    }

    /// The rows of `upstream` for each of `sessions`: the tokens with the first only.
    static func upstreamRows(_ upstream: UpstreamLogin, sessions: [Session]) throws -> [StatementArguments] {
        let claims = String(decoding: try UpstreamLoginCoding.encode(upstream.claims), as: UTF8.self)
        return sessions.enumerated().map { index, session in
            [session.id.canonicalText, upstream.providerID, upstream.subjectID, upstream.providerSessionID, claims,
             index == 0 ? upstream.sealedIDToken : nil, index == 0 ? upstream.sealedRefreshToken : nil]
        }
    }

    public func upstreamLogin(sessionID: UUID) async throws -> UpstreamLogin? {
        try await read { db in
            guard let row = try db.row(sql: "SELECT * FROM upstream_login WHERE session_id = ?", arguments: [sessionID.canonicalText]) else {
                return nil
            }
            return UpstreamLogin(sessionID: sessionID, providerID: row["provider_id"], subjectID: row["subject_id"],
                                 providerSessionID: row["provider_session_id"],
                                 claims: try UpstreamLoginCoding.decode(Data((row["claims"] as String).utf8)),
                                 sealedIDToken: row["id_token"], sealedRefreshToken: row["refresh_token"])
        }
    }

    // MARK: Logout deliveries

    public func setBackchannelTenants(_ tenantIDs: Set<String>) async throws {
        try await write { db in
            try db.run(sql: "DELETE FROM backchannel_tenant")
            for id in tenantIDs.sorted() { try db.run(sql: "INSERT INTO backchannel_tenant (tenant_id) VALUES (?)", arguments: [id]) }
        }
    }

    public func claimLogoutDeliveries(now: Date, lease: TimeInterval, limit: Int) async throws -> [LogoutDelivery] {
        let at = now.epochMilliseconds, until = now.addingTimeInterval(lease).epochMilliseconds
        // A read first: the loop asks every second, and most of the time nothing is due (no write then).
        let due = try await read { db in
            try db.int(sql: "SELECT 1 FROM logout_delivery WHERE next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1) LIMIT 1",
                       arguments: [at]) != nil
        }
        guard due else { return [] }
        return try await write { db in
            let rows = try db.rows(sql: """
                UPDATE logout_delivery SET claimed_until = ?1
                WHERE id IN (SELECT id FROM logout_delivery WHERE next_attempt_at <= ?2 AND (claimed_until IS NULL OR claimed_until <= ?2)
                             ORDER BY next_attempt_at, id LIMIT ?3)
                RETURNING id, kind, tenant_id, provider_id, session_id, user_id, token, attempts
                """, arguments: [until, at, limit])
            return try rows.compactMap { row -> LogoutDelivery? in
                guard let kind = LogoutDelivery.Kind(rawValue: row["kind"]) else { return nil }
                return LogoutDelivery(id: row["id"], kind: kind, tenantID: row["tenant_id"], providerID: row["provider_id"],
                                      sessionID: try Self.uuid(row["session_id"]), userID: row["user_id"], sealedToken: row["token"],
                                      attempts: row["attempts"])
            }.sorted { $0.id < $1.id }
        }
    }

    public func finishLogoutDelivery(id: Int64) async throws {
        try await write { db in try db.run(sql: "DELETE FROM logout_delivery WHERE id = ?", arguments: [id]) }
    }

    public func retryLogoutDelivery(id: Int64, at: Date) async throws {
        try await write { db in
            try db.run(sql: "UPDATE logout_delivery SET attempts = attempts + 1, next_attempt_at = ?, claimed_until = NULL WHERE id = ?",
                       arguments: [at.epochMilliseconds, id])
        }
    }

    public func pendingLogoutDeliveries() async throws -> Int {
        try await read { db in try db.int(sql: "SELECT count(*) FROM logout_delivery") ?? 0 }
    }

    public func upstreamSessions(providerID: String, providerSessionID: String?, subjectID: String?) async throws -> [(tenantID: String, sessionID: UUID)] {
        try await read { db in
            let rows: [Row]
            if let sid = providerSessionID {
                rows = try db.rows(sql: """
                    SELECT s.tenant_id, s.id FROM upstream_login u JOIN session s ON s.id = u.session_id
                    WHERE u.provider_id = ? AND u.provider_session_id = ?
                    """, arguments: [providerID, sid])
            } else if let sub = subjectID {
                rows = try db.rows(sql: """
                    SELECT s.tenant_id, s.id FROM upstream_login u JOIN session s ON s.id = u.session_id
                    WHERE u.provider_id = ? AND u.subject_id = ?
                    """, arguments: [providerID, sub])
            } else {
                rows = []
            }
            return try rows.map { (tenantID: $0["tenant_id"] as String, sessionID: try Self.uuid($0["id"])) }
        }
    }

    public func startSession(_ session: Session, creating trial: TemporaryAccess?, limit: SessionLimit?) async throws -> [Session] {
        let resources = try trial.map { try Self.storedResources($0.resources) }
        return try await write { db in
            if let trial, let resources { try Self.insert(trial, resources: resources, in: db) }
            return try Self.start(session, limit: limit, in: db)
        }
    }

    /// The sessions `session` replaces go (their decisions with them, ON DELETE CASCADE), then,
    /// with `limit`, the oldest of its subject's live ones past the limit; then `session` is stored.
    static func start(_ session: Session, limit: SessionLimit?, in db: Database) throws -> [Session] {
        var ended: [Session] = []
        if let replaced = session.replaces { ended = try revoke(replaced, in: db) }
        if let limit {
            let live = try db.rows(sql: """
                SELECT id FROM session WHERE tenant_id = ? AND user_id = ? AND provider_id = ? AND kind = ? AND application_id IS ?
                AND expires_at > ? ORDER BY created_at, id
                """, arguments: [session.tenantID, session.subject.userID, session.subject.providerID, session.kind.rawValue,
                                 session.applicationID, session.createdAt.epochMilliseconds])
            for row in live.prefix(max(0, live.count - limit.perSubject + 1)) {
                ended += try revoke(SessionSelector(tenantID: session.tenantID, .id(try uuid(row["id"]))), in: db)
            }
        }
        try insert(session, in: db)
        return ended
    }

    static let insertSession = "INSERT INTO session (\(SessionSQL.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    /// A v1 login's row: the columns a device login has, the others NULL (fewer values to bind).
    static let insertDeviceLogin = """
        INSERT INTO session (id, tenant_id, kind, provider_id, user_id, device_id, trial_id, device_user, created_at, expires_at, last_used_at)
        VALUES (?, ?, 'device', ?, ?, ?, ?, ?, ?, ?, ?)
        """
    static let deleteDeviceLogin = "DELETE FROM session WHERE tenant_id = ? AND device_id = ? AND kind = 'device'"

    /// ``start(_:limit:in:)`` for the writes whose callers do not want the ended sessions (a
    /// login by code, a TempPass start): a v1 login is then a plain DELETE and a short INSERT, on
    /// the writer's hot path of every login.
    static func startDiscardingEnded(_ session: Session, in db: Database) throws {
        guard session.kind == .deviceLogin, let deviceID = session.deviceID, session.applicationID == nil, session.ssoKey == nil,
              session.tokenDigest == nil, session.refreshDigest == nil, session.familyID == nil
        else { _ = try start(session, limit: nil, in: db); return }
        try db.run(sql: deleteDeviceLogin, arguments: [session.tenantID, deviceID])
        try db.run(sql: insertDeviceLogin, arguments: [
            session.id.canonicalText, session.tenantID, session.subject.providerID, session.subject.userID, deviceID,
            session.trialID?.canonicalText, session.deviceUser, session.createdAt.epochMilliseconds, session.expiresAt.epochMilliseconds,
            session.lastUsedAt.epochMilliseconds])
    }

    static func insert(_ session: Session, in db: Database) throws {
        try db.run(sql: insertSession,
            arguments: [session.id.canonicalText, session.tenantID, session.kind.rawValue, session.applicationID, session.subject.providerID,
                        session.subject.userID, session.deviceID, session.ssoKey, session.tokenDigest?.bytes, session.refreshDigest?.bytes,
                        session.familyID?.canonicalText, session.trialID?.canonicalText, session.deviceUser, session.createdAt.epochMilliseconds,
                        session.expiresAt.epochMilliseconds, session.lastUsedAt.epochMilliseconds, session.clientAddress])
    }

    static func arguments(_ values: [SessionSQL.Value]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case .text(let text): text
            case .blob(let data): data
            case .uuid(let id): id.canonicalText
            }
        })
    }

    /// A v1 device's login, the selector of every v1 login and logout: one statement text, made once.
    static let revokeDeviceLogin = "DELETE FROM session WHERE tenant_id = ? AND device_id = ? AND kind = 'device' RETURNING \(SessionSQL.columns)"

    static func revoke(_ selector: SessionSelector, in db: Database) throws -> [Session] {
        if case .device(let device) = selector.key, selector.isDeviceLoginOnly, selector.applicationID == nil {
            return try db.sessions(sql: revokeDeviceLogin, arguments: [selector.tenantID, device])
        }
        var ended: [Session] = []
        for filter in SessionSQL.filters(selector) {
            ended += try db.sessions(sql: "DELETE FROM session WHERE \(filter.sql) RETURNING \(SessionSQL.columns)",
                                     arguments: arguments(filter.values))
        }
        return ended
    }

    /// ``SessionSQL/columns`` for a SELECT: the last-used time is the later of the row's and
    /// the one ``recordUse(_:)`` keeps beside it in `session_use` (v8). Rows a DELETE returns carry
    /// the row's own, which is all an ended session needs.
    static let selectColumns = SessionSQL.Column.allCases.map { column in
        column == .lastUsedAt
            ? "max(last_used_at, coalesce((SELECT u.last_used_at FROM session_use u WHERE u.session_id = session.id), 0))"
            : column.name
    }.joined(separator: ", ")

    static let deviceLogin = "SELECT \(selectColumns) FROM session WHERE tenant_id = ? AND device_id = ? AND kind = 'device'"

    public func session(device: DeviceKey) async throws -> Session? {
        try await read { db in
            try db.sessions(sql: Self.deviceLogin, arguments: [device.tenantID, device.deviceID]).first
        }
    }

    public func session(id: UUID) async throws -> Session? {
        try await read { db in
            try db.sessions(sql: "SELECT \(Self.selectColumns) FROM session WHERE id = ?", arguments: [id.canonicalText]).first
        }
    }

    public func sessions(_ selector: SessionSelector) async throws -> [Session] {
        try await read { db in
            var found: [Session] = []
            for filter in SessionSQL.filters(selector) {
                found += try db.sessions(sql: "SELECT \(Self.selectColumns) FROM session WHERE \(filter.sql)",
                                         arguments: Self.arguments(filter.values))
            }
            return found.sorted { ($0.createdAt, $0.id.orderKey.0, $0.id.orderKey.1) < ($1.createdAt, $1.id.orderKey.0, $1.id.orderKey.1) }
        }
    }

    public func revokeSessions(_ selector: SessionSelector) async throws -> [Session] {
        try await write { db in try Self.revoke(selector, in: db) }
    }

    /// Into `session_use` (v8), a narrow table beside the sessions: a use rewrites a page of
    /// rows of two short columns rather than a page of whole sessions, about a sixth of the pages
    /// (and of the WAL and checkpoint work) for the same uses. Uses of sessions that are gone
    /// are dropped; a trigger drops a session's row with the session.
    public func recordUse(_ uses: [SessionUse]) async throws {
        guard !uses.isEmpty else { return }
        try await write { db in
            for use in uses {
                try db.run(sql: """
                    INSERT INTO session_use (session_id, last_used_at) SELECT id, ?1 FROM session WHERE id = ?2
                    ON CONFLICT (session_id) DO UPDATE SET last_used_at = excluded.last_used_at
                    WHERE excluded.last_used_at > session_use.last_used_at
                    """, arguments: [use.at.epochMilliseconds, use.sessionID.canonicalText])
            }
        }
    }

    /// A row of ``SessionSQL/columns``, by position.
    static func session(from row: Row) throws -> Session {
        typealias C = SessionSQL.Column
        let kindName: String = row[C.kind.rawValue]
        guard let kind = SessionKind(rawValue: kindName) else { throw StoreError("stored session kind \(kindName) is unknown") }
        return Session(
            id: try uuid(row[C.id.rawValue]), tenantID: row[C.tenantID.rawValue], kind: kind, applicationID: row[C.applicationID.rawValue],
            subject: Subject(userID: row[C.userID.rawValue], providerID: row[C.providerID.rawValue]),
            deviceID: row[C.deviceID.rawValue], ssoKey: row[C.ssoKey.rawValue],
            tokenDigest: (row[C.tokenDigest.rawValue] as Data?).map(SecretDigest.init(bytes:)),
            refreshDigest: (row[C.refreshDigest.rawValue] as Data?).map(SecretDigest.init(bytes:)),
            familyID: try (row[C.familyID.rawValue] as String?).map(uuid), trialID: try (row[C.trialID.rawValue] as String?).map(uuid),
            deviceUser: row[C.deviceUser.rawValue], createdAt: Date(epochMilliseconds: row[C.createdAt.rawValue]),
            expiresAt: Date(epochMilliseconds: row[C.expiresAt.rawValue]), lastUsedAt: Date(epochMilliseconds: row[C.lastUsedAt.rawValue]),
            clientAddress: row[C.clientAddress.rawValue])
    }

    // MARK: Decisions

    public func upsert(_ decision: Decision) async throws {
        try await write { db in
            try db.run(sql: "INSERT OR REPLACE INTO decision (session_id, resource, provider_id, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [decision.sessionID.canonicalText, decision.resource, decision.providerID, decision.expiresAt.epochMilliseconds])
        }
    }

    public func decision(sessionID: UUID, resource: String) async throws -> Decision? {
        try await read { db in
            try db.row(sql: "SELECT \(Self.decisionColumns) FROM decision WHERE session_id = ? AND resource = ?",
                             arguments: [sessionID.canonicalText, resource]).map(Self.decision(from:))
        }
    }

    public func decisions(sessionID: UUID) async throws -> [Decision] {
        try await read { db in
            try db.rows(sql: "SELECT \(Self.decisionColumns) FROM decision WHERE session_id = ? ORDER BY resource",
                             arguments: [sessionID.canonicalText]).map(Self.decision(from:))
        }
    }

    /// What ``decision(from:)`` decodes, by position.
    static let decisionColumns = "session_id, resource, provider_id, expires_at"

    static func decision(from row: Row) throws -> Decision {
        Decision(sessionID: try uuid(row[0]), resource: row[1], providerID: row[2], expiresAt: Date(epochMilliseconds: row[3]))
    }

    // MARK: Nonces

    public func claimNonce(tenantID: String, nonce: String, expiresAt: Date) async throws -> Bool {
        try await write { db in
            try db.run(sql: "INSERT OR IGNORE INTO nonce (tenant_id, nonce, expires_at) VALUES (?, ?, ?)",
                           arguments: [tenantID, nonce, expiresAt.epochMilliseconds])
            return db.changesCount == 1
        }
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await read { db in
            try db.rows(sql: "SELECT * FROM signing_key ORDER BY created_at, kid").map { row in
                let sealed: Data? = row["sealed_private_key"]
                return StoredSigningKey(kid: row["kid"], algorithm: row["algorithm"],
                                        privateKey: sealed.map { .sealed($0) } ?? .clear(row["private_key_pem"]),
                                        createdAt: Date(epochMilliseconds: row["created_at"]))
            }
        }
    }

    public func insertUnlessAlgorithmHasKey(_ key: StoredSigningKey) async throws {
        let (clear, sealed) = key.privateKey.columns
        try await write { db in
            try db.run(sql: """
                    INSERT INTO signing_key (kid, algorithm, private_key_pem, sealed_private_key, created_at) SELECT ?, ?, ?, ?, ?
                    WHERE NOT EXISTS (SELECT 1 FROM signing_key WHERE algorithm = ? OR kid = ?)
                    """,
                arguments: [key.kid, key.algorithm, clear, sealed, key.createdAt.epochMilliseconds, key.algorithm, key.kid])
        }
    }

    /// Once per key, at the first start after an upgrade: the clear text is overwritten with
    /// zeros where it stood (`secure_delete`), and the WAL's copies of earlier pages go with a
    /// truncating checkpoint, so that the file keeps no trace of it.
    public func sealSigningKey(kid: String, sealed: Data) async throws {
        do {
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA secure_delete = ON")
                defer { try? db.execute(sql: "PRAGMA secure_delete = OFF") }
                try db.inTransaction {
                    try db.run(sql: "UPDATE signing_key SET sealed_private_key = ?, private_key_pem = '' WHERE kid = ? AND sealed_private_key IS NULL",
                               arguments: [sealed, kid])
                    return .commit
                }
                // A truncating checkpoint waits for every reader of the WAL; under load that can
                // outlast the busy timeout once: try again a few times before failing the start.
                for attempt in 1... {
                    do { try db.checkpoint(.truncate); break } catch where attempt < 5 { usleep(200_000) }
                }
            }
        } catch {
            throw StoreError("SQLite write failed: \(error)")
        }
    }

    public func resealKeys(_ reseal: @escaping @Sendable (KeySealing.Owner, Data) throws -> Data) async throws -> Int {
        try await write { db in
            var count = 0
            for row in try db.rows(sql: "SELECT kid, algorithm, sealed_private_key FROM signing_key WHERE sealed_private_key IS NOT NULL") {
                let kid: String = row["kid"]
                let resealed = try reseal(.signingKey(kid: kid, algorithm: row["algorithm"]), row["sealed_private_key"])
                try db.run(sql: "UPDATE signing_key SET sealed_private_key = ? WHERE kid = ?", arguments: [resealed, kid])
                count += 1
            }
            for row in try db.rows(sql: "SELECT tenant_id, client_id, key_id, sealed_private_key FROM application_key") {
                let (tenantID, clientID, keyID): (String, String, String) = (row["tenant_id"], row["client_id"], row["key_id"])
                let resealed = try reseal(.application(tenantID: tenantID, clientID: clientID, keyID: keyID), row["sealed_private_key"])
                try db.run(sql: "UPDATE application_key SET sealed_private_key = ? WHERE tenant_id = ? AND client_id = ? AND key_id = ?",
                           arguments: [resealed, tenantID, clientID, keyID])
                count += 1
            }
            for row in try db.rows(sql: "SELECT id, session_id, token FROM logout_delivery WHERE token IS NOT NULL") {
                let id: String = row["session_id"]
                guard let sessionID = UUID(uuidString: id) else { continue }
                let resealed = try reseal(.upstreamToken(sessionID: sessionID, kind: UpstreamLoginCoding.refreshToken), row["token"])
                try db.run(sql: "UPDATE logout_delivery SET token = ? WHERE id = ?", arguments: [resealed, row["id"] as Int64])
                count += 1
            }
            for row in try db.rows(sql: "SELECT session_id, id_token, refresh_token FROM upstream_login WHERE id_token IS NOT NULL OR refresh_token IS NOT NULL") {
                let id: String = row["session_id"]
                guard let sessionID = UUID(uuidString: id) else { continue }
                for (column, kind) in [("id_token", UpstreamLoginCoding.idToken), ("refresh_token", UpstreamLoginCoding.refreshToken)] {
                    guard let sealed: Data = row[column] else { continue }
                    let resealed = try reseal(.upstreamToken(sessionID: sessionID, kind: kind), sealed)
                    try db.run(sql: "UPDATE upstream_login SET \(column) = ? WHERE session_id = ?", arguments: [resealed, id])
                    count += 1
                }
            }
            return count
        }
    }

    // MARK: Application keys

    public func applicationKeys(tenantID: String, clientID: String) async throws -> [ApplicationKey] {
        try await read { db in
            try db.rows(sql: "SELECT * FROM application_key WHERE tenant_id = ? AND client_id = ? ORDER BY created_at, key_id",
                        arguments: [tenantID, clientID]).map { row in
                ApplicationKey(tenantID: row["tenant_id"], clientID: row["client_id"], keyID: row["key_id"], publicKeyDER: row["public_key"],
                               sealedPrivateKey: row["sealed_private_key"], createdAt: Date(epochMilliseconds: row["created_at"]),
                               retiredAt: (row["retired_at"] as Int64?).map { Date(epochMilliseconds: $0) })
            }
        }
    }

    public func insertUnlessApplicationHasKey(_ key: ApplicationKey) async throws {
        try await write { db in
            try db.run(sql: """
                    INSERT INTO application_key (tenant_id, client_id, key_id, public_key, sealed_private_key, created_at)
                    SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (
                        SELECT 1 FROM application_key WHERE tenant_id = ? AND client_id = ? AND retired_at IS NULL)
                    """,
                arguments: [key.tenantID, key.clientID, key.keyID, key.publicKeyDER, key.sealedPrivateKey, key.createdAt.epochMilliseconds,
                            key.tenantID, key.clientID])
        }
    }

    public func rotate(to key: ApplicationKey) async throws {
        try await write { db in
            try db.run(sql: "UPDATE application_key SET retired_at = ? WHERE tenant_id = ? AND client_id = ? AND retired_at IS NULL",
                       arguments: [key.createdAt.epochMilliseconds, key.tenantID, key.clientID])
            try db.run(sql: """
                    INSERT INTO application_key (tenant_id, client_id, key_id, public_key, sealed_private_key, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [key.tenantID, key.clientID, key.keyID, key.publicKeyDER, key.sealedPrivateKey, key.createdAt.epochMilliseconds])
        }
    }

    // MARK: Changed passwords

    public func passwordChange(providerID: String, userID: String) async throws -> PasswordChange? {
        try await read { db in
            guard let row = try db.rows(sql: "SELECT password_hash, changed_at FROM password_change WHERE provider_id = ? AND user_id = ?",
                                        arguments: [providerID, userID]).first,
                  let hash = PasswordHash(encoded: row["password_hash"])
            else { return nil }
            return PasswordChange(providerID: providerID, userID: userID, passwordHash: hash, changedAt: Date(epochMilliseconds: row["changed_at"]))
        }
    }

    public func record(_ change: PasswordChange) async throws {
        try await write { db in
            try db.run(sql: """
                    INSERT INTO password_change (provider_id, user_id, password_hash, changed_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (provider_id, user_id) DO UPDATE SET password_hash = excluded.password_hash, changed_at = excluded.changed_at
                    """,
                arguments: [change.providerID, change.userID, change.passwordHash.encoded, change.changedAt.epochMilliseconds])
        }
    }

    // MARK: Provider browser sessions

    public func insert(_ session: ProviderBrowserSession) async throws {
        try await write { db in
            try db.run(sql: "INSERT INTO provider_session (digest, provider_id, user_id, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [session.digest.bytes, session.subject.providerID, session.subject.userID, session.expiresAt.epochMilliseconds])
        }
    }

    public func providerSession(digest: SecretDigest) async throws -> ProviderBrowserSession? {
        try await read { db in
            try db.row(sql: "SELECT * FROM provider_session WHERE digest = ?", arguments: [digest.bytes]).map { row in
                ProviderBrowserSession(digest: SecretDigest(bytes: row["digest"]),
                                       subject: Subject(userID: row["user_id"], providerID: row["provider_id"]),
                                       expiresAt: Date(epochMilliseconds: row["expires_at"]))
            }
        }
    }

    public func deleteProviderSession(digest: SecretDigest) async throws {
        try await write { db in
            try db.run(sql: "DELETE FROM provider_session WHERE digest = ?", arguments: [digest.bytes])
        }
    }

    // MARK: TempPass

    public func temporaryAccess(tenantID: String, providerID: String, deviceID: String, identityDigest: SecretDigest?) async throws -> TemporaryAccess? {
        try await read { db in
            try Self.trial(tenantID: tenantID, providerID: providerID, deviceID: deviceID, identityDigest: identityDigest, in: db)
        }
    }

    static func trial(tenantID: String, providerID: String, deviceID: String, identityDigest: SecretDigest?, in db: Database) throws -> TemporaryAccess? {
        // Two indexed lookups: an OR of the two columns makes SQLite scan every trial of the provider.
        if let row = try db.row(sql: "SELECT \(Self.trialColumns) FROM temporary_access WHERE tenant_id = ? AND provider_id = ? AND device_id = ? LIMIT 1",
                                arguments: [tenantID, providerID, deviceID]) {
            return try temporaryAccess(from: row)
        }
        guard let identityDigest else { return nil }
        return try db.row(sql: "SELECT \(Self.trialColumns) FROM temporary_access WHERE tenant_id = ? AND provider_id = ? AND identity_digest = ? LIMIT 1",
                          arguments: [tenantID, providerID, identityDigest.bytes]).map(temporaryAccess(from:))
    }

    /// One write, on the writer's connection: no hop to a reader, and no second trial for a
    /// device whose two first starts arrive together.
    public func startTemporaryAccessSession(_ request: TemporaryAccessRequest, now: Date,
                                            session makeSession: @Sendable @escaping (TemporaryAccess) -> Session) async throws -> TemporaryAccessStart {
        let fresh = request.newTrial()
        let resources = try Self.storedResources(fresh.resources)
        return try await write { db in
            let found = try Self.trial(tenantID: request.tenantID, providerID: request.providerID, deviceID: request.deviceID,
                                       identityDigest: request.identityDigest, in: db)
            if let found, found.isOver(at: now, duration: request.duration) { return .durationExceeded }
            if found == nil { try Self.insert(fresh, resources: resources, in: db) }
            let trial = found ?? fresh
            let session = makeSession(trial)
            try Self.startDiscardingEnded(session, in: db)
            return .started(session, trial: trial)
        }
    }

    public func temporaryAccess(id: UUID) async throws -> TemporaryAccess? {
        try await read { db in
            try db.row(sql: "SELECT \(Self.trialColumns) FROM temporary_access WHERE id = ?", arguments: [id.canonicalText]).map(Self.temporaryAccess(from:))
        }
    }

    public func insert(_ access: TemporaryAccess) async throws {
        let resources = try Self.storedResources(access.resources)
        try await write { db in try Self.insert(access, resources: resources, in: db) }
    }

    static func insert(_ access: TemporaryAccess, resources: String, in db: Database) throws {
        try db.run(sql: "INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [access.id.canonicalText, access.tenantID, access.providerID, access.deviceID, access.identityDigest?.bytes,
                        access.startedAt?.epochMilliseconds, resources])
    }

    public func temporaryAccesses(tenantID: String, providerID: String, deviceID: String?, promotionalOnly: Bool) async throws -> [TemporaryAccess] {
        try await read { db in
            try db.rows(sql: """
                SELECT \(Self.trialColumns) FROM temporary_access WHERE tenant_id = ? AND provider_id = ?
                AND (? IS NULL OR device_id = ?) AND (? = 0 OR identity_digest IS NOT NULL)
                """, arguments: [tenantID, providerID, deviceID, deviceID, promotionalOnly]).map(Self.temporaryAccess(from:))
        }
    }

    public func deleteTemporaryAccesses(ids: [UUID]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await write { db in
            var deleted = 0
            for id in ids {
                try db.run(sql: "DELETE FROM temporary_access WHERE id = ?", arguments: [id.canonicalText])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    public func useTemporaryAccess(id: UUID, resource: String, now: Date, duration: TimeInterval, resourceLimit: Int?) async throws -> TemporaryAccessUse {
        try await write { db in
            guard let row = try db.row(sql: "SELECT \(Self.trialColumns) FROM temporary_access WHERE id = ?", arguments: [id.canonicalText]) else { return .notFound }
            var access = try Self.temporaryAccess(from: row)
            let outcome = access.use(resource: resource, now: now, duration: duration, resourceLimit: resourceLimit)
            guard case .permitted = outcome else { return outcome }
            let resources = try Self.storedResources(access.resources)
            try db.run(sql: "UPDATE temporary_access SET started_at = ?, resources = ? WHERE id = ?",
                           arguments: [access.startedAt?.epochMilliseconds, resources, id.canonicalText])
            return outcome
        }
    }

    /// A trial's resources as stored: a JSON array, empty until the trial is first used (a TempPass
    /// start reads and writes that one without a JSON coder).
    static func storedResources(_ resources: [String]) throws -> String {
        resources.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(resources), as: UTF8.self)
    }

    static func resources(stored text: String) throws -> [String] {
        text == "[]" ? [] : try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }

    /// What ``temporaryAccess(from:)`` decodes, by position.
    static let trialColumns = "id, tenant_id, provider_id, device_id, identity_digest, started_at, resources"

    static func temporaryAccess(from row: Row) throws -> TemporaryAccess {
        TemporaryAccess(
            id: try uuid(row[0]), tenantID: row[1], providerID: row[2], deviceID: row[3],
            identityDigest: (row[4] as Data?).map(SecretDigest.init(bytes:)),
            startedAt: (row[5] as Int64?).map(Date.init(epochMilliseconds:)),
            resources: try resources(stored: row[6]))
    }

    // MARK: Metadata versions

    public func metadataUpdated(providerID: String, userID: String, digest: Data, now: Date) async throws -> Date {
        try await write { db in
            if let row = try db.row(sql: "SELECT digest, updated_at FROM metadata_version WHERE provider_id = ? AND user_id = ?",
                                          arguments: [providerID, userID]),
               (row["digest"] as Data) == digest {
                return Date(epochMilliseconds: row["updated_at"])
            }
            try db.run(sql: "INSERT OR REPLACE INTO metadata_version (provider_id, user_id, digest, updated_at) VALUES (?, ?, ?, ?)",
                           arguments: [providerID, userID, digest, now.epochMilliseconds])
            return now
        }
    }

    // MARK: Coherence

    /// One process owns the file (the pool's single writer): nobody else changes it behind our back.
    public var memoryIsCurrent: Bool { true }

    public func checkReadiness() async throws {
        try await read { db in _ = try Row.fetchOne(db, sql: "SELECT 1 FROM session LIMIT 1") }
    }

    public func sessionCounts(now: Date) async throws -> [SessionKind: Int] {
        try await read { db in
            // The rows held (kept by triggers), less those past their expiry that the purge has
            // not removed yet (found through the expiry index).
            let held = try db.rows(sql: "SELECT kind, n FROM session_count", arguments: [])
            let expired = try db.rows(sql: "SELECT kind, count(*) AS n FROM session WHERE expires_at <= ? GROUP BY kind",
                                      arguments: [now.epochMilliseconds])
            return SessionSQL.liveCounts(held: held.map { ($0["kind"], $0["n"]) }, expired: expired.map { ($0["kind"], $0["n"]) })
        }
    }

    public func onInvalidation(_ handler: @escaping @Sendable ([MemoryKey]?) -> Void) {}

    // MARK: Purge

    /// Removes what is past its time. Sessions expired more than `grace` ago (their decisions with
    /// them) are found by a sweep of the next ``sessionSweepRows`` rows of the session table, so
    /// an expired session goes within a few purges of the end of its grace, not at the first.
    public func purgeExpired(now: Date, grace: TimeInterval) async throws -> Int {
        let cutoff = now.epochMilliseconds
        let sessionCutoff = now.addingTimeInterval(-grace).epochMilliseconds
        var removed = try await write { db in
            var removed = 0
            for table in ["login_attempt", "pending_login", "nonce", "provider_session"] {
                try db.run(sql: "DELETE FROM \(table) WHERE expires_at <= ?", arguments: [cutoff])
                removed += db.changesCount
            }
            try db.run(sql: "DELETE FROM decision WHERE expires_at <= ?", arguments: [sessionCutoff])
            removed += db.changesCount
            try db.run(sql: "DELETE FROM registered_client WHERE first_token_at IS NULL AND issued_at <= ?",
                       arguments: [now.addingTimeInterval(-unusedClientLifetime).epochMilliseconds])
            removed += db.changesCount
            return removed
        }
        removed += try await sweepExpiredSessions(before: sessionCutoff)
        return removed
    }

    /// Deletes the sessions that expired before `cutoff` among the next ``sessionSweepRows`` rows,
    /// by rowid from where the previous sweep stopped, ``sweepChunk`` rows a write; at the end of
    /// the table the next sweep starts again from the first row.
    private func sweepExpiredSessions(before cutoff: Int64) async throws -> Int {
        var from = sweepCursor.withLock { $0 }
        var removed = 0
        var swept = 0
        var startedOver = false
        while swept < sessionSweepRows {
            let rows = min(Self.sweepChunk, sessionSweepRows - swept)
            let start = from
            let (deleted, last) = try await write { db -> (Int, Int64?) in
                guard let last = try db.int(sql: "SELECT max(rowid) FROM (SELECT rowid FROM session WHERE rowid > ? ORDER BY rowid LIMIT ?)",
                                            arguments: [start, rows])
                else { return (0, nil) }
                // Marked for the triggers, within this write only: an expired session's end is not a logout.
                try db.run(sql: "INSERT INTO purge_marker (running) VALUES (1)")
                try db.run(sql: "DELETE FROM session WHERE rowid > ? AND rowid <= ? AND expires_at <= ?", arguments: [start, last, cutoff])
                let deleted = db.changesCount
                try db.run(sql: "DELETE FROM purge_marker")
                return (deleted, Int64(last))
            }
            removed += deleted
            guard let last else {
                // The end of the table: carry on from its first row, once.
                let atFirstRow = start == 0
                from = 0
                if atFirstRow || startedOver { break }
                startedOver = true
                continue
            }
            from = last
            swept += rows
        }
        sweepCursor.withLock { $0 = from }
        return removed
    }
}

/// Statements run through the connection's cache of prepared statements: the hot paths run the
/// same few statements thousands of times a second, and parsing (with GRDB's authorizer) each
/// time cost more than executing them.
extension Database {
    func run(sql: String, arguments: StatementArguments = []) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    func row(sql: String, arguments: StatementArguments = []) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func rows(sql: String, arguments: StatementArguments = []) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    /// The sessions a statement of ``SessionSQL/columns`` yields, each decoded from the statement's
    /// current row in place (a copied row holds every value and name a second time).
    func sessions(sql: String, arguments: StatementArguments) throws -> [Session] {
        var found: [Session] = []
        let rows = try Row.fetchCursor(cachedStatement(sql: sql), arguments: arguments)
        while let row = try rows.next() { found.append(try SQLiteStore.session(from: row)) }
        return found
    }

    func int(sql: String, arguments: StatementArguments = []) throws -> Int? {
        try Int.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func bool(sql: String, arguments: StatementArguments = []) throws -> Bool? {
        try Bool.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }
}
