import Foundation
import Logging
import TesseraCore
import TesseraStore

/// The operations of the core, over the store. Front doors parse a request, call one of
/// these, and render the result; nothing here knows HTTP, and nothing in a front door knows SQL
/// or reaches the store: each group of operations depends on the narrow store protocol it uses.
///
/// A class: every route's closure and every front door holds it, and copying the struct it was
/// (a dozen references, the configuration's among them) retained and released each of them on
/// every request.
public final class Services: Sendable {
    let clients: any ClientStore
    let pendingLogins: any PendingLoginStore & LoginAttemptStore
    let sessions: any SessionStore & DecisionStore
    let nonces: any NonceStore
    let passwordChanges: any PasswordChangeStore
    let readiness: any Store
    let providerSessions: any ProviderSessionStore
    let trials: any TemporaryAccessStore
    let metadataVersions: any MetadataVersionStore
    let degradations: any DegradationStore
    let logoutDeliveries: any LogoutDeliveryStore
    /// The stored degradation rules as last read.
    let degradation = DegradationRules()
    /// Verifies platform and service tokens (REST v2 SSO).
    let singleSignOnTokens = SingleSignOnTokens()
    let coherence: any MemoryCoherence
    public let configuration: TesseraConfiguration
    public let clock: any TesseraClock
    public let tokens: TokenAuthority
    /// Wrong codes and passwords per address, subscriber and tenant.
    public let loginGuard: LoginGuard
    /// Client registrations per tenant, software statement and client address, in the last hour.
    let registrations: AttemptLimiter
    /// The key pairs of user-session applications (OneAccess).
    package let applicationKeys: ApplicationKeys
    /// Sessions and decisions in memory, so that hot reads do not wait on the store.
    let hot: HotReads
    /// Seals what the store keeps of upstream logins (and, through ``applicationKeys``, keys).
    let sealing: KeySealing
    /// Tessera as a relying party of the configured OpenID Connect providers.
    let openID: OpenIDConnect
    /// Tessera as the service provider of the configured SAML providers.
    let saml: SAMLServiceProvider
    /// Whether any provider signs subscribers in upstream (a logout then reads what to hand back).
    let hasUpstreamProviders: Bool
    package let logger: Logger
    public let metrics: TesseraMetrics

    /// How many wrong passwords one browser attempt may make before it is void.
    static let passwordsPerAttempt = 5
    /// How long a browser may take on a provider's login page.
    static let loginAttemptLifetime: TimeInterval = 15 * 60

    public var directory: Directory { configuration.directory }

    public init(store: any Store, configuration: TesseraConfiguration, sealing: KeySealing, clock: any TesseraClock, tokens: TokenAuthority,
                logger: Logger, metrics: TesseraMetrics = TesseraMetrics()) {
        self.metrics = metrics
        clients = store
        pendingLogins = store
        sessions = store
        nonces = store
        passwordChanges = store
        readiness = store
        providerSessions = store
        trials = store
        metadataVersions = store
        degradations = store
        logoutDeliveries = store
        coherence = store
        self.configuration = configuration
        self.clock = clock
        self.tokens = tokens
        self.logger = logger
        self.loginGuard = LoginGuard(limits: configuration.loginLimits, clock: clock, logger: logger)
        self.registrations = AttemptLimiter(limit: configuration.registrationsPerAddress, window: 3600, clock: clock)
        applicationKeys = ApplicationKeys(store: store, sealing: sealing, clock: clock)
        self.sealing = sealing
        openID = OpenIDConnect(clock: clock)
        saml = SAMLServiceProvider(clock: clock, openID: openID, privateKeyPEM: tokens.signingKeyPEM)
        hasUpstreamProviders = configuration.directory.providers.values.contains { $0 is any UpstreamProvider }
        let hot = HotReads(capacity: configuration.cacheCapacity)
        self.hot = hot
        // Another instance ended what we may hold under these keys (or we may have missed some): forget it.
        let bearers = tokens.verifiedAccessTokens
        let applicationKeys = applicationKeys
        store.onInvalidation { keys in
            if let keys {
                hot.invalidate(keys, bearers: bearers)
                applicationKeys.invalidate(keys)
            } else {
                hot.forgetEverything()
                bearers.invalidateAll()
                applicationKeys.forgetAll()
            }
        }
    }

    package func tenant(_ id: String?) throws(TesseraError) -> Tenant {
        guard let id, let tenant = directory.tenant(id) else { throw .invalidRequestor }
        return tenant
    }

    /// Runs a store operation; a storage failure becomes a 5xx, never a silent success.
    func stored<T: Sendable>(_ operation: () async throws -> T) async throws(TesseraError) -> T {
        do { return try await operation() } catch {
            logger.error("storage failure: \(error)")
            throw .storageFailure
        }
    }

    /// Whether this instance should get traffic: its store answers and, on PostgreSQL, its memory
    /// is current (it hears the other instances' changes). A load balancer's probe (`/readyz`).
    package func isReady() async -> Bool {
        guard coherence.memoryIsCurrent else { return false }
        do { try await readiness.checkReadiness() } catch {
            logger.warning("not ready: the store does not answer: \(error)")
            return false
        }
        return true
    }

    /// Runs `body`, counting `event` of `dialect` (a front door's name) by outcome: `ok`,
    /// `refused` (the caller's error: a wrong password, an unknown session) or `failed` (storage).
    package func counted<T>(_ event: TesseraMetrics.Event, dialect: String,
                            _ body: () async throws(TesseraError) -> T) async throws(TesseraError) -> T {
        do {
            let value = try await body()
            metrics.count(event, dialect: dialect, outcome: "ok")
            return value
        } catch {
            metrics.count(event, dialect: dialect, outcome: error == .storageFailure ? "failed" : "refused")
            throw error
        }
    }

    /// Brings the metrics that are read rather than counted up to date: cache lookups and the
    /// store's gauges. Before each scrape.
    package func sampleMetrics() {
        metrics.cacheLookups("device_logins", hot.deviceLogins.lookups)
        metrics.cacheLookups("sessions_by_token", hot.sessionsByToken.lookups)
        metrics.cacheLookups("decisions", hot.decisions.lookups)
        metrics.cacheLookups("verified_bearers", tokens.verifiedAccessTokens.lookups)
        readiness.sampleGauges()
    }

    /// Counts the sessions the store holds, by kind, for the `tessera_sessions` gauge: in the
    /// background, every 15 seconds (``SessionCounter``), never on a request: the counts the
    /// store keeps by trigger, less the expired rows not yet purged.
    package func countSessions() async {
        do { metrics.setSessionCounts(try await readiness.sessionCounts(now: clock.now())) } catch {
            logger.warning("cannot count the sessions for metrics: \(error)")
        }
    }

    /// Claims a signed request's nonce: `false` when it was seen before.
    package func claimNonce(tenantID: String, nonce: String, expiresAt: Date) async throws(TesseraError) -> Bool {
        try await stored { try await nonces.claimNonce(tenantID: tenantID, nonce: nonce, expiresAt: expiresAt) }
    }

    /// Writes the last-used times noted since the last call (``HotReads/noteUse(_:at:)``).
    package func recordSessionUses() async {
        // In the order of the sessions' ids, so of the id index and, for ids that grow with time, of
        // the table's rows: a slice then dirties a run of neighbouring pages, not one page per use
        // scattered over the whole table (each dirty page is written whole to the WAL and the file).
        let uses = hot.takeUses().sorted { $0.sessionID.orderKey < $1.sessionID.orderKey }
        guard !uses.isEmpty else { return }
        // In slices: a long write would hold up logins and logouts behind it.
        for start in stride(from: 0, to: uses.count, by: 1_000) {
            do { try await sessions.recordUse(Array(uses[start..<min(start + 1_000, uses.count)])) } catch {
                logger.warning("cannot record when sessions were last used: \(error)")
                return
            }
        }
    }
}
