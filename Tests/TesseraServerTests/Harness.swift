import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

/// The demo configuration plus a second tenant, for isolation tests. Loaded once: hashing the
/// subscribers' passwords is deliberately slow.
enum Fixture {
    static let otherTenant = """

          - requestor: OTHER40
            name: Other site
            domains: [other.test]
            providers: [Dish]
            software_statements:
              - software_id: other-app
                client_name: Other app
            legacy_keys:
              - public_key: other-public
                private_key: other-private

        """
    static let encodedKeyEncryptionKey = KeySealing.generateEncodedKey()
    static let configuration: TesseraConfiguration = {
        do {
            var configuration = try TesseraConfiguration.load(yaml: TesseraConfiguration.demoYAML() + otherTenant)
            configuration.throttling = false // the throttling tests turn it on
            // What `--demo` would make in its data folder; one for the test process, so that a
            // harness reopening another's database opens its keys.
            configuration.keySealing = try KeySealing(encoded: encodedKeyEncryptionKey)
            return configuration
        } catch {
            fatalError("test configuration: \(error)")
        }
    }()
    /// The fixture with its tenants changed by `change`: the providers (and their password
    /// hashes) are reused, so nothing is hashed again (PBKDF2 on the test process's few threads
    /// holds up the tests beside it).
    static func configuration(changingTenants change: (inout [Tenant]) -> Void) throws -> TesseraConfiguration {
        var configuration = Self.configuration
        let directory = configuration.directory
        var tenants = directory.tenantOrder.compactMap { directory.tenant($0) }
        change(&tenants)
        configuration.directory = try Directory(tenants: tenants, providers: Array(directory.providers.values))
        return configuration
    }

    /// The fixture with `providers` added, REF30 offering them, and each tenant changed by `change`.
    static func configuration(adding providers: [any IdentityProvider], change: (inout Tenant) -> Void = { _ in }) throws -> TesseraConfiguration {
        var configuration = Self.configuration
        let directory = configuration.directory
        var tenants = directory.tenantOrder.compactMap { directory.tenant($0) }
        for index in tenants.indices {
            if tenants[index].id == "REF30" { tenants[index].providerIDs += providers.map(\.id) }
            change(&tenants[index])
        }
        configuration.directory = try Directory(tenants: tenants, providers: Array(directory.providers.values) + providers)
        return configuration
    }

    static let start = Date(epochMilliseconds: 1_795_000_000_000)
    static let deviceInfo = Data(#"{"model":"Roku Ultra","osName":"Roku OS","primaryHardwareType":"SetTopBox"}"#.utf8).base64EncodedString()
}

/// Which store the end-to-end tests run on: SQLite, or PostgreSQL when TESSERA_TEST_STORE is
/// `postgres` (`.ci/run` runs the tests once each way).
enum TestStore {
    static var postgresURL: String? {
        let environment = ProcessInfo.processInfo.environment
        guard environment["TESSERA_TEST_STORE"] == "postgres" else { return nil }
        return environment["TESSERA_TEST_DATABASE_URL"]
    }

    /// The test database in a schema of its own.
    static func freshPostgresURL() -> String? {
        guard let url = postgresURL else { return nil }
        let schema = "e_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        return url + (url.contains("?") ? "&" : "?") + "schema=\(schema)&pool_size=4"
    }
}

/// Names on stderr the step a harness has been in for over 150 s: a test that hangs then says
/// where (CI's hang report lists the tests; this says what each was waiting for).
final class StepWatch: Sendable {
    private let current = Mutex<(step: String, since: ContinuousClock.Instant)?>(nil)
    private let name = Test.current.map { "\($0.id)" } ?? "a test"
    private let watcher = Mutex<Task<Void, Never>?>(nil)

    init() {
        // Holds the watch until finish() cancels it.
        let task = Task { [self] in
            var reported: ContinuousClock.Instant?
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(15))
                guard let (step, since) = current.withLock({ $0 }), since != reported, ContinuousClock.now - since > .seconds(150) else { continue }
                reported = since
                FileHandle.standardError.write(Data("harness: \(name) has been \(step) for over 150 s\n".utf8))
            }
        }
        watcher.withLock { $0 = task }
    }

    func step(_ step: String) { current.withLock { $0 = (step, .now) } }

    func finish() {
        current.withLock { $0 = nil }
        watcher.withLock { $0?.cancel() }
    }
}

/// A Tessera on a loopback port over a fresh data folder (or PostgreSQL schema), with a clock the test moves.
struct Harness {
    let dataDirectory: String
    let clock: ManualClock
    let configuration: TesseraConfiguration
    let purgeInterval: Duration
    /// How often the logout deliveries are looked at: once at the start and then hourly unless a
    /// test delivers (each look is a read; hundreds of servers in one run share the database's
    /// connections).
    let deliveryInterval: Duration

    /// `start`: the server's clock at first (a real provider's tokens need the real time).
    init(configuration: TesseraConfiguration = Fixture.configuration, purgeInterval: Duration = .seconds(60), start: Date = Fixture.start,
         deliveryInterval: Duration = .seconds(3600)) throws {
        clock = ManualClock(start)
        self.deliveryInterval = deliveryInterval
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-test-\(UUID())").path
        var configuration = configuration
        configuration.databaseURL = TestStore.freshPostgresURL()
        self.configuration = configuration
        self.purgeInterval = purgeInterval
    }

    /// A harness on `other`'s data folder and database (a restart), with `configuration`.
    init(reopening other: Harness, configuration: TesseraConfiguration, start: Date = Fixture.start) {
        clock = ManualClock(start)
        deliveryInterval = other.deliveryInterval
        dataDirectory = other.dataDirectory
        var configuration = configuration
        configuration.databaseURL = other.configuration.databaseURL
        self.configuration = configuration
        purgeInterval = other.purgeInterval
    }

    var databasePath: String { (dataDirectory as NSString).appendingPathComponent("tessera.sqlite") }

    /// Whether `dump` holds the end of `secret` (its last 32 bytes) raw, in base64 or in hex (as
    /// `pg_dump` writes a bytea).
    static func dump(_ dump: Data, holds secret: Data) -> Bool {
        let tail = secret.suffix(32)
        let hex = tail.map { String(format: "%02x", $0) }.joined()
        return dump.range(of: tail) != nil || dump.range(of: Data(secret.base64EncodedString().utf8).suffix(32)) != nil
            || dump.range(of: Data(hex.utf8)) != nil
    }

    /// What a stolen backup would hold: the SQLite file and its WAL, or `pg_dump` of the schema.
    func dump() async throws -> Data {
        guard let url = configuration.databaseURL else {
            return ["", "-wal"].reduce(into: Data()) { dump, suffix in
                dump += (try? Data(contentsOf: URL(fileURLWithPath: databasePath + suffix))) ?? Data()
            }
        }
        var components = try #require(URLComponents(string: url))
        let schema = try #require(components.queryItems?.first { $0.name == "schema" }?.value)
        components.queryItems = components.queryItems?.filter { $0.name == "sslmode" }
        let (status, data) = try await ChildProcess.run(["pg_dump", "--schema=\(schema)", try #require(components.string)])
        try #require(status == 0, "pg_dump failed")
        return data
    }

    /// Starts a real server on 127.0.0.1 (an ephemeral port) and hands `body` an HTTP client for it.
    func run(_ body: @Sendable (Wire) async throws -> Void) async throws {
        var options = ServerOptions(dataDirectory: dataDirectory, configuration: configuration)
        options.port = 0
        options.purgeInterval = purgeInterval
        // Tests count the sessions when they mean to (`Services.countSessions`); a background
        // count in the middle of a test (every 15 s by default) would move the gauge under it.
        options.sessionCountInterval = .seconds(3600)
        options.deliveryInterval = deliveryInterval
        options.clock = clock
        options.logLevel = .critical
        // The test's client keeps one keep-alive connection for the whole test, which may idle
        // for over the default 30 s while a real identity provider or a Python client works on
        // two busy cores; the server then closed it and the next request failed with "I/O on
        // closed channel". Idle bounds are tested on the binary (ConnectionLimitTests).
        options.connectionLimits.idleTimeout = .seconds(900)
        let watch = StepWatch()
        defer { watch.finish() }
        watch.step("building the server (store, keys, pages)")
        let (application, services, store) = try await TesseraServerBuilder.build(options)
        watch.step("starting the server")
        try await application.test(.live) { client in
            watch.step("the test's requests")
            try await body(Wire(client: client, services: services, store: store, clock: clock))
            watch.step("stopping the server")
        }
    }

    /// Runs `sql` on the database from a separate connection (to break the store under a server).
    func execute(_ sql: String) async throws {
        guard let url = configuration.databaseURL else {
            try await DatabaseQueue(path: databasePath, configuration: SQLiteStore.sideConfiguration).write { db in try db.execute(sql: sql) }
            return
        }
        let location = try PostgresLocation(url: url)
        let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 9, logger: Logger(label: "test"))
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test"))
    }

    /// Rows in a table of the database, read from a separate connection.
    func count(_ table: String, where condition: String = "1=1") async throws -> Int {
        let sql = "SELECT COUNT(*) FROM \(table) WHERE \(condition)"
        guard let url = configuration.databaseURL else {
            return try await DatabaseQueue(path: databasePath, configuration: SQLiteStore.sideConfiguration).read { db in try Int.fetchOne(db, sql: sql) ?? -1 }
        }
        let location = try PostgresLocation(url: url)
        let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 9, logger: Logger(label: "test"))
        defer { Task { try? await connection.close() } }
        for try await count in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test")).decode(Int.self) {
            return count
        }
        return -1
    }
}

struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }

    /// The body with the per-response trace id replaced, for golden comparisons.
    var normalizedBody: String {
        guard let trace = header("X-Request-Id") else { return body }
        return body.replacingOccurrences(of: trace, with: "TRACE")
    }
}

/// An HTTP client with the calls the tests make over and over.
struct Wire: Sendable {
    let client: any TestClientProtocol
    let services: Services
    /// The store under the server, for tests that check the state a request left behind.
    let store: any Store
    let clock: ManualClock

    func send(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: String? = nil) async throws -> Reply {
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: response.status, headers: response.headers, body: String(buffer: response.body))
    }

    func form(_ method: HTTPRequest.Method, _ uri: String, _ fields: [(String, String)], headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await send(method, uri, headers: headers, body: Self.encode(fields))
    }

    static func encode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    static func query(_ fields: [(String, String)]) -> String { "?" + encode(fields) }

    // MARK: Dynamic Client Registration

    func softwareStatement(tenant: String = "REF30", application: Int = 0) async throws -> String {
        let t = try #require(services.directory.tenant(tenant))
        return try await services.tokens.softwareStatement(for: t.softwareStatements[application], tenant: t, now: clock.now())
    }

    /// Registers an application of `tenant` (its `application`th software statement) and returns
    /// a bearer header for it.
    func bearer(tenant: String = "REF30", application: Int = 0) async throws -> HTTPFields {
        let statement = try await softwareStatement(tenant: tenant, application: application)
        let registered = try await send(.post, "/o/client/register", headers: [.contentType: "application/json"],
                                        body: #"{"software_statement":"\#(statement)"}"#)
        try #require(registered.status == .created)
        let token = try await form(.post, "/o/client/token", [
            ("client_id", registered.json["client_id"] as? String ?? ""), ("client_secret", registered.json["client_secret"] as? String ?? ""),
            ("grant_type", "client_credentials"),
        ])
        try #require(token.status == .created)
        return [.authorization: "Bearer \(token.json["access_token"] as? String ?? "")"]
    }

    // MARK: Device flow

    func deviceHeaders(_ auth: HTTPFields, json: Bool = true) -> HTTPFields {
        var headers = auth
        headers[HTTPField.Name("X-Device-Info")!] = Fixture.deviceInfo
        if json { headers[.accept] = "application/json" }
        return headers
    }

    func registrationCode(_ auth: HTTPFields, deviceID: String, extra: [(String, String)] = [], tenant: String = "REF30") async throws -> String {
        let reply = try await form(.post, "/reggie/v1/\(tenant)/regcode", [("deviceId", deviceID)] + extra, headers: deviceHeaders(auth))
        try #require(reply.status == .created, "regcode: \(reply.status) \(reply.body)")
        return try #require(reply.json["code"] as? String)
    }

    func authenticateURI(code: String, provider: String, redirect: String = "https://www.adobe.com/activated", domain: String = "adobe.com",
                         requestor: String = "REF30") -> String {
        "/api/v1/authenticate" + Self.query([
            ("reg_code", code), ("requestor_id", requestor), ("mso_id", provider), ("domain_name", domain),
            ("noflash", "true"), ("no_iframe", "true"), ("redirect_url", redirect),
        ])
    }

    /// The browser part: the programmer's page sends the browser to authenticate, it follows the
    /// redirect to the provider's login page, submits the form, confirms the device on the
    /// confirmation page, and lands on the redirect URL. Returns the last answer: the 303 to the
    /// redirect URL, or the page that stopped it (a wrong password, say).
    @discardableResult
    func browserLogin(code: String, provider: String = "Cablevision", username: String = "cv-full", password: String = "cv-full-demo",
                      redirect: String = "https://www.adobe.com/activated", browser: Browser? = nil) async throws -> Reply {
        let browser = browser ?? Browser(self)
        let start = try await browser.get(authenticateURI(code: code, provider: provider, redirect: redirect))
        try #require(start.status == .found, "authenticate: \(start.status) \(start.body)")
        let loginPage = try #require(start.header("Location"))
        #expect(loginPage.hasPrefix("/idp/\(provider)/login?state="))
        let page = try await browser.get(loginPage)
        try #require(page.status == .ok)
        #expect(page.body.contains("<form method=\"post\" action=\"/idp/\(provider)/login\">"))
        let state = try #require(URLComponents(string: loginPage)?.queryItems?.first { $0.name == "state" }?.value)
        #expect(page.body.contains("value=\"\(state)\""))
        let signedIn = try await browser.submit(page, [("username", username), ("password", password)])
        guard signedIn.status == .ok, signedIn.body.contains("action=\"/idp/\(provider)/confirm\"") else { return signedIn }
        return try await browser.submit(signedIn, [("decision", "confirm")])
    }

    /// A device signed in through the whole flow; returns the bearer and device headers (JSON).
    func signedIn(deviceID: String, provider: String = "Cablevision", username: String = "cv-full") async throws -> HTTPFields {
        let auth = deviceHeaders(try await bearer())
        let code = try await registrationCode(auth, deviceID: deviceID)
        try await browserLogin(code: code, provider: provider, username: username, password: username + "-demo")
        return auth
    }

    func deviceQuery(_ deviceID: String, requestor: String = "REF30", extra: [(String, String)] = []) -> String {
        Self.query([("requestor", requestor), ("deviceId", deviceID)] + extra)
    }
}

/// A browser on Tessera's pages: it keeps cookies, sends `Origin` with its POSTs as browsers
/// do, and submits forms with their hidden fields.
final class Browser: Sendable {
    typealias Send = @Sendable (HTTPRequest.Method, String, HTTPFields, String?) async throws -> Reply
    /// What the test client's requests name as their authority.
    static let origin = "http://localhost"
    let send: Send
    /// What this browser sends as `Origin` with a POST; nil: none (older browsers).
    let origin: String?
    private let jar = Mutex<[String: String]>([:])

    init(origin: String? = Browser.origin, send: @escaping Send) {
        self.origin = origin
        self.send = send
    }
    convenience init(_ wire: Wire) { self.init { method, uri, headers, body in try await wire.send(method, uri, headers: headers, body: body) } }

    var cookies: [String: String] { jar.withLock { $0 } }
    func setCookie(_ name: String, _ value: String?) { jar.withLock { $0[name] = value } }

    private func headers(_ extra: HTTPFields) -> HTTPFields {
        var headers = extra
        let cookie = jar.withLock { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if !cookie.isEmpty, headers[.cookie] == nil { headers[.cookie] = cookie }
        return headers
    }

    private func keep(_ reply: Reply) -> Reply {
        for value in reply.headers[values: .setCookie] {
            let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            let expired = value.contains("Max-Age=0")
            setCookie(String(pair[0]), expired ? nil : String(pair[1]))
        }
        return reply
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> Reply {
        keep(try await send(.get, uri, self.headers(headers), nil))
    }

    /// A form POST with this browser's `Origin`, or `origin` when given ("" sends none).
    func post(_ uri: String, _ fields: [(String, String)], origin: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = self.headers(headers)
        headers[.contentType] = "application/x-www-form-urlencoded"
        if let origin = origin ?? self.origin, !origin.isEmpty { headers[.origin] = origin }
        return keep(try await send(.post, uri, headers, Wire.encode(fields)))
    }

    /// Submits the first form of `page`: its hidden fields, then `fields`.
    func submit(_ page: Reply, _ fields: [(String, String)], origin: String? = nil) async throws -> Reply {
        let action = try #require(page.body.firstMatch(of: /<form method="post" action="([^"]+)">/)?.1)
        return try await post(String(action), Self.hiddenFields(in: page.body) + fields, origin: origin)
    }

    static func hiddenFields(in html: String) -> [(String, String)] {
        html.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/).map {
            (String($0.1), String($0.2).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&"))
        }
    }

    static func hidden(_ name: String, in html: String) -> String? { hiddenFields(in: html).first { $0.0 == name }?.1 }
}
