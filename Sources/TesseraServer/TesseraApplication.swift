import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import TesseraCore
import TesseraServices
import TesseraStore
import TesseraSQLite
import TesseraPostgres

/// How to run Tessera.
public struct ServerOptions: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Holds `tessera.sqlite` (and its WAL); created if missing.
    public var dataDirectory: String
    public var configuration: TesseraConfiguration
    public var clock: any TesseraClock = SystemClock()
    public var purgeInterval: Duration = .seconds(60)
    /// How often the last-used times of sessions are written.
    public var sessionUseInterval: Duration = .seconds(30)
    /// How often the `tessera_sessions` gauge is read from the store's kept counts (in the
    /// background; no scan of the session table).
    public var sessionCountInterval: Duration = .seconds(15)
    /// How often the outbox of logout deliveries is looked at.
    public var deliveryInterval: Duration = .seconds(1)
    public var logLevel: Logger.Level = .info
    /// Timeouts per request phase and the connection cap.
    public var connectionLimits = ConnectionLimits()
    /// Set to serve HTTPS (`--tls-cert`, `--tls-key`); nil: plain HTTP, for loopback or behind a
    /// proxy that terminates TLS.
    public var tls: TLSCertificates?

    public init(dataDirectory: String, configuration: TesseraConfiguration) {
        self.dataDirectory = dataDirectory
        self.configuration = configuration
    }

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("tessera.sqlite") }

    /// The store the options name: PostgreSQL when the configuration gives a database URL, else
    /// the SQLite file in the data directory (which must exist: ``DataDirectory/prepare(_:)``). Migrates it.
    public func openStore(logger: Logger, metrics: TesseraMetrics? = nil) async throws -> any Store {
        if let url = configuration.databaseURL {
            return try await PostgresStore.open(PostgresLocation(url: url), logger: logger, metrics: metrics?.storeMetrics(store: "postgres") ?? .none)
        }
        return try SQLiteStore(path: databasePath, metrics: metrics?.storeMetrics(store: "sqlite") ?? .none)
    }
}

public typealias TesseraHTTPApplication = Application<FormatSuffixResponder<AccessLogResponder<MethodCheckResponder>>>

/// Builds the Tessera server: store, keys, front doors, background purge.
///
/// ```swift
/// let (app, _, _) = try await TesseraServerBuilder.build(options)
/// try await app.runService()
/// ```
public enum TesseraServerBuilder {
    public static func build(_ options: ServerOptions) async throws -> (application: TesseraHTTPApplication, services: Services, store: any Store) {
        var logger = Logger(label: "tessera")
        logger.logLevel = options.logLevel
        // The folder holds the credentials file with either store, and the database with SQLite.
        if let warning = try DataDirectory.prepare(options.dataDirectory) { logger.warning("\(warning)") }
        guard let sealing = options.configuration.keySealing else {
            throw ConfigurationError("give a key-encryption key, server.key_encryption_key or TESSERA_KEY_ENCRYPTION_KEY (32 bytes, base64: openssl rand -base64 32): the private keys in the store are sealed under it")
        }
        let metrics = TesseraMetrics()
        let store = try await options.openStore(logger: logger, metrics: metrics)
        let tokens: TokenAuthority
        do { tokens = try await TokenAuthority.load(from: store, sealing: sealing, clock: options.clock) } catch {
            await store.close()
            throw error
        }
        let services = Services(store: store, configuration: options.configuration, sealing: sealing, clock: options.clock, tokens: tokens,
                                logger: logger, metrics: metrics)
        do { try await services.applicationKeys.prepare(options.configuration.directory) } catch {
            await store.close()
            throw error
        }
        let pages = try await Pages.load()

        let router = Routes()
        router.get("/healthz") { _, _ in "ok" }
        let openAPI = try OpenAPIDocument.load()
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: openAPI))
        }
        // Readiness, for load balancers: 503 takes the instance out while its store does not
        // answer or (PostgreSQL) while it may have missed another instance's change.
        router.get("/readyz") { _, _ in
            let ready = await services.isReady()
            return Response(status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: ready ? "ready" : "not ready")))
        }
        // Each front door is a group of routes with its own middleware. Adobe throttles its
        // endpoints (v1 and DCR) per client address, in one set of buckets.
        let adobeThrottle = ThrottleMiddleware(services: services, buckets: TokenBuckets(clock: options.clock))
        ClientRegistration(services: services).addRoutes(to: router, throttle: adobeThrottle)
        ClientlessV1(services: services).addRoutes(to: router, throttle: adobeThrottle)
        RestV2(services: services, pages: pages).addRoutes(to: router, throttle: adobeThrottle)
        let forms = BrowserForms(key: tokens.formKey, publicBaseURL: options.configuration.publicBaseURL)
        ActivationPages(services: services, pages: pages, forms: forms).addRoutes(to: router)
        let providerPages = ProviderPages(services: services, pages: pages, forms: forms)
        providerPages.addRoutes(to: router)
        SAMLPages(services: services, pages: pages, forms: forms, providerPages: providerPages).addRoutes(to: router)
        BackchannelLogout(services: services).addRoutes(to: router)
        AdminAPI(services: services).addRoutes(to: router)
        MeetingUSG(services: services, buckets: TokenBuckets(clock: options.clock)).addRoutes(to: router)
        OneAccessSDK(services: services).addRoutes(to: router)

        let purge = PurgeService(store: store, clock: options.clock, interval: options.purgeInterval, grace: 24 * 3600, logger: logger)
        let limits = options.connectionLimits
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestDeadlineHandler(limits: limits)])
        let application = Application(
            responder: FormatSuffixResponder(inner: AccessLogResponder(inner: router.buildResponder(helpURL: options.configuration.helpURL), services: services)),
            server: options.tls.map { .http1(configuration: http, certificates: $0) } ?? .http1(configuration: http),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "Tessera",
                                 availableConnectionsDelegate: ConnectionCap(cap: limits.connectionCap, logger: logger)),
            // The service group stops its services last to first: the purge must have stopped
            // before the store closes under it.
            services: [StoreCloser(store: store), purge, SessionUseRecorder(services: services, interval: options.sessionUseInterval),
                       SessionCounter(services: services, interval: options.sessionCountInterval),
                       LogoutDeliveryService(services: services, interval: options.deliveryInterval)],
            logger: logger)
        return (application, services, store)
    }
}
