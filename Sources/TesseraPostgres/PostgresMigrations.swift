import TesseraStore
import Foundation
import Logging
import PostgresNIO

/// PostgreSQL's own schema versions. Each runs once, in its own transaction, recorded in
/// `tessera_migration`; instances starting together take turns on an advisory lock.
enum PostgresMigrations {
    static let all: [(id: String, sql: [String])] = [
        ("v1: clients, logins, sessions, decisions, nonces, keys, trials, metadata, instances", [
            """
            CREATE TABLE registered_client (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, software_id TEXT NOT NULL,
                secret_digest BYTEA NOT NULL, redirect_uris TEXT NOT NULL, issued_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE pending_login (
                id UUID PRIMARY KEY, tenant_id TEXT NOT NULL, code_digest BYTEA NOT NULL UNIQUE,
                device_id TEXT NOT NULL, provider_id TEXT, description TEXT NOT NULL,
                created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, completed_session_id UUID)
            """,
            "CREATE INDEX pending_login_expiry ON pending_login(expires_at)",
            """
            CREATE TABLE login_attempt (
                state_digest BYTEA PRIMARY KEY, tenant_id TEXT NOT NULL,
                pending_login_id UUID NOT NULL REFERENCES pending_login(id) ON DELETE CASCADE,
                provider_id TEXT NOT NULL, return_url TEXT NOT NULL, expires_at BIGINT NOT NULL,
                failed_passwords INTEGER NOT NULL DEFAULT 0)
            """,
            "CREATE INDEX login_attempt_pending ON login_attempt(pending_login_id)",
            "CREATE INDEX login_attempt_expiry ON login_attempt(expires_at)",
            """
            CREATE TABLE session (
                id UUID PRIMARY KEY, tenant_id TEXT NOT NULL, device_id TEXT NOT NULL,
                provider_id TEXT NOT NULL, user_id TEXT NOT NULL, device_user TEXT,
                created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                UNIQUE (tenant_id, device_id))
            """,
            "CREATE INDEX session_expiry ON session(expires_at)",
            """
            CREATE TABLE decision (
                session_id UUID NOT NULL REFERENCES session(id) ON DELETE CASCADE,
                resource TEXT NOT NULL, provider_id TEXT NOT NULL, expires_at BIGINT NOT NULL,
                PRIMARY KEY (session_id, resource))
            """,
            "CREATE INDEX decision_expiry ON decision(expires_at)",
            """
            CREATE TABLE nonce (
                tenant_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, nonce))
            """,
            "CREATE INDEX nonce_expiry ON nonce(expires_at)",
            """
            CREATE TABLE signing_key (
                kid TEXT PRIMARY KEY, algorithm TEXT NOT NULL, private_key_pem TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE provider_session (
                digest BYTEA PRIMARY KEY, provider_id TEXT NOT NULL, user_id TEXT NOT NULL, expires_at BIGINT NOT NULL)
            """,
            "CREATE INDEX provider_session_expiry ON provider_session(expires_at)",
            """
            CREATE TABLE temporary_access (
                id UUID PRIMARY KEY, tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL, device_id TEXT NOT NULL,
                identity_digest BYTEA, started_at BIGINT, resources TEXT NOT NULL)
            """,
            "CREATE INDEX temporary_access_device ON temporary_access(tenant_id, provider_id, device_id)",
            "CREATE INDEX temporary_access_identity ON temporary_access(tenant_id, provider_id, identity_digest)",
            """
            CREATE TABLE metadata_version (
                provider_id TEXT NOT NULL, user_id TEXT NOT NULL, digest BYTEA NOT NULL, updated_at BIGINT NOT NULL,
                PRIMARY KEY (provider_id, user_id))
            """,
            // The instances sharing this database, each with the time (PostgreSQL's clock, Unix ms)
            // until which it may answer from memory: see PeerInstances.
            "CREATE TABLE tessera_instance (id UUID PRIMARY KEY, lease_until BIGINT NOT NULL)",
        ]),
        // A prepared statement keeps the plan PostgreSQL chose for it. Planned on an empty table,
        // a device's trial was looked up through the identity index (same first two columns),
        // then every trial of the provider was read to find the device: 5,500 rows a login at
        // 12,000 trials. Trials without an identity now stay out of that index.
        ("v2: trials by identity only where they have one", [
            "DROP INDEX temporary_access_identity",
            "CREATE INDEX temporary_access_identity ON temporary_access(tenant_id, provider_id, identity_digest) WHERE identity_digest IS NOT NULL",
        ]),
        // Clients registered before this are taken as used: the upgrade purges none of them.
        ("v3: when each client first got a token", [
            "ALTER TABLE registered_client ADD COLUMN first_token_at BIGINT",
            "UPDATE registered_client SET first_token_at = issued_at",
            "CREATE INDEX registered_client_unused ON registered_client(issued_at) WHERE first_token_at IS NULL",
        ]),
        // Sessions of many kinds. Existing rows are v1 device logins (kind's default, which also
        // keeps an instance of the previous version writing correct rows during a rolling upgrade);
        // a session whose subscriber is a TempPass trial names it in trial_id. last_used_at is
        // NULL where an older instance wrote the row, and read as created_at.
        ("v4: sessions of many kinds", [
            """
            ALTER TABLE session ADD COLUMN kind TEXT NOT NULL DEFAULT 'device', ADD COLUMN application_id TEXT,
                ADD COLUMN sso_key TEXT, ADD COLUMN token_digest BYTEA, ADD COLUMN refresh_digest BYTEA, ADD COLUMN family_id UUID,
                ADD COLUMN trial_id UUID, ADD COLUMN last_used_at BIGINT
            """,
            "ALTER TABLE session ALTER COLUMN device_id DROP NOT NULL",
            "UPDATE session SET last_used_at = created_at",
            """
            UPDATE session s SET trial_id = t.id FROM temporary_access t
            WHERE t.id::text = lower(s.user_id) AND t.tenant_id = s.tenant_id AND t.provider_id = s.provider_id
            """,
            "ALTER TABLE session DROP CONSTRAINT session_tenant_id_device_id_key",
            "DROP INDEX session_expiry",
        ] + SessionSQL.indexes),
        // Existing sessions keep everything they had; their address was never kept (NULL).
        ("v5: the client address a session started from", [
            "ALTER TABLE session ADD COLUMN client_address TEXT",
        ]),
        // New: no existing rows to carry over. The private half is sealed (KeySealing).
        ("v6: user-session applications' key pairs, users' changed passwords", [
            """
            CREATE TABLE password_change (
                provider_id TEXT NOT NULL, user_id TEXT NOT NULL, password_hash TEXT NOT NULL, changed_at BIGINT NOT NULL,
                PRIMARY KEY (provider_id, user_id))
            """,
            """
            CREATE TABLE application_key (
                tenant_id TEXT NOT NULL, client_id TEXT NOT NULL, key_id TEXT NOT NULL, public_key BYTEA NOT NULL,
                sealed_private_key BYTEA NOT NULL, created_at BIGINT NOT NULL, retired_at BIGINT,
                PRIMARY KEY (tenant_id, client_id, key_id))
            """,
        ]),
        // Existing keys stay as they are (clear, in private_key_pem) until a start seals them
        // (TokenAuthority.load): SQL cannot encrypt. A sealed key leaves private_key_pem ''.
        ("v7: signing keys sealed under the key-encryption key", [
            "ALTER TABLE signing_key ADD COLUMN sealed_private_key BYTEA",
        ]),
        // New: no existing rows to carry over.
        ("v8: degradation rules", [
            """
            CREATE TABLE degradation_rule (
                tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL, kind TEXT NOT NULL, details TEXT, created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, provider_id, kind))
            """,
        ]),
        // An index only: every row stays as it is.
        ("v9: sessions by TempPass trial", [SessionSQL.trialIndex]),
        // The `tessera_sessions` gauge without a scan of the session table: statement triggers
        // keep a row count per kind, started from the rows there are (carried over once, here).
        // Each connection adds to its own shard of a kind's count, so that instances inserting
        // sessions at once do not wait on one counter row. A session's kind never changes.
        ("v10: sessions counted by kind", [
            "CREATE TABLE session_count (kind TEXT NOT NULL, shard INT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, shard))",
            "INSERT INTO session_count (kind, shard, n) SELECT kind, 0, count(*) FROM session GROUP BY kind",
            """
            CREATE FUNCTION session_count_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO session_count (kind, shard, n) SELECT kind, pg_backend_pid() % 16, count(*) FROM added GROUP BY kind
                ON CONFLICT (kind, shard) DO UPDATE SET n = session_count.n + EXCLUDED.n;
                RETURN NULL;
            END $$
            """,
            """
            CREATE FUNCTION session_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO session_count (kind, shard, n) SELECT kind, pg_backend_pid() % 16, -count(*) FROM removed GROUP BY kind
                ON CONFLICT (kind, shard) DO UPDATE SET n = session_count.n + EXCLUDED.n;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER session_counted AFTER INSERT ON session REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION session_count_added()",
            "CREATE TRIGGER session_uncounted AFTER DELETE ON session REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION session_count_removed()",
        ]),
        // A new table: no session has one yet. The tokens are sealed under the key-encryption key;
        // the rows go with their sessions (a statement trigger), whatever ends them.
        ("v11: what upstream OpenID Connect providers said of each session", [
            """
            CREATE TABLE upstream_login (
                session_id UUID PRIMARY KEY, provider_id TEXT NOT NULL, subject_id TEXT NOT NULL, provider_session_id TEXT,
                claims TEXT NOT NULL, id_token BYTEA, refresh_token BYTEA)
            """,
            "CREATE INDEX upstream_login_provider_session ON upstream_login(provider_id, provider_session_id) WHERE provider_session_id IS NOT NULL",
            "CREATE INDEX upstream_login_subject ON upstream_login(provider_id, subject_id)",
            """
            CREATE FUNCTION upstream_login_ends() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                DELETE FROM upstream_login u USING removed r WHERE u.session_id = r.id;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER upstream_login_ends AFTER DELETE ON session REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION upstream_login_ends()",
        ]),
        // An outbox the session table's triggers fill, in the transaction that ends sessions: a
        // refresh token to revoke at an upstream provider (the upstream row's sealed token moves
        // here), and, for the tenants in `backchannel_tenant`, a logout to tell their services,
        // except when the purge ends sessions (it sets `tessera.purging` for its own transaction:
        // expiry is not a logout). New tables; no row to carry over.
        ("v12: logout deliveries", [
            """
            CREATE TABLE logout_delivery (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL, tenant_id TEXT NOT NULL, provider_id TEXT NOT NULL,
                session_id UUID NOT NULL, user_id TEXT NOT NULL, token BYTEA, created_at BIGINT NOT NULL,
                attempts INT NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL DEFAULT 0, claimed_until BIGINT)
            """,
            "CREATE INDEX logout_delivery_due ON logout_delivery(next_attempt_at)",
            "CREATE TABLE backchannel_tenant (tenant_id TEXT PRIMARY KEY)",
            """
            CREATE OR REPLACE FUNCTION upstream_login_ends() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO logout_delivery (kind, tenant_id, provider_id, session_id, user_id, token, created_at)
                    SELECT 'revoke', r.tenant_id, u.provider_id, u.session_id, u.subject_id, u.refresh_token,
                           (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    FROM upstream_login u JOIN removed r ON u.session_id = r.id WHERE u.refresh_token IS NOT NULL;
                DELETE FROM upstream_login u USING removed r WHERE u.session_id = r.id;
                RETURN NULL;
            END $$
            """,
            """
            CREATE FUNCTION session_logout_delivery() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                IF coalesce(current_setting('tessera.purging', true), '') = 'on' THEN RETURN NULL; END IF;
                INSERT INTO logout_delivery (kind, tenant_id, provider_id, session_id, user_id, created_at)
                    SELECT 'programmer', r.tenant_id, r.provider_id, r.id, r.user_id, (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    FROM removed r JOIN backchannel_tenant b ON b.tenant_id = r.tenant_id;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER session_logout_delivery AFTER DELETE ON session REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION session_logout_delivery()",
        ]),
    ]


    /// Applies what is missing (up to and including `last`, for tests of an upgrade); refuses a
    /// schema that a newer Tessera migrated.
    static func apply(on client: PostgresClient, schema: String, logger: Logger, upTo last: String? = nil) async throws {
        do {
            try await client.withTransaction(logger: logger) { db in
                // One lock per schema: instances migrating other schemas of the database do not wait.
                try await db.query("SELECT pg_advisory_xact_lock(hashtextextended(\("tessera migration " + schema), 0))", logger: logger)
                try await db.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
                try await db.query("""
                    CREATE TABLE IF NOT EXISTS tessera_migration (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: logger)
                var applied = Set<String>()
                for try await id in try await db.query("SELECT id FROM tessera_migration", logger: logger).decode(String.self) {
                    applied.insert(id)
                }
                // A newer Tessera migrated this database: running an older one on it could corrupt it.
                let unknown = applied.subtracting(all.map(\.id)).sorted()
                guard unknown.isEmpty else {
                    throw StoreError("the PostgreSQL database has a newer schema than this Tessera knows (\(unknown.joined(separator: ", "))); upgrade Tessera")
                }
                let wanted = last.flatMap { id in all.firstIndex { $0.id == id } }.map { all[...$0] } ?? all[...]
                for migration in wanted where !applied.contains(migration.id) {
                    for statement in migration.sql {
                        try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await db.query("INSERT INTO tessera_migration (id) VALUES (\(migration.id))", logger: logger)
                }
            }
        } catch {
            throw PostgresStore.storeError(error, doing: "migration")
        }
    }
}
