import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Glewlwyd 2.7.5 (Debian's package), a real OpenID Connect provider, run headless on a loopback
/// port for one test: a fresh SQLite database from the package's own schema, its config file
/// adapted, then its `oidc` plugin (RS256 id_tokens, PKCE, revocation, session management,
/// back-channel logout), a user and a confidential client through its admin REST API.
///
/// What it does that the standard leaves open, and the test must do as its login page would:
/// `end_session` only redirects to that page, whose script deletes the OIDC session
/// (`DELETE /api/{plugin}/session/{sid}`, which sends the back-channel logout) and the user's
/// session (`DELETE /api/auth/`). ``Browser`` makes those calls with the user's cookie.
final class Glewlwyd: Sendable {
    static let plugin = "oidc"
    static let clientID = "tessera"
    static let clientSecret = "tessera-at-glewlwyd"
    static let username = "household1"
    static let password = "household1-password"

    let directory: String
    let port: Int
    let process: ChildProcess
    var base: String { "http://127.0.0.1:\(port)" }
    /// The issuer its tokens and discovery document name.
    var issuer: String { "\(base)/api/\(Self.plugin)" }

    /// Whether this machine has Glewlwyd (CI installs it; without it the test fails there and is
    /// skipped elsewhere).
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/glewlwyd") }

    private init(directory: String, port: Int, process: ChildProcess) {
        self.directory = directory
        self.port = port
        self.process = process
    }

    /// Configures and starts a private instance, and provisions its plugin and user.
    static func start() async throws -> Glewlwyd {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("glewlwyd-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try await freePort()
        var conf = try String(contentsOfFile: "/etc/glewlwyd/glewlwyd.conf", encoding: .utf8)
        let replacements: [(String, String)] = [
            (#"(?m)^port=.*$"#, "port=\(port)\nbind_address=\"127.0.0.1\""),
            (#"(?m)^external_url=.*$"#, "external_url=\"http://127.0.0.1:\(port)\""),
            (#"(?m)^log_file=.*$"#, "log_file=\"\(directory)/glewlwyd.log\""),
            (#"(?m)^log_level=.*$"#, "log_level=\"WARNING\""),
            (#"(?m)^@include "/etc/glewlwyd/glewlwyd-db.conf"$"#, "database = { type = \"sqlite3\"\n  path = \"\(directory)/glewlwyd.db\" };"),
        ]
        for (pattern, value) in replacements {
            let regex = try Regex(pattern)
            try #require(conf.contains(regex), "glewlwyd.conf lacks \(pattern)")
            conf = conf.replacing(regex, with: value)
        }
        try conf.write(toFile: directory + "/glewlwyd.conf", atomically: true, encoding: .utf8)
        var schema = try String(contentsOfFile: "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3", encoding: .utf8)
        // The stock client format keeps `post_logout_redirect_uri` (singular) while end_session
        // reads `post_logout_redirect_uris` (plural, several): declare the plural one.
        let singular = #""post_logout_redirect_uri":{"multiple":false,"read":true,"write":true}"#
        try #require(schema.contains(singular))
        schema = schema.replacingOccurrences(of: singular, with: singular + #","post_logout_redirect_uris":{"multiple":true,"read":true,"write":true}"#)
        try await run(["sqlite3", directory + "/glewlwyd.db"], input: schema)

        let process = try await ChildProcess.start("/usr/bin/glewlwyd", ["--config-file=\(directory)/glewlwyd.conf"])
        let glewlwyd = Glewlwyd(directory: directory, port: port, process: process)
        let admin = Browser(glewlwyd)
        defer { admin.close() }
        for _ in 0..<100 {
            if (try? await admin.send(.GET, "/config"))?.status == .ok { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try #require(try await admin.send(.POST, "/api/auth/", json: ["username": "admin", "password": "password"]).status == .ok)
        let (key, certificate) = try await keyPair(in: directory)
        let pluginParameters: [String: Any] = [
            "iss": glewlwyd.issuer, "jwt-type": "rsa", "jwt-key-size": "256", "key": key, "cert": certificate,
            "access-token-duration": 3600, "refresh-token-duration": 1_209_600, "code-duration": 600, "refresh-token-rolling": false,
            "allow-non-oidc": false, "auth-type-code-enabled": true, "auth-type-token-enabled": false, "auth-type-refresh-enabled": true,
            "auth-type-client-enabled": false, "auth-type-password-enabled": false,
            "introspection-revocation-allowed": true, "introspection-revocation-allow-target-client": true,
            "introspection-revocation-auth-scope": [String](), "pkce-allowed": true, "pkce-method-plain-allowed": false,
            "session-management-allowed": true, "session-cookie-name": "GLEWLWYD_OIDC_SID", "session-cookie-expiration": 2_419_200,
            "front-channel-logout-allowed": true, "back-channel-logout-allowed": true,
        ]
        let plugin = try await admin.send(.POST, "/api/mod/plugin/", json: [
            "module": "oidc", "name": plugin, "display_name": "OpenID Connect", "enabled": true, "parameters": pluginParameters,
        ])
        try #require(plugin.status == .ok, "plugin: \(plugin.status) \(plugin.body)")
        let user = try await admin.send(.POST, "/api/user/", json: [
            "username": username, "password": password, "name": "Household One", "email": "h1@example.test", "enabled": true,
            "scope": ["openid"],
        ])
        try #require(user.status == .ok, "user: \(user.status) \(user.body)")
        return glewlwyd
    }

    /// Registers Tessera as a confidential client: its callback, its logout return page, its
    /// back-channel logout endpoint.
    func registerClient(redirectURI: String, postLogoutRedirectURI: String, backchannelLogoutURI: String) async throws {
        let admin = Browser(self)
        defer { admin.close() }
        try #require(try await admin.send(.POST, "/api/auth/", json: ["username": "admin", "password": "password"]).status == .ok)
        let client = try await admin.send(.POST, "/api/client/", json: [
            "client_id": Self.clientID, "name": "Tessera", "enabled": true, "confidential": true, "client_secret": Self.clientSecret,
            "redirect_uri": [redirectURI], "post_logout_redirect_uris": [postLogoutRedirectURI],
            "authorization_type": ["code", "refresh_token"], "token_endpoint_auth_method": ["client_secret_basic"],
            "backchannel_logout_uri": backchannelLogoutURI, "backchannel_logout_session_required": "true", "scope": ["openid"],
        ])
        try #require(client.status == .ok, "client: \(client.status) \(client.body)")
    }

    /// Ends the instance (without waiting: its task reaps it) and removes its files.
    func stop() {
        process.send(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// How many of the refresh tokens Glewlwyd issued are revoked (its own table).
    func revokedRefreshTokens() async throws -> Int {
        let out = try await Self.run(["sqlite3", directory + "/glewlwyd.db", "SELECT count(*) FROM gpo_refresh_token WHERE gpor_enabled = 0"], input: nil)
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// A user agent at Glewlwyd: keeps its cookies, follows no redirect.
    final class Browser: Sendable {
        let glewlwyd: Glewlwyd
        private let http = HTTPClient(eventLoopGroupProvider: .singleton,
                                      configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))
        private let cookies = Mutex<[String: String]>([:])

        init(_ glewlwyd: Glewlwyd) { self.glewlwyd = glewlwyd }

        func close() { try? http.syncShutdown() }

        struct Answer {
            let status: HTTPResponseStatus
            let location: String?
            let body: String
        }

        func send(_ method: HTTPMethod, _ pathOrURL: String, json: [String: Any]? = nil) async throws -> Answer {
            var request = HTTPClientRequest(url: pathOrURL.hasPrefix("http") ? pathOrURL : glewlwyd.base + pathOrURL)
            request.method = method
            let cookie = cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
            if !cookie.isEmpty { request.headers.add(name: "Cookie", value: cookie) }
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: json)))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            for value in response.headers["Set-Cookie"] {
                let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2 else { continue }
                cookies.withLock { $0[String(pair[0])] = pair[1].isEmpty ? nil : String(pair[1]) }
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            return Answer(status: response.status, location: response.headers.first(name: "Location"), body: String(buffer: body))
        }
    }

    // MARK: Helpers

    static func freePort() async throws -> Int {
        let out = try await run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"], input: nil)
        return try #require(Int(out.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// An RSA key and its self-signed certificate, in PEM.
    static func keyPair(in directory: String) async throws -> (key: String, certificate: String) {
        _ = try await run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
                     "-subj", "/CN=glewlwyd", "-days", "2"], input: nil)
        return (try String(contentsOfFile: directory + "/key.pem", encoding: .utf8), try String(contentsOfFile: directory + "/cert.pem", encoding: .utf8))
    }

    /// Runs a program (on PATH) with `input` on its standard input; its standard output, or an
    /// error when it does not exit with 0.
    @discardableResult
    static func run(_ arguments: [String], input: String?) async throws -> String {
        try await ChildProcess.text(arguments, input: input)
    }
}
