import Foundation
import Hummingbird
import Logging
import TesseraCore
import TesseraStore

/// The operations of the core, over the store. Front doors parse a request, call one of
/// these, and render the result; nothing here knows HTTP, and nothing in a front door knows SQL.
///
/// A class: every route's closure and every front door holds it, and copying the struct it was
/// (a dozen references, the configuration's among them) retained and released each of them on
/// every request.
public final class Services: Sendable {
    public let store: any Store
    public let configuration: TesseraConfiguration
    public let clock: any TesseraClock
    public let tokens: TokenAuthority
    /// Wrong codes and passwords per address, subscriber and tenant.
    public let loginGuard: LoginGuard
    /// Client registrations per tenant, software statement and client address, in the last hour.
    let registrations: AttemptLimiter
    /// Sessions and decisions in memory, so that hot reads do not wait on the store.
    let hot: HotReads
    let logger: Logger

    /// How many wrong passwords one browser attempt may make before it is void.
    static let passwordsPerAttempt = 5
    /// How long a browser may take on a provider's login page.
    static let loginAttemptLifetime: TimeInterval = 15 * 60

    public var directory: Directory { configuration.directory }

    public init(store: any Store, configuration: TesseraConfiguration, clock: any TesseraClock, tokens: TokenAuthority, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.tokens = tokens
        self.logger = logger
        self.loginGuard = LoginGuard(limits: configuration.loginLimits, clock: clock, logger: logger)
        self.registrations = AttemptLimiter(limit: configuration.registrationsPerAddress, window: 3600, clock: clock)
        let hot = HotReads(capacity: configuration.cacheCapacity)
        self.hot = hot
        // Another instance changed a device's sessions (or we may have missed some): forget it.
        store.onSessionsChanged { device in
            if let device { hot.sessions.invalidate(device) } else { hot.forgetEverything() }
        }
    }

    /// The client's address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
    func clientAddress(_ request: Request, _ context: TesseraRequestContext) -> String {
        configuration.trustedProxies.clientAddress(peer: context.peerAddress, forwardedFor: request.headers.value(.forwardedFor))
    }

    func tenant(_ id: String?) throws(TesseraError) -> Tenant {
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
}
