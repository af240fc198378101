import Foundation
import TesseraCore

/// Registered DCR clients.
public protocol ClientStore: Sendable {
    func insert(_ client: RegisteredClient) async throws
    func client(id: String) async throws -> RegisteredClient?
    /// Deletes the client; on PostgreSQL every live instance has dropped its verified bearers
    /// (``MemoryKey/client(_:)``) before this returns. `false` when there was none.
    func deleteClient(id: String, tenantID: String) async throws -> Bool
    /// Records the client's first access token (a later call changes nothing).
    func markFirstToken(clientID: String, at: Date) async throws
}

/// How long a registered client may go without getting an access token before the purge
/// deletes it: registrations nobody uses are not kept for ever.
public let unusedClientLifetime: TimeInterval = 24 * 3600

/// Pending logins (registration codes), keyed by the digest of their code.
public protocol PendingLoginStore: Sendable {
    /// Stores a new pending login; `false` when a live one already has the same code digest.
    func insert(_ login: PendingLogin) async throws -> Bool
    func pendingLogin(codeDigest: SecretDigest) async throws -> PendingLogin?
    func pendingLogin(id: UUID) async throws -> PendingLogin?
    /// Deletes it and any browser attempt under it; `false` when there was none.
    func deletePendingLogin(codeDigest: SecretDigest) async throws -> Bool
    /// Sets the provider and description of a pending login not yet completed (a REST v2
    /// session resumed from a second screen); `false` when it is gone or completed.
    func updatePendingLogin(id: UUID, providerID: String?, description: DeviceDescription) async throws -> Bool
}

/// Browsers on their way through a provider's login page.
public protocol LoginAttemptStore: Sendable {
    func insert(_ attempt: LoginAttempt) async throws
    func loginAttempt(stateDigest: SecretDigest) async throws -> LoginAttempt?
    /// Counts a wrong password; at `limit` the attempt is deleted. Returns the new count.
    func recordFailedPassword(stateDigest: SecretDigest, limit: Int) async throws -> Int
}

/// What became of a login completion.
public enum LoginCompletion: Sendable, Equatable {
    case completed(PendingLogin)
    case attemptNotFound
    case codeNotFound
    case codeExpired
    case codeAlreadyUsed
}

/// Sessions of every kind and what hangs off them (decisions).
public protocol SessionStore: Sendable {
    /// In one transaction: consumes the attempt, marks its pending login completed, and starts
    /// `session` in place of the ones it replaces (``Session/replaces``: a v1 device's login),
    /// with every decision under them.
    /// `alsoStarting`: further sessions the same login starts in the same transaction (the SSO
    /// profiles of a REST v2 login), each in place of what it replaces.
    /// `upstream`: what an OpenID Connect provider said of the subscriber, kept beside each of the
    /// sessions started (``UpstreamLogin``, one row per session; the tokens with `session` only).
    func completeLogin(attemptDigest: SecretDigest, session: Session, alsoStarting: [Session], upstream: UpstreamLogin?,
                       now: Date) async throws -> LoginCompletion
    /// The upstream login `sessionID` was started from, while the session lives (a trigger on
    /// both stores deletes it with its session).
    func upstreamLogin(sessionID: UUID) async throws -> UpstreamLogin?
    /// In one transaction: ends the sessions `session` replaces (``Session/replaces``) and, with
    /// `limit`, the oldest live sessions of its subject, kind and application past the limit;
    /// stores `trial` when it is a new one (TempPass); stores `session`. Returns what it ended.
    @discardableResult
    func startSession(_ session: Session, creating trial: TemporaryAccess?, limit: SessionLimit?) async throws -> [Session]
    /// A v1 device's login (its authN token).
    func session(device: DeviceKey) async throws -> Session?
    func session(id: UUID) async throws -> Session?
    /// Every session `selector` picks, oldest first.
    func sessions(_ selector: SessionSelector) async throws -> [Session]
    /// Ends every session `selector` picks, with everything under it (decisions), durably, in
    /// one transaction; on PostgreSQL every live instance has dropped their memory keys before
    /// this returns. Returns the sessions it ended.
    @discardableResult
    func revokeSessions(_ selector: SessionSelector) async throws -> [Session]
    /// Records when sessions were last used (a later time only ever moves it forward).
    func recordUse(_ uses: [SessionUse]) async throws
}

extension SessionStore {
    public func completeLogin(attemptDigest: SecretDigest, session: Session, now: Date) async throws -> LoginCompletion {
        try await completeLogin(attemptDigest: attemptDigest, session: session, alsoStarting: [], upstream: nil, now: now)
    }

    public func completeLogin(attemptDigest: SecretDigest, session: Session, alsoStarting: [Session], now: Date) async throws -> LoginCompletion {
        try await completeLogin(attemptDigest: attemptDigest, session: session, alsoStarting: alsoStarting, upstream: nil, now: now)
    }

    @discardableResult
    public func startSession(_ session: Session, creating trial: TemporaryAccess? = nil) async throws -> [Session] {
        try await startSession(session, creating: trial, limit: nil)
    }
}

/// Authorization decisions under a session.
public protocol DecisionStore: Sendable {
    func upsert(_ decision: Decision) async throws
    func decision(sessionID: UUID, resource: String) async throws -> Decision?
    func decisions(sessionID: UUID) async throws -> [Decision]
}

/// Nonces of signed requests, so that none is accepted twice.
public protocol NonceStore: Sendable {
    /// `true` the first time a (tenant, nonce) pair is claimed before it expires.
    func claimNonce(tenantID: String, nonce: String, expiresAt: Date) async throws -> Bool
}

/// A key Tessera signs with, shared through the database.
public struct StoredSigningKey: Sendable, Equatable {
    public var kid: String
    public var algorithm: String
    public var privateKey: Material
    public var createdAt: Date

    /// The private key's text (a PEM, or base64 of the form key's bytes), as the store holds it.
    public enum Material: Sendable, Equatable {
        /// Sealed under the key-encryption key (``KeySealing``, owner ``StoredSigningKey/owner``).
        case sealed(Data)
        /// In the clear: written by a Tessera older than key sealing; a start seals it.
        case clear(String)
    }

    public init(kid: String, algorithm: String, privateKey: Material, createdAt: Date) {
        self.kid = kid
        self.algorithm = algorithm
        self.privateKey = privateKey
        self.createdAt = createdAt
    }

    public var owner: KeySealing.Owner { .signingKey(kid: kid, algorithm: algorithm) }
}

extension StoredSigningKey.Material {
    /// The two columns that hold it: `private_key_pem` ('' once sealed) and `sealed_private_key`.
    package var columns: (clear: String, sealed: Data?) {
        switch self {
        case .sealed(let sealed): ("", sealed)
        case .clear(let pem): (pem, nil)
        }
    }
}

public protocol SigningKeyStore: Sendable {
    func signingKeys() async throws -> [StoredSigningKey]
    /// Stores `key` unless the store already holds a key of its algorithm (or its kid), atomically:
    /// instances starting together on an empty database all end up signing with the same key.
    func insertUnlessAlgorithmHasKey(_ key: StoredSigningKey) async throws
    /// Replaces the clear private key of `kid` by `sealed`, unless it is sealed already (another
    /// instance sealed it first).
    func sealSigningKey(kid: String, sealed: Data) async throws
}

/// Every sealed private key at once, for a change of key-encryption key.
public protocol SealedKeyStore: Sendable {
    /// In one transaction: replaces each sealed private key (signing keys and application keys)
    /// by `reseal(owner, sealed)`; answers how many. A throw from `reseal` changes nothing.
    func resealKeys(_ reseal: @escaping @Sendable (KeySealing.Owner, Data) throws -> Data) async throws -> Int
}

/// The RSA key pairs of user-session applications (OneAccess), private halves sealed.
public protocol ApplicationKeyStore: Sendable {
    /// The application's keys, oldest first (retired ones included).
    func applicationKeys(tenantID: String, clientID: String) async throws -> [ApplicationKey]
    /// Stores `key` unless the application already has a key that is not retired, atomically:
    /// instances starting together on an empty database all end up with the same key.
    func insertUnlessApplicationHasKey(_ key: ApplicationKey) async throws
    /// Retires the application's current keys at `key.createdAt` and stores `key` in their place,
    /// in one transaction; on PostgreSQL every live instance has dropped the application's held
    /// keys (``MemoryKey/applicationKeys(tenantID:clientID:)``) before this returns.
    func rotate(to key: ApplicationKey) async throws
}

/// Users' passwords as changed through the OneAccess API (`pwd/update`), in place of the configured ones.
public protocol PasswordChangeStore: Sendable {
    func passwordChange(providerID: String, userID: String) async throws -> PasswordChange?
    /// Stores `change` in place of the user's previous one.
    func record(_ change: PasswordChange) async throws
}

/// A provider's browser sessions (its cookie).
public protocol ProviderSessionStore: Sendable {
    func insert(_ session: ProviderBrowserSession) async throws
    func providerSession(digest: SecretDigest) async throws -> ProviderBrowserSession?
    func deleteProviderSession(digest: SecretDigest) async throws
}

/// TempPass trials.
public protocol TemporaryAccessStore: Sendable {
    /// The trial of this provider that the device, or (for a promotional TempPass) the identity, already has.
    func temporaryAccess(tenantID: String, providerID: String, deviceID: String, identityDigest: SecretDigest?) async throws -> TemporaryAccess?
    func temporaryAccess(id: UUID) async throws -> TemporaryAccess?
    func insert(_ access: TemporaryAccess) async throws
    /// Starts a TempPass session. Finds the trial that the device (or the identity) already has;
    /// when its time ran out, changes nothing and answers `.durationExceeded`. Otherwise stores
    /// `request.newTrial()` if there was none, and replaces the device's session (and every
    /// decision under it) by `session(trial)`. The SQLite store does all of it in one
    /// transaction, so two starts of one new device make one trial.
    func startTemporaryAccessSession(_ request: TemporaryAccessRequest, now: Date,
                                     session: @Sendable @escaping (TemporaryAccess) -> Session) async throws -> TemporaryAccessStart
    /// In one transaction: starts the clock if this is the first use, refuses past `duration`,
    /// and counts `resource` against `resourceLimit` (a resource already used does not count again).
    func useTemporaryAccess(id: UUID, resource: String, now: Date, duration: TimeInterval, resourceLimit: Int?) async throws -> TemporaryAccessUse
    /// The trials of a provider: of one device (nil: every device), promotional ones only when asked.
    func temporaryAccesses(tenantID: String, providerID: String, deviceID: String?, promotionalOnly: Bool) async throws -> [TemporaryAccess]
    /// Deletes trials (their sessions are ended first, by ``SessionSelector/Key/trial(_:)``); returns how many went.
    func deleteTemporaryAccesses(ids: [UUID]) async throws -> Int
}

/// Degradation rules set through the admin API (the configuration file's are not stored).
public protocol DegradationStore: Sendable {
    func degradationRules() async throws -> [DegradationRule]
    /// Sets `rule` in place of the same kind for its tenant and provider; an authorization rule
    /// also replaces the other authorization kind (AuthZAll and AuthZNone exclude each other).
    func setDegradationRule(_ rule: DegradationRule, now: Date) async throws
    /// Clears the tenant's rules for the provider (of `kind` only, when given); returns how many went.
    func clearDegradationRules(tenantID: String, providerID: String, kind: DegradationRule.Kind?) async throws -> Int
}

/// When each subscriber's metadata last changed.
public protocol MetadataVersionStore: Sendable {
    /// Records `digest` as the subscriber's metadata; returns when it last changed (now, if it just did).
    func metadataUpdated(providerID: String, userID: String, digest: Data, now: Date) async throws -> Date
}

/// What an instance may keep in memory when other instances share its store.
public protocol MemoryCoherence: Sendable {
    /// Whether hot reads may be answered from memory right now. Always true for a store only
    /// this process uses.
    var memoryIsCurrent: Bool { get }
    /// `handler(keys)` runs when another instance ended or replaced what memory may hold under
    /// `keys` (before the change is answered there); `handler(nil)` when this instance may have
    /// missed changes and must forget everything.
    func onInvalidation(_ handler: @escaping @Sendable ([MemoryKey]?) -> Void)
}

/// Everything Tessera keeps. Each backend implements all of it; one conformance suite tests
/// every backend.
/// What sessions ending leave to deliver (``LogoutDelivery``), and where they came from upstream.
public protocol LogoutDeliveryStore: Sendable {
    /// The tenants whose sessions, when they end, are told to their services (the
    /// configuration's `backchannel_logout_uri`): the triggers read this set.
    func setBackchannelTenants(_ tenantIDs: Set<String>) async throws
    /// Up to `limit` deliveries due at `now`, each leased to the caller until `now + lease` (no
    /// other instance takes it meanwhile).
    func claimLogoutDeliveries(now: Date, lease: TimeInterval, limit: Int) async throws -> [LogoutDelivery]
    /// Delivered (or given up): gone.
    func finishLogoutDelivery(id: Int64) async throws
    /// Failed: tried again at `at`, one more attempt counted, the lease released.
    func retryLogoutDelivery(id: Int64, at: Date) async throws
    /// How many deliveries wait.
    func pendingLogoutDeliveries() async throws -> Int
    /// The live sessions an upstream provider's session (`sid`) or subject (`sub`) started: their
    /// tenants and ids, for its back-channel logout.
    func upstreamSessions(providerID: String, providerSessionID: String?, subjectID: String?) async throws -> [(tenantID: String, sessionID: UUID)]
}

public protocol Store: ClientStore, PendingLoginStore, LoginAttemptStore, SessionStore, DecisionStore,
    NonceStore, SigningKeyStore, SealedKeyStore, ApplicationKeyStore, PasswordChangeStore, ProviderSessionStore, TemporaryAccessStore, MetadataVersionStore, DegradationStore, LogoutDeliveryStore, MemoryCoherence
{
    /// Deletes codes, attempts, nonces and browser sessions past their expiry, sessions and
    /// decisions more than `grace` past theirs (so that "expired" can still be told from "never"),
    /// and clients that got no access token within ``unusedClientLifetime`` of registering.
    func purgeExpired(now: Date, grace: TimeInterval) async throws -> Int
    /// Sessions not yet expired, by kind, for the `tessera_sessions` gauge, without a scan of
    /// the session table: the row counts triggers keep in `session_count`, less the expired rows
    /// the purge has not removed yet (through the expiry index).
    func sessionCounts(now: Date) async throws -> [SessionKind: Int]
    /// Reads the session table once: throws when the store cannot answer (`GET /readyz`).
    func checkReadiness() async throws
    /// Sets the store's gauges that are read rather than counted (PostgreSQL: operations in
    /// flight, peer instances heard); called before each metrics scrape.
    func sampleGauges()
    /// Releases connections and background work; the store is unusable afterwards.
    func close() async
}

/// A storage failure. Front doors answer it with a 5xx; it is never swallowed.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
