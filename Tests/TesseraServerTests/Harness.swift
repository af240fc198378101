import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraStore

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
    static let configuration: TesseraConfiguration = {
        do {
            var configuration = try TesseraConfiguration.load(yaml: TesseraConfiguration.demoYAML() + otherTenant)
            configuration.throttling = false // the throttling tests turn it on
            return configuration
        } catch {
            fatalError("test configuration: \(error)")
        }
    }()
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

/// A Tessera on a loopback port over a fresh data folder (or PostgreSQL schema), with a clock the test moves.
struct Harness {
    let dataDirectory: String
    let clock = ManualClock(Fixture.start)
    let configuration: TesseraConfiguration
    let purgeInterval: Duration

    init(configuration: TesseraConfiguration = Fixture.configuration, purgeInterval: Duration = .seconds(60)) throws {
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-test-\(UUID())").path
        var configuration = configuration
        configuration.databaseURL = TestStore.freshPostgresURL()
        self.configuration = configuration
        self.purgeInterval = purgeInterval
    }

    var databasePath: String { (dataDirectory as NSString).appendingPathComponent("tessera.sqlite") }

    /// Starts a real server on 127.0.0.1 (an ephemeral port) and hands `body` an HTTP client for it.
    func run(_ body: @Sendable (Wire) async throws -> Void) async throws {
        var options = ServerOptions(dataDirectory: dataDirectory, configuration: configuration)
        options.port = 0
        options.purgeInterval = purgeInterval
        options.clock = clock
        options.logLevel = .critical
        let (application, services) = try await TesseraServerBuilder.build(options)
        try await application.test(.live) { client in
            try await body(Wire(client: client, services: services, clock: clock))
        }
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

    func softwareStatement(tenant: String = "REF30") async throws -> String {
        let t = try #require(services.directory.tenant(tenant))
        return try await services.tokens.softwareStatement(for: t.softwareStatements[0], tenant: t, now: clock.now())
    }

    /// Registers an application of `tenant` and returns a bearer header for it.
    func bearer(tenant: String = "REF30") async throws -> HTTPFields {
        let statement = try await softwareStatement(tenant: tenant)
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
    /// redirect to the provider's login page, submits the form, and lands on the redirect URL.
    @discardableResult
    func browserLogin(code: String, provider: String = "Cablevision", username: String = "cv-full", password: String = "cv-full-demo",
                      redirect: String = "https://www.adobe.com/activated") async throws -> Reply {
        let start = try await send(.get, authenticateURI(code: code, provider: provider, redirect: redirect))
        try #require(start.status == .found, "authenticate: \(start.status) \(start.body)")
        let loginPage = try #require(start.header("Location"))
        #expect(loginPage.hasPrefix("/idp/\(provider)/login?state="))
        let page = try await send(.get, loginPage)
        try #require(page.status == .ok)
        #expect(page.body.contains("<form method=\"post\" action=\"/idp/\(provider)/login\">"))
        let state = try #require(URLComponents(string: loginPage)?.queryItems?.first { $0.name == "state" }?.value)
        #expect(page.body.contains("value=\"\(state)\""))
        return try await form(.post, "/idp/\(provider)/login", [("state", state), ("username", username), ("password", password)])
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
