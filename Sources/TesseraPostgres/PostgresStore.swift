import Foundation
import Logging
import PostgresNIO
import Synchronization
import TesseraCore
import TesseraStore

/// The shared store: one PostgreSQL database for every instance, through PostgresNIO's
/// `PostgresClient` (a bounded pool of connections).
///
/// Every operation that changes a device's sessions also notifies the other instances, inside
/// its own transaction (shared with the changes that queued meanwhile: ``SessionChangeBatches``),
/// and returns only once each live instance has dropped what it held of that device in memory
/// (see ``PeerInstances``). Times are stored as Unix milliseconds, as in
/// the SQLite store.
public final class PostgresStore: Store {
    let client: PostgresClient
    let location: PostgresLocation
    let peers: PeerInstances
    /// Logins, TempPass starts and logouts: batched, each batch notifying the other instances.
    private let sessionChanges: SessionChangeBatches
    private let logger: Logger
    private let metrics: StoreMetrics
    private let running: Task<Void, Never>
    private let listening = Mutex<Task<Void, Never>?>(nil)
    private let gate = OperationGate()

    /// Connects, applies the migrations (refusing a newer schema) and joins the other instances.
    public static func open(_ location: PostgresLocation, logger: Logger = Logger(label: "tessera.postgres"),
                            metrics: StoreMetrics = .none) async throws -> PostgresStore {
        let store = PostgresStore(location: location, logger: logger, metrics: metrics)
        do {
            // The pool serves nobody until its run() has started.
            try await Task.sleep(for: .milliseconds(20))
            try await PostgresMigrations.apply(on: store.client, schema: location.schema, logger: logger)
            store.listening.withLock { listening in
                let peers = store.peers
                listening = Task { await peers.run() }
            }
            try await store.peers.join()
        } catch {
            await store.close()
            throw error as? StoreError ?? StoreError("PostgreSQL at \(location.redacted): \(String(reflecting: error))")
        }
        return store
    }

    private init(location: PostgresLocation, logger: Logger, metrics: StoreMetrics) {
        self.location = location
        self.logger = logger
        self.metrics = metrics
        let client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
        self.client = client
        peers = PeerInstances(location: location, client: client, logger: logger)
        sessionChanges = SessionChangeBatches(client: client, peers: peers, logger: logger, metrics: metrics)
        running = Task { await client.run() }
    }

    public func sampleGauges() {
        metrics.setOperationsInFlight(gate.inFlight)
        metrics.setPeerInstances(peers.instancesHeard)
    }

    /// Leaves the other instances and closes every connection.
    ///
    /// The pool's `run()` is awaited for at most 10 s after its cancellation: PostgresNIO 1.33.2's
    /// sometimes never returns although every connection is closed (seen in about one run in five
    /// of the PostgreSQL server tests, where a hundred stores open and close at once on two cores;
    /// the test then hung in shutdown until CI's limit). Nothing is held by then; the task is left.
    public func close() async {
        await gate.close(waitingAtMost: .seconds(10))
        await peers.leave()
        let listener = listening.withLock { $0 }
        listener?.cancel()
        if let listener, await !Self.awaitEnd(of: listener, within: .seconds(10)) {
            logger.warning("the PostgreSQL notification listener did not stop within 10 s; left behind")
        }
        running.cancel()
        if await !Self.awaitEnd(of: running, within: .seconds(10)) {
            logger.warning("the PostgreSQL connection pool did not stop within 10 s of its shutdown; left behind")
        }
    }

    /// Whether `task` ended within `limit`. (Awaiting a task's value does not answer cancellation,
    /// so a task group racing it against a sleep would wait for it anyway.)
    static func awaitEnd(of task: Task<Void, Never>, within limit: Duration) async -> Bool {
        final class FirstAnswer: Sendable {
            let waiter = Mutex<CheckedContinuation<Bool, Never>?>(nil)
            let timer = Mutex<Task<Void, Never>?>(nil)
            func resume(_ ended: Bool) { waiter.withLock { $0.take() }?.resume(returning: ended) }
        }
        let answer = FirstAnswer()
        let ended = await withCheckedContinuation { continuation in
            answer.waiter.withLock { $0 = continuation }
            answer.timer.withLock { $0 = Task { try? await Task.sleep(for: limit); answer.resume(false) } }
            Task { await task.value; answer.resume(true) }
        }
        answer.timer.withLock { $0?.cancel() }
        return ended
    }

    deinit {
        running.cancel()
        listening.withLock { $0?.cancel() }
    }

    // MARK: Running statements

    private func read<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await gate.run {
            do { return try await metrics.time(metrics.reads) { try await client.withConnection { connection in try await body(connection) } } } catch {
                throw Self.storeError(error, doing: "read")
            }
        }
    }

    @discardableResult
    private func write<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await gate.run {
            do {
                return try await metrics.time(metrics.writes) { try await client.withTransaction(logger: logger) { connection in try await body(connection) } }
            } catch {
                throw Self.storeError(error, doing: "write")
            }
        }
    }

    /// A login, TempPass start, logout or revoke: shares a transaction with others and tells the
    /// other instances the memory keys it changed. `scope` keeps it apart from other writes of the
    /// same device on this instance; nil for a write of its own.
    private func changeSessions<T: Sendable>(of scope: DeviceKey?, _ body: @Sendable @escaping (PostgresConnection) async throws -> (T, keys: [MemoryKey])) async throws -> T {
        let scope = scope ?? DeviceKey(tenantID: "", deviceID: UUID.random().uuidString)
        return try await gate.run { try await metrics.time(metrics.sessionChanges) { try await sessionChanges.write(scope: scope, body) } }
    }

    static func storeError(_ error: any Error, doing what: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError as? StoreError { return inner }
            return StoreError("PostgreSQL \(what) failed: \(Self.describe(error.closureError ?? error.commitError ?? error.beginError ?? error))")
        }
        return StoreError("PostgreSQL \(what) failed: \(Self.describe(error))")
    }

    /// The server's message and SQLSTATE, without the bound values (they may be secrets).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        return "\(error.code)"
    }

    // MARK: Clients

    public func insert(_ client: RegisteredClient) async throws {
        let uris = String(decoding: try JSONEncoder().encode(client.redirectURIs), as: UTF8.self)
        try await write { db in
            try await db.query("""
                INSERT INTO registered_client (id, tenant_id, software_id, secret_digest, redirect_uris, issued_at)
                VALUES (\(client.id), \(client.tenantID), \(client.softwareID), \(client.secretDigest.bytes), \(uris), \(client.issuedAt.epochMilliseconds))
                """, logger: logger)
        }
    }

    public func client(id: String) async throws -> RegisteredClient? {
        try await read { db in
            let rows = try await db.query("""
                SELECT id, tenant_id, software_id, secret_digest, redirect_uris, issued_at, first_token_at FROM registered_client WHERE id = \(id)
                """, logger: logger)
            for try await (id, tenant, software, digest, uris, issued, firstToken) in rows.decode((String, String, String, Data, String, Int64, Int64?).self) {
                return RegisteredClient(
                    id: id, tenantID: tenant, softwareID: software, secretDigest: SecretDigest(bytes: digest),
                    redirectURIs: try JSONDecoder().decode([String].self, from: Data(uris.utf8)),
                    issuedAt: Date(epochMilliseconds: issued), firstTokenAt: firstToken.map(Date.init(epochMilliseconds:)))
            }
            return nil
        }
    }

    public func deleteClient(id: String, tenantID: String) async throws -> Bool {
        try await changeSessions(of: nil) { [self] db in
            let deleted = try await Self.count(db.query("DELETE FROM registered_client WHERE id = \(id) AND tenant_id = \(tenantID) RETURNING 1", logger: logger))
            return (deleted > 0, keys: deleted > 0 ? [.client(id)] : [])
        }
    }

    public func markFirstToken(clientID: String, at date: Date) async throws {
        try await write { db in
            try await db.query("""
                UPDATE registered_client SET first_token_at = \(date.epochMilliseconds) WHERE id = \(clientID) AND first_token_at IS NULL
                """, logger: logger)
        }
    }

    // MARK: Pending logins

    public func insert(_ login: PendingLogin) async throws -> Bool {
        let description = String(decoding: try JSONEncoder().encode(login.description), as: UTF8.self)
        return try await write { db in
            // An expired code with the same digest may still wait for the purge: it is dead, replace it.
            try await db.query("DELETE FROM pending_login WHERE code_digest = \(login.codeDigest.bytes) AND expires_at <= \(login.createdAt.epochMilliseconds)", logger: logger)
            let inserted = try await db.query("""
                INSERT INTO pending_login (id, tenant_id, code_digest, device_id, provider_id, description, created_at, expires_at, completed_session_id)
                VALUES (\(login.id), \(login.device.tenantID), \(login.codeDigest.bytes), \(login.device.deviceID), \(login.providerID),
                        \(description), \(login.createdAt.epochMilliseconds), \(login.expiresAt.epochMilliseconds), \(login.completedSessionID))
                ON CONFLICT (code_digest) DO NOTHING RETURNING 1
                """, logger: logger)
            return try await Self.count(inserted) == 1
        }
    }

    public func updatePendingLogin(id: UUID, providerID: String?, description: DeviceDescription) async throws -> Bool {
        let text = String(decoding: try JSONEncoder().encode(description), as: UTF8.self)
        return try await write { db in
            let updated = try await db.query("""
                UPDATE pending_login SET provider_id = \(providerID), description = \(text)
                WHERE id = \(id) AND completed_session_id IS NULL RETURNING 1
                """, logger: logger)
            return try await Self.count(updated) == 1
        }
    }

    // MARK: Degradation rules

    public func degradationRules() async throws -> [DegradationRule] {
        try await read { db in
            let rows = try await db.query("SELECT tenant_id, provider_id, kind, details FROM degradation_rule ORDER BY tenant_id, provider_id, kind",
                                          logger: logger)
            var rules: [DegradationRule] = []
            for try await (tenant, provider, kind, details) in rows.decode((String, String, String, String?).self) {
                if let kind = DegradationRule.Kind(rawValue: kind) {
                    rules.append(DegradationRule(tenantID: tenant, providerID: provider, kind: kind, details: details))
                }
            }
            return rules
        }
    }

    public func setDegradationRule(_ rule: DegradationRule, now: Date) async throws {
        let replaced = (rule.kind.isAuthorization ? DegradationRule.Kind.allCases.filter(\.isAuthorization) : [rule.kind]).map(\.rawValue)
        try await write { db in
            try await db.query("""
                DELETE FROM degradation_rule WHERE tenant_id = \(rule.tenantID) AND provider_id = \(rule.providerID) AND kind = ANY(\(replaced))
                """, logger: logger)
            try await db.query("""
                INSERT INTO degradation_rule (tenant_id, provider_id, kind, details, created_at)
                VALUES (\(rule.tenantID), \(rule.providerID), \(rule.kind.rawValue), \(rule.details), \(now.epochMilliseconds))
                """, logger: logger)
        }
    }

    public func clearDegradationRules(tenantID: String, providerID: String, kind: DegradationRule.Kind?) async throws -> Int {
        let kinds = (kind.map { [$0] } ?? DegradationRule.Kind.allCases).map(\.rawValue)
        return try await write { db in
            let deleted = try await db.query("""
                DELETE FROM degradation_rule WHERE tenant_id = \(tenantID) AND provider_id = \(providerID) AND kind = ANY(\(kinds)) RETURNING 1
                """, logger: logger)
            return try await Self.count(deleted)
        }
    }

    private static let pendingLoginColumns = "id, tenant_id, code_digest, device_id, provider_id, description, created_at, expires_at, completed_session_id"
    private typealias PendingLoginRow = (UUID, String, Data, String, String?, String, Int64, Int64, UUID?)

    private static func pendingLogin(_ row: PendingLoginRow) throws -> PendingLogin {
        PendingLogin(
            id: row.0, codeDigest: SecretDigest(bytes: row.2), device: DeviceKey(tenantID: row.1, deviceID: row.3),
            providerID: row.4, description: try JSONDecoder().decode(DeviceDescription.self, from: Data(row.5.utf8)),
            createdAt: Date(epochMilliseconds: row.6), expiresAt: Date(epochMilliseconds: row.7), completedSessionID: row.8)
    }

    private func pendingLogin(where query: PostgresQuery, on db: PostgresConnection) async throws -> PendingLogin? {
        for try await row in try await db.query(query, logger: logger).decode(PendingLoginRow.self) {
            return try Self.pendingLogin(row)
        }
        return nil
    }

    public func pendingLogin(codeDigest: SecretDigest) async throws -> PendingLogin? {
        try await read { db in
            try await pendingLogin(where: "SELECT \(unescaped: Self.pendingLoginColumns) FROM pending_login WHERE code_digest = \(codeDigest.bytes)", on: db)
        }
    }

    public func pendingLogin(id: UUID) async throws -> PendingLogin? {
        try await read { db in
            try await pendingLogin(where: "SELECT \(unescaped: Self.pendingLoginColumns) FROM pending_login WHERE id = \(id)", on: db)
        }
    }

    public func deletePendingLogin(codeDigest: SecretDigest) async throws -> Bool {
        try await write { db in
            // Its browser attempts go with it (ON DELETE CASCADE).
            try await Self.count(db.query("DELETE FROM pending_login WHERE code_digest = \(codeDigest.bytes) RETURNING 1", logger: logger)) > 0
        }
    }

    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    // MARK: Login attempts

    public func insert(_ attempt: LoginAttempt) async throws {
        try await write { db in
            try await db.query("""
                INSERT INTO login_attempt (state_digest, tenant_id, pending_login_id, provider_id, return_url, expires_at, failed_passwords)
                VALUES (\(attempt.stateDigest.bytes), \(attempt.tenantID), \(attempt.pendingLoginID), \(attempt.providerID),
                        \(attempt.returnURL), \(attempt.expiresAt.epochMilliseconds), \(attempt.failedPasswords))
                """, logger: logger)
        }
    }

    public func loginAttempt(stateDigest: SecretDigest) async throws -> LoginAttempt? {
        try await read { db in
            let rows = try await db.query("""
                SELECT state_digest, tenant_id, pending_login_id, provider_id, return_url, expires_at, failed_passwords
                FROM login_attempt WHERE state_digest = \(stateDigest.bytes)
                """, logger: logger)
            for try await (digest, tenant, pending, provider, url, expires, failed) in rows.decode((Data, String, UUID, String, String, Int64, Int).self) {
                return LoginAttempt(stateDigest: SecretDigest(bytes: digest), tenantID: tenant, pendingLoginID: pending, providerID: provider,
                                    returnURL: url, expiresAt: Date(epochMilliseconds: expires), failedPasswords: failed)
            }
            return nil
        }
    }

    public func recordFailedPassword(stateDigest: SecretDigest, limit: Int) async throws -> Int {
        try await write { db in
            var count = limit
            let rows = try await db.query("""
                UPDATE login_attempt SET failed_passwords = failed_passwords + 1 WHERE state_digest = \(stateDigest.bytes) RETURNING failed_passwords
                """, logger: logger)
            for try await value in rows.decode(Int.self) { count = value }
            if count >= limit {
                try await db.query("DELETE FROM login_attempt WHERE state_digest = \(stateDigest.bytes)", logger: logger)
            }
            return count
        }
    }

    // MARK: Sessions

    public func completeLogin(attemptDigest: SecretDigest, session: Session, alsoStarting: [Session], upstream: UpstreamLogin?,
                              now: Date) async throws -> LoginCompletion {
        let claims = try upstream.map { String(decoding: try UpstreamLoginCoding.encode($0.claims), as: UTF8.self) }
        return try await changeSessions(of: session.device) { [self] db in
            // FOR UPDATE: two browsers completing the same code queue here; the second sees it used.
            var pendingID: UUID?
            let attempts = try await db.query("""
                SELECT pending_login_id FROM login_attempt WHERE state_digest = \(attemptDigest.bytes) AND expires_at > \(now.epochMilliseconds)
                """, logger: logger)
            for try await id in attempts.decode(UUID.self) { pendingID = id }
            guard let pendingID else { return (.attemptNotFound, keys: []) }
            guard let pending = try await pendingLogin(
                where: "SELECT \(unescaped: Self.pendingLoginColumns) FROM pending_login WHERE id = \(pendingID) FOR UPDATE", on: db)
            else { return (.codeNotFound, keys: []) }
            if pending.completedSessionID != nil { return (.codeAlreadyUsed, keys: []) }
            if pending.isExpired(at: now) { return (.codeExpired, keys: []) }
            try await db.query("DELETE FROM login_attempt WHERE pending_login_id = \(pendingID)", logger: logger)
            try await db.query("UPDATE pending_login SET completed_session_id = \(session.id) WHERE id = \(pendingID)", logger: logger)
            var keys = Self.keys(starting: session, ended: try await start(session, limit: nil, on: db))
            for other in alsoStarting { keys += Self.keys(starting: other, ended: try await start(other, limit: nil, on: db)) }
            if let upstream, let claims {
                // One row per session started; the tokens with the first only.
                for (index, started) in ([session] + alsoStarting).enumerated() {
                    let idToken = index == 0 ? upstream.sealedIDToken : nil, refreshToken = index == 0 ? upstream.sealedRefreshToken : nil
                    try await db.query("""
                        INSERT INTO upstream_login (session_id, provider_id, subject_id, provider_session_id, claims, id_token, refresh_token)
                        VALUES (\(started.id), \(upstream.providerID), \(upstream.subjectID), \(upstream.providerSessionID), \(claims),
                                \(idToken), \(refreshToken))
                        """, logger: logger)
                }
            }
            var completed = pending
            completed.completedSessionID = session.id
            return (.completed(completed), keys: keys)
        }
    }

    // MARK: Logout deliveries

    public func setBackchannelTenants(_ tenantIDs: Set<String>) async throws {
        let ids = tenantIDs.sorted()
        try await write { db in
            try await db.query("DELETE FROM backchannel_tenant WHERE NOT (tenant_id = ANY(\(ids)))", logger: logger)
            try await db.query("INSERT INTO backchannel_tenant (tenant_id) SELECT unnest(\(ids)::text[]) ON CONFLICT DO NOTHING", logger: logger)
        }
    }

    public func claimLogoutDeliveries(now: Date, lease: TimeInterval, limit: Int) async throws -> [LogoutDelivery] {
        let at = now.epochMilliseconds, until = now.addingTimeInterval(lease).epochMilliseconds
        // A read first: the loop asks every second on every instance, and most of the time nothing is due.
        let due = try await read { db in
            var found = false
            let rows = try await db.query("""
                SELECT 1 FROM logout_delivery WHERE next_attempt_at <= \(at) AND (claimed_until IS NULL OR claimed_until <= \(at)) LIMIT 1
                """, logger: logger)
            for try await _ in rows { found = true }
            return found
        }
        guard due else { return [] }
        return try await write { db in
            // SKIP LOCKED: instances claiming at once take different rows, each row one instance.
            let rows = try await db.query("""
                UPDATE logout_delivery SET claimed_until = \(until)
                WHERE id IN (SELECT id FROM logout_delivery WHERE next_attempt_at <= \(at) AND (claimed_until IS NULL OR claimed_until <= \(at))
                             ORDER BY next_attempt_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING id, kind, tenant_id, provider_id, session_id, user_id, token, attempts
                """, logger: logger)
            var deliveries: [LogoutDelivery] = []
            for try await (id, kind, tenant, provider, session, user, token, attempts) in rows.decode((Int64, String, String, String, UUID, String, Data?, Int).self) {
                guard let kind = LogoutDelivery.Kind(rawValue: kind) else { continue }
                deliveries.append(LogoutDelivery(id: id, kind: kind, tenantID: tenant, providerID: provider, sessionID: session, userID: user,
                                                 sealedToken: token, attempts: attempts))
            }
            return deliveries.sorted { $0.id < $1.id }
        }
    }

    public func finishLogoutDelivery(id: Int64) async throws {
        try await write { db in try await db.query("DELETE FROM logout_delivery WHERE id = \(id)", logger: logger) }
    }

    public func retryLogoutDelivery(id: Int64, at: Date) async throws {
        try await write { db in
            try await db.query("""
                UPDATE logout_delivery SET attempts = attempts + 1, next_attempt_at = \(at.epochMilliseconds), claimed_until = NULL WHERE id = \(id)
                """, logger: logger)
        }
    }

    public func pendingLogoutDeliveries() async throws -> Int {
        try await read { db in
            var count = 0
            for try await n in try await db.query("SELECT count(*) FROM logout_delivery", logger: logger).decode(Int.self) { count = n }
            return count
        }
    }

    public func upstreamSessions(providerID: String, providerSessionID: String?, subjectID: String?) async throws -> [(tenantID: String, sessionID: UUID)] {
        try await read { db in
            let rows: PostgresRowSequence
            if let sid = providerSessionID {
                rows = try await db.query("""
                    SELECT s.tenant_id, s.id FROM upstream_login u JOIN session s ON s.id = u.session_id
                    WHERE u.provider_id = \(providerID) AND u.provider_session_id = \(sid)
                    """, logger: logger)
            } else if let sub = subjectID {
                rows = try await db.query("""
                    SELECT s.tenant_id, s.id FROM upstream_login u JOIN session s ON s.id = u.session_id
                    WHERE u.provider_id = \(providerID) AND u.subject_id = \(sub)
                    """, logger: logger)
            } else {
                return []
            }
            var found: [(tenantID: String, sessionID: UUID)] = []
            for try await (tenant, id) in rows.decode((String, UUID).self) { found.append((tenant, id)) }
            return found
        }
    }

    public func upstreamLogin(sessionID: UUID) async throws -> UpstreamLogin? {
        try await read { db in
            let rows = try await db.query("""
                SELECT provider_id, subject_id, provider_session_id, claims, id_token, refresh_token FROM upstream_login
                WHERE session_id = \(sessionID)
                """, logger: logger)
            for try await (provider, subject, sid, claims, idToken, refreshToken) in rows.decode((String, String, String?, String, Data?, Data?).self) {
                return UpstreamLogin(sessionID: sessionID, providerID: provider, subjectID: subject, providerSessionID: sid,
                                     claims: try UpstreamLoginCoding.decode(Data(claims.utf8)), sealedIDToken: idToken, sealedRefreshToken: refreshToken)
            }
            return nil
        }
    }

    public func startSession(_ session: Session, creating trial: TemporaryAccess?, limit: SessionLimit?) async throws -> [Session] {
        // v1 logins go in the batch's single statement; other kinds through the shared transaction.
        if session.kind == .deviceLogin, limit == nil, session.device != nil {
            return try await gate.run { try await sessionChanges.replace(session, creatingTrial: trial, logger: logger) }
        }
        return try await changeSessions(of: session.device) { [self] db in
            if let trial { try await insert(trial, on: db) }
            let ended = try await start(session, limit: limit, on: db)
            return (ended, keys: Self.keys(starting: session, ended: ended))
        }
    }

    /// What memory may hold that starting `session` (and ending `ended`) made stale: a device's
    /// login is cached even when absent.
    private static func keys(starting session: Session, ended: [Session]) -> [MemoryKey] {
        ended.flatMap(\.memoryKeys) + session.listingKeys
    }

    /// Ends what `session` replaces and, with `limit`, the oldest of its subject's past it; stores it.
    private func start(_ session: Session, limit: SessionLimit?, on db: PostgresConnection) async throws -> [Session] {
        var ended: [Session] = []
        if session.kind == .deviceLogin, session.device != nil {
            var rows: [String] = []
            for try await row in try await db.execute(ReplaceSession(session: session), logger: logger) { rows.append(row) }
            return try SessionRowJSON.sessions(rows)
        }
        if let replaced = session.replaces { ended = try await revoke(replaced, on: db) }
        if let limit {
            // FOR UPDATE: two logins of one subject at once count each other's sessions.
            let rows = try await db.query("""
                SELECT id FROM session WHERE tenant_id = \(session.tenantID) AND user_id = \(session.subject.userID)
                AND provider_id = \(session.subject.providerID) AND kind = \(session.kind.rawValue)
                AND application_id IS NOT DISTINCT FROM \(session.applicationID) AND expires_at > \(session.createdAt.epochMilliseconds)
                ORDER BY created_at, id FOR UPDATE
                """, logger: logger)
            var live: [UUID] = []
            for try await id in rows.decode(UUID.self) { live.append(id) }
            for id in live.prefix(max(0, live.count - limit.perSubject + 1)) {
                ended += try await revoke(SessionSelector(tenantID: session.tenantID, .id(id)), on: db)
            }
        }
        try await db.query("""
            INSERT INTO session (\(unescaped: SessionSQL.columns)) VALUES (
                \(session.id), \(session.tenantID), \(session.kind.rawValue), \(session.applicationID), \(session.subject.providerID),
                \(session.subject.userID), \(session.deviceID), \(session.ssoKey), \(session.tokenDigest?.bytes), \(session.refreshDigest?.bytes),
                \(session.familyID), \(session.trialID), \(session.deviceUser), \(session.createdAt.epochMilliseconds),
                \(session.expiresAt.epochMilliseconds), \(session.lastUsedAt.epochMilliseconds), \(session.clientAddress))
            """, logger: logger)
        return ended
    }

    private static func query(_ sql: String, _ values: [SessionSQL.Value]) throws -> PostgresQuery {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .text(let text): bindings.append(text)
            case .blob(let data): try bindings.append(data)
            case .uuid(let id): bindings.append(id)
            }
        }
        return PostgresQuery(unsafeSQL: SessionSQL.numbered(sql), binds: bindings)
    }

    private func revoke(_ selector: SessionSelector, on db: PostgresConnection) async throws -> [Session] {
        var ended: [Session] = []
        for filter in SessionSQL.filters(selector) {
            let rows = try await db.query(Self.query("""
                WITH gone AS (DELETE FROM session WHERE \(filter.sql) RETURNING \(SessionSQL.columns)) SELECT row_to_json(g)::text FROM gone g
                """, filter.values), logger: logger)
            var json: [String] = []
            for try await row in rows.decode(String.self) { json.append(row) }
            ended += try SessionRowJSON.sessions(json)
        }
        return ended
    }

    public func session(device: DeviceKey) async throws -> Session? {
        try await read { db in
            for try await row in try await db.execute(SessionByDevice(tenantID: device.tenantID, deviceID: device.deviceID), logger: logger) {
                return try SessionByDevice.session(row)
            }
            return nil
        }
    }

    public func session(id: UUID) async throws -> Session? {
        try await read { db in
            for try await row in try await db.execute(SessionByID(id: id), logger: logger) { return try SessionByDevice.session(row) }
            return nil
        }
    }

    public func sessions(_ selector: SessionSelector) async throws -> [Session] {
        try await read { db in
            var found: [Session] = []
            for filter in SessionSQL.filters(selector) {
                let rows = try await db.query(Self.query("SELECT \(SessionSQL.columns) FROM session WHERE \(filter.sql)", filter.values), logger: logger)
                for try await row in rows.decode(SessionByDevice.Row.self) { found.append(try SessionByDevice.session(row)) }
            }
            return found.sorted { ($0.createdAt, $0.id.uuidString) < ($1.createdAt, $1.id.uuidString) }
        }
    }

    public func revokeSessions(_ selector: SessionSelector) async throws -> [Session] {
        // Decisions go with their session (ON DELETE CASCADE).
        if selector.isDeviceLoginOnly, selector.applicationID == nil, case .device(let device) = selector.key {
            return try await gate.run { try await sessionChanges.revoke(DeviceKey(tenantID: selector.tenantID, deviceID: device), logger: logger) }
        }
        var scope: DeviceKey?
        if case .device(let device) = selector.key { scope = DeviceKey(tenantID: selector.tenantID, deviceID: device) }
        if case .deviceAndProvider(let device, _) = selector.key { scope = DeviceKey(tenantID: selector.tenantID, deviceID: device) }
        return try await changeSessions(of: scope) { [self] db in
            let ended = try await revoke(selector, on: db)
            return (ended, keys: ended.flatMap(\.memoryKeys))
        }
    }

    public func recordUse(_ uses: [SessionUse]) async throws {
        guard !uses.isEmpty else { return }
        try await write { db in
            try await db.query("""
                UPDATE session SET last_used_at = u.at FROM unnest(\(uses.map(\.sessionID))::uuid[], \(uses.map(\.at.epochMilliseconds))::int8[]) AS u(id, at)
                WHERE session.id = u.id AND (session.last_used_at IS NULL OR session.last_used_at < u.at)
                """, logger: logger)
        }
    }

    // MARK: Decisions

    public func upsert(_ decision: Decision) async throws {
        try await write { db in
            try await db.query("""
                INSERT INTO decision (session_id, resource, provider_id, expires_at)
                VALUES (\(decision.sessionID), \(decision.resource), \(decision.providerID), \(decision.expiresAt.epochMilliseconds))
                ON CONFLICT (session_id, resource) DO UPDATE SET provider_id = EXCLUDED.provider_id, expires_at = EXCLUDED.expires_at
                """, logger: logger)
        }
    }

    public func decision(sessionID: UUID, resource: String) async throws -> Decision? {
        try await read { db in
            for try await (provider, expires) in try await db.execute(DecisionLookup(sessionID: sessionID, resource: resource), logger: logger) {
                return Decision(sessionID: sessionID, resource: resource, providerID: provider, expiresAt: Date(epochMilliseconds: expires))
            }
            return nil
        }
    }

    public func decisions(sessionID: UUID) async throws -> [Decision] {
        try await read { db in
            var decisions: [Decision] = []
            let rows = try await db.query("SELECT resource, provider_id, expires_at FROM decision WHERE session_id = \(sessionID) ORDER BY resource", logger: logger)
            for try await (resource, provider, expires) in rows.decode((String, String, Int64).self) {
                decisions.append(Decision(sessionID: sessionID, resource: resource, providerID: provider, expiresAt: Date(epochMilliseconds: expires)))
            }
            return decisions
        }
    }

    // MARK: Nonces

    public func claimNonce(tenantID: String, nonce: String, expiresAt: Date) async throws -> Bool {
        try await write { db in
            try await Self.count(db.query("""
                INSERT INTO nonce (tenant_id, nonce, expires_at) VALUES (\(tenantID), \(nonce), \(expiresAt.epochMilliseconds))
                ON CONFLICT DO NOTHING RETURNING 1
                """, logger: logger)) == 1
        }
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await read { db in
            var keys: [StoredSigningKey] = []
            let rows = try await db.query("""
                SELECT kid, algorithm, private_key_pem, sealed_private_key, created_at FROM signing_key ORDER BY created_at, kid
                """, logger: logger)
            for try await (kid, algorithm, pem, sealed, created) in rows.decode((String, String, String, Data?, Int64).self) {
                keys.append(StoredSigningKey(kid: kid, algorithm: algorithm, privateKey: sealed.map { .sealed($0) } ?? .clear(pem),
                                             createdAt: Date(epochMilliseconds: created)))
            }
            return keys
        }
    }

    public func insertUnlessAlgorithmHasKey(_ key: StoredSigningKey) async throws {
        let (clear, sealed) = key.privateKey.columns
        try await write { db in
            // Instances starting together on an empty database queue here: the first one's key wins.
            try await db.query("LOCK TABLE signing_key IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            try await db.query("""
                INSERT INTO signing_key (kid, algorithm, private_key_pem, sealed_private_key, created_at)
                SELECT \(key.kid), \(key.algorithm), \(clear), \(sealed), \(key.createdAt.epochMilliseconds)
                WHERE NOT EXISTS (SELECT 1 FROM signing_key WHERE algorithm = \(key.algorithm) OR kid = \(key.kid))
                """, logger: logger)
        }
    }

    public func sealSigningKey(kid: String, sealed: Data) async throws {
        try await write { db in
            try await db.query("""
                UPDATE signing_key SET sealed_private_key = \(sealed), private_key_pem = '' WHERE kid = \(kid) AND sealed_private_key IS NULL
                """, logger: logger)
        }
    }

    public func resealKeys(_ reseal: @escaping @Sendable (KeySealing.Owner, Data) throws -> Data) async throws -> Int {
        try await write { db in
            // Keys made meanwhile by other instances wait for this transaction rather than escape it.
            try await db.query("LOCK TABLE signing_key, application_key, upstream_login, logout_delivery IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            var signing: [(String, Data)] = []
            let signingRows = try await db.query("""
                SELECT kid, algorithm, sealed_private_key FROM signing_key WHERE sealed_private_key IS NOT NULL
                """, logger: logger)
            for try await (kid, algorithm, sealed) in signingRows.decode((String, String, Data).self) {
                signing.append((kid, try reseal(.signingKey(kid: kid, algorithm: algorithm), sealed)))
            }
            var application: [(String, String, String, Data)] = []
            let applicationRows = try await db.query("SELECT tenant_id, client_id, key_id, sealed_private_key FROM application_key", logger: logger)
            for try await (tenantID, clientID, keyID, sealed) in applicationRows.decode((String, String, String, Data).self) {
                application.append((tenantID, clientID, keyID, try reseal(.application(tenantID: tenantID, clientID: clientID, keyID: keyID), sealed)))
            }
            var upstream: [(UUID, String, Data)] = []
            let upstreamRows = try await db.query("""
                SELECT session_id, id_token, refresh_token FROM upstream_login WHERE id_token IS NOT NULL OR refresh_token IS NOT NULL
                """, logger: logger)
            for try await (sessionID, idToken, refreshToken) in upstreamRows.decode((UUID, Data?, Data?).self) {
                if let idToken {
                    upstream.append((sessionID, "id_token", try reseal(.upstreamToken(sessionID: sessionID, kind: UpstreamLoginCoding.idToken), idToken)))
                }
                if let refreshToken {
                    upstream.append((sessionID, "refresh_token",
                                     try reseal(.upstreamToken(sessionID: sessionID, kind: UpstreamLoginCoding.refreshToken), refreshToken)))
                }
            }
            var deliveries: [(Int64, Data)] = []
            let deliveryRows = try await db.query("SELECT id, session_id, token FROM logout_delivery WHERE token IS NOT NULL", logger: logger)
            for try await (id, sessionID, token) in deliveryRows.decode((Int64, UUID, Data).self) {
                deliveries.append((id, try reseal(.upstreamToken(sessionID: sessionID, kind: UpstreamLoginCoding.refreshToken), token)))
            }
            for (id, sealed) in deliveries {
                try await db.query("UPDATE logout_delivery SET token = \(sealed) WHERE id = \(id)", logger: logger)
            }
            for (sessionID, column, sealed) in upstream {
                try await db.query("UPDATE upstream_login SET \(unescaped: column) = \(sealed) WHERE session_id = \(sessionID)", logger: logger)
            }
            for (kid, sealed) in signing {
                try await db.query("UPDATE signing_key SET sealed_private_key = \(sealed) WHERE kid = \(kid)", logger: logger)
            }
            for (tenantID, clientID, keyID, sealed) in application {
                try await db.query("""
                    UPDATE application_key SET sealed_private_key = \(sealed)
                    WHERE tenant_id = \(tenantID) AND client_id = \(clientID) AND key_id = \(keyID)
                    """, logger: logger)
            }
            return signing.count + application.count + upstream.count + deliveries.count
        }
    }

    // MARK: Application keys

    public func applicationKeys(tenantID: String, clientID: String) async throws -> [ApplicationKey] {
        try await read { db in
            var keys: [ApplicationKey] = []
            let rows = try await db.query("""
                SELECT key_id, public_key, sealed_private_key, created_at, retired_at FROM application_key
                WHERE tenant_id = \(tenantID) AND client_id = \(clientID) ORDER BY created_at, key_id
                """, logger: logger)
            for try await (keyID, publicKey, sealed, created, retired) in rows.decode((String, Data, Data, Int64, Int64?).self) {
                keys.append(ApplicationKey(tenantID: tenantID, clientID: clientID, keyID: keyID, publicKeyDER: publicKey,
                                           sealedPrivateKey: sealed, createdAt: Date(epochMilliseconds: created),
                                           retiredAt: retired.map { Date(epochMilliseconds: $0) }))
            }
            return keys
        }
    }

    public func insertUnlessApplicationHasKey(_ key: ApplicationKey) async throws {
        try await write { db in
            // Instances starting together on an empty database queue here: the first one's key wins.
            try await db.query("LOCK TABLE application_key IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            try await db.query("""
                INSERT INTO application_key (tenant_id, client_id, key_id, public_key, sealed_private_key, created_at)
                SELECT \(key.tenantID), \(key.clientID), \(key.keyID), \(key.publicKeyDER),
                    \(key.sealedPrivateKey), \(key.createdAt.epochMilliseconds)
                WHERE NOT EXISTS (SELECT 1 FROM application_key WHERE tenant_id = \(key.tenantID) AND client_id = \(key.clientID)
                    AND retired_at IS NULL)
                """, logger: logger)
        }
    }

    /// Every live instance has dropped the application's held keys before this returns
    /// (``MemoryKey/applicationKeys(tenantID:clientID:)``).
    public func rotate(to key: ApplicationKey) async throws {
        try await changeSessions(of: nil) { [self] db in
            try await db.query("""
                UPDATE application_key SET retired_at = \(key.createdAt.epochMilliseconds)
                WHERE tenant_id = \(key.tenantID) AND client_id = \(key.clientID) AND retired_at IS NULL
                """, logger: logger)
            try await db.query("""
                INSERT INTO application_key (tenant_id, client_id, key_id, public_key, sealed_private_key, created_at)
                VALUES (\(key.tenantID), \(key.clientID), \(key.keyID), \(key.publicKeyDER),
                    \(key.sealedPrivateKey), \(key.createdAt.epochMilliseconds))
                """, logger: logger)
            return ((), keys: [.applicationKeys(tenantID: key.tenantID, clientID: key.clientID)])
        }
    }

    // MARK: Changed passwords

    public func passwordChange(providerID: String, userID: String) async throws -> PasswordChange? {
        try await read { db in
            let rows = try await db.query("""
                SELECT password_hash, changed_at FROM password_change WHERE provider_id = \(providerID) AND user_id = \(userID)
                """, logger: logger)
            for try await (encoded, changed) in rows.decode((String, Int64).self) {
                guard let hash = PasswordHash(encoded: encoded) else { return nil }
                return PasswordChange(providerID: providerID, userID: userID, passwordHash: hash, changedAt: Date(epochMilliseconds: changed))
            }
            return nil
        }
    }

    public func record(_ change: PasswordChange) async throws {
        try await write { db in
            try await db.query("""
                INSERT INTO password_change (provider_id, user_id, password_hash, changed_at)
                VALUES (\(change.providerID), \(change.userID), \(change.passwordHash.encoded), \(change.changedAt.epochMilliseconds))
                ON CONFLICT (provider_id, user_id) DO UPDATE SET password_hash = excluded.password_hash, changed_at = excluded.changed_at
                """, logger: logger)
        }
    }

    // MARK: Provider browser sessions

    public func insert(_ session: ProviderBrowserSession) async throws {
        try await write { db in
            try await db.query("""
                INSERT INTO provider_session (digest, provider_id, user_id, expires_at)
                VALUES (\(session.digest.bytes), \(session.subject.providerID), \(session.subject.userID), \(session.expiresAt.epochMilliseconds))
                """, logger: logger)
        }
    }

    public func providerSession(digest: SecretDigest) async throws -> ProviderBrowserSession? {
        try await read { db in
            let rows = try await db.query("SELECT provider_id, user_id, expires_at FROM provider_session WHERE digest = \(digest.bytes)", logger: logger)
            for try await (provider, user, expires) in rows.decode((String, String, Int64).self) {
                return ProviderBrowserSession(digest: digest, subject: Subject(userID: user, providerID: provider), expiresAt: Date(epochMilliseconds: expires))
            }
            return nil
        }
    }

    public func deleteProviderSession(digest: SecretDigest) async throws {
        try await write { db in try await db.query("DELETE FROM provider_session WHERE digest = \(digest.bytes)", logger: logger) }
    }

    // MARK: TempPass

    private static let trialColumns = "id, tenant_id, provider_id, device_id, identity_digest, started_at, resources"

    private func trial(where query: PostgresQuery, on db: PostgresConnection) async throws -> TemporaryAccess? {
        let rows = try await db.query(query, logger: logger)
        for try await row in rows.decode(TrialOfDevice.Row.self) { return try TrialOfDevice.trial(row) }
        return nil
    }

    public func temporaryAccess(tenantID: String, providerID: String, deviceID: String, identityDigest: SecretDigest?) async throws -> TemporaryAccess? {
        try await read { db in
            for try await row in try await db.execute(TrialOfDevice(tenantID: tenantID, providerID: providerID, deviceID: deviceID), logger: logger) {
                return try TrialOfDevice.trial(row)
            }
            guard let identityDigest else { return nil }
            return try await trial(where: """
                SELECT \(unescaped: Self.trialColumns) FROM temporary_access
                WHERE tenant_id = \(tenantID) AND provider_id = \(providerID) AND identity_digest = \(identityDigest.bytes) LIMIT 1
                """, on: db)
        }
    }

    /// The trial is read first, then the session (with a new trial) goes in a shared session
    /// change: one statement for the whole batch. Two instances starting one new device at the
    /// same moment may each store a trial for it; its sessions stay consistent either way.
    public func startTemporaryAccessSession(_ request: TemporaryAccessRequest, now: Date,
                                            session makeSession: @Sendable @escaping (TemporaryAccess) -> Session) async throws -> TemporaryAccessStart {
        let found = try await temporaryAccess(tenantID: request.tenantID, providerID: request.providerID, deviceID: request.deviceID,
                                              identityDigest: request.identityDigest)
        if let found, found.isOver(at: now, duration: request.duration) { return .durationExceeded }
        let trial = found ?? request.newTrial()
        let session = makeSession(trial)
        try await startSession(session, creating: found == nil ? trial : nil)
        return .started(session, trial: trial)
    }

    public func temporaryAccess(id: UUID) async throws -> TemporaryAccess? {
        try await read { db in
            try await trial(where: "SELECT \(unescaped: Self.trialColumns) FROM temporary_access WHERE id = \(id)", on: db)
        }
    }

    public func insert(_ access: TemporaryAccess) async throws {
        try await write { db in try await insert(access, on: db) }
    }

    private func insert(_ access: TemporaryAccess, on db: PostgresConnection) async throws {
        let resources = String(decoding: try JSONEncoder().encode(access.resources), as: UTF8.self)
        try await db.query("""
            INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources)
            VALUES (\(access.id), \(access.tenantID), \(access.providerID), \(access.deviceID), \(access.identityDigest?.bytes),
                    \(access.startedAt?.epochMilliseconds), \(resources))
            """, logger: logger)
    }

    public func temporaryAccesses(tenantID: String, providerID: String, deviceID: String?, promotionalOnly: Bool) async throws -> [TemporaryAccess] {
        try await read { db in
            let rows = try await db.query("""
                SELECT \(unescaped: Self.trialColumns) FROM temporary_access WHERE tenant_id = \(tenantID) AND provider_id = \(providerID)
                AND (\(deviceID)::text IS NULL OR device_id = \(deviceID)) AND (NOT \(promotionalOnly) OR identity_digest IS NOT NULL)
                """, logger: logger)
            var found: [TemporaryAccess] = []
            for try await row in rows.decode(TrialOfDevice.Row.self) { found.append(try TrialOfDevice.trial(row)) }
            return found
        }
    }

    public func deleteTemporaryAccesses(ids: [UUID]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await write { db in
            var deleted = 0
            for id in ids {
                let rows = try await db.query("DELETE FROM temporary_access WHERE id = \(id) RETURNING id", logger: logger)
                for try await _ in rows.decode(UUID.self) { deleted += 1 }
            }
            return deleted
        }
    }

    public func useTemporaryAccess(id: UUID, resource: String, now: Date, duration: TimeInterval, resourceLimit: Int?) async throws -> TemporaryAccessUse {
        try await write { db in
            // FOR UPDATE: two first uses at once must not both start the clock or both take the last resource.
            guard var access = try await trial(where: "SELECT \(unescaped: Self.trialColumns) FROM temporary_access WHERE id = \(id) FOR UPDATE", on: db)
            else { return .notFound }
            let outcome = access.use(resource: resource, now: now, duration: duration, resourceLimit: resourceLimit)
            guard case .permitted = outcome else { return outcome }
            let resources = String(decoding: try JSONEncoder().encode(access.resources), as: UTF8.self)
            try await db.query("UPDATE temporary_access SET started_at = \(access.startedAt?.epochMilliseconds), resources = \(resources) WHERE id = \(id)", logger: logger)
            return outcome
        }
    }

    // MARK: Metadata versions

    public func metadataUpdated(providerID: String, userID: String, digest: Data, now: Date) async throws -> Date {
        try await write { db in
            let rows = try await db.query("""
                SELECT digest, updated_at FROM metadata_version WHERE provider_id = \(providerID) AND user_id = \(userID) FOR UPDATE
                """, logger: logger)
            for try await (stored, updated) in rows.decode((Data, Int64).self) where stored == digest {
                return Date(epochMilliseconds: updated)
            }
            try await db.query("""
                INSERT INTO metadata_version (provider_id, user_id, digest, updated_at) VALUES (\(providerID), \(userID), \(digest), \(now.epochMilliseconds))
                ON CONFLICT (provider_id, user_id) DO UPDATE SET digest = EXCLUDED.digest, updated_at = EXCLUDED.updated_at
                """, logger: logger)
            return now
        }
    }

    // MARK: Purge

    public func purgeExpired(now: Date, grace: TimeInterval) async throws -> Int {
        let cutoff = now.epochMilliseconds
        let sessionCutoff = now.addingTimeInterval(-grace).epochMilliseconds
        return try await write { db in
            var removed = 0
            // For the triggers, within this transaction only: an expired session's end is not a logout.
            try await db.query("SET LOCAL tessera.purging = 'on'", logger: logger)
            for (table, limit) in [("login_attempt", cutoff), ("pending_login", cutoff), ("nonce", cutoff),
                                   ("provider_session", cutoff), ("decision", sessionCutoff), ("session", sessionCutoff)] {
                removed += try await Self.count(db.query("DELETE FROM \(unescaped: table) WHERE expires_at <= \(limit) RETURNING 1", logger: logger))
            }
            let unused = now.addingTimeInterval(-unusedClientLifetime).epochMilliseconds
            removed += try await Self.count(db.query(
                "DELETE FROM registered_client WHERE first_token_at IS NULL AND issued_at <= \(unused) RETURNING 1", logger: logger))
            // Instances gone for a day.
            try await db.query("DELETE FROM tessera_instance WHERE lease_until < \(cutoff - 86_400_000)", logger: logger)
            return removed
        }
    }

    // MARK: Coherence

    public var memoryIsCurrent: Bool { peers.memoryIsCurrent }

    public func checkReadiness() async throws {
        try await read { db in _ = try await db.query("SELECT 1 FROM session LIMIT 1", logger: logger) }
    }

    public func sessionCounts(now: Date) async throws -> [SessionKind: Int] {
        try await read { db in
            // The rows held (kept by triggers, in shards), less those past their expiry that the
            // purge has not removed yet (found through the expiry index).
            var held: [(String, Int)] = [], expired: [(String, Int)] = []
            for try await (kind, count) in try await db.query("SELECT kind, sum(n)::int8 FROM session_count GROUP BY kind", logger: logger)
                .decode((String, Int64).self) { held.append((kind, Int(count))) }
            let rows = try await db.query("SELECT kind, count(*) FROM session WHERE expires_at <= \(now.epochMilliseconds) GROUP BY kind",
                                          logger: logger)
            for try await (kind, count) in rows.decode((String, Int64).self) { expired.append((kind, Int(count))) }
            return SessionSQL.liveCounts(held: held, expired: expired)
        }
    }

    public func onInvalidation(_ handler: @escaping @Sendable ([MemoryKey]?) -> Void) {
        peers.onInvalidation(handler)
    }
}

// MARK: Prepared statements of the hot reads

/// A device's session: parsed and planned once per connection.
struct SessionByDevice: PostgresPreparedStatement {
    static let sql = "SELECT \(SessionSQL.columns) FROM session WHERE tenant_id = $1 AND device_id = $2 AND kind = 'device'"
    typealias Row = (UUID, String, String, String?, String, String, String?, String?, Data?, Data?, UUID?, UUID?, String?, Int64, Int64, Int64?, String?)
    var tenantID: String
    var deviceID: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(tenantID)
        bindings.append(deviceID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }

    static func session(_ row: Row) throws -> Session {
        guard let kind = SessionKind(rawValue: row.2) else { throw StoreError("stored session kind \(row.2) is unknown") }
        return Session(
            id: row.0, tenantID: row.1, kind: kind, applicationID: row.3, subject: Subject(userID: row.5, providerID: row.4),
            deviceID: row.6, ssoKey: row.7, tokenDigest: row.8.map(SecretDigest.init(bytes:)),
            refreshDigest: row.9.map(SecretDigest.init(bytes:)), familyID: row.10, trialID: row.11, deviceUser: row.12,
            createdAt: Date(epochMilliseconds: row.13), expiresAt: Date(epochMilliseconds: row.14),
            lastUsedAt: row.15.map(Date.init(epochMilliseconds:)), clientAddress: row.16)
    }
}

struct SessionByID: PostgresPreparedStatement {
    static let sql = "SELECT \(SessionSQL.columns) FROM session WHERE id = $1"
    typealias Row = SessionByDevice.Row
    var id: UUID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

struct DecisionLookup: PostgresPreparedStatement {
    static let sql = "SELECT provider_id, expires_at FROM decision WHERE session_id = $1 AND resource = $2"
    typealias Row = (String, Int64)
    var sessionID: UUID
    var resource: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(sessionID)
        bindings.append(resource)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
