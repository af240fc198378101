import Crypto
import _CryptoExtras
import Foundation
import HTTPTypes
import Synchronization
import JWTKit
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Seed 001's device, exactly as its samples send it: the `AP-Device-Identifier`, the
/// `X-Device-Info` (Base64 of a JSON object that lacks a comma: it must work as shown), and the
/// Apple TV's `User-Agent`.
enum SeedDevice {
    static let identifier = "fingerprint YmEyM2QxNDEtZDcxNS01NjFjLTk0ZjQtZTllNGM5NjZiMWVi"
    static let deviceID = "ba23d141-d715-561c-94f4-e9e4c966b1eb"
    static let info = "ewoJInByaW1hcnlIYXJkd2FyZVR5cGUiOiAiU2V0VG9wQm94IiwKCSJtb2RlbCI6ICJUViA1dGggR2VuIiwKCSJtYW51ZmFjdHVyZXIiOiAiQXBwbGUiLAoJIm9zTmFtZSI6ICJ0dk9TIgoJIm9zVmVuZG9yIjogIkFwcGxlIiwKCSJvc1ZlcnNpb24iOiAiMTEuMCIKfQ=="
    static let userAgent = "Mozilla/5.0 (Apple TV; U; CPU AppleTV5,3 OS 11.0 like Mac OS X; en_US)"

    /// Another device's identifier header.
    static func identifier(of deviceID: String) -> String { "fingerprint " + Data(deviceID.utf8).base64EncodedString() }
}

/// Signs the SSO tokens the demo tenant trusts (with the demo's keys from the credentials file),
/// and the bad ones a test needs.
enum SSOTokens {
    struct Claims: JWTPayload {
        var iss: String?
        var sub: String?
        var aud: AudienceClaim?
        var iat: IssuedAtClaim?
        var exp: ExpirationClaim?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func sign(_ claims: Claims, keyPEM: String, kid: String? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: keyPEM), digestAlgorithm: .sha256, kid: kid.map { JWKIdentifier(string: $0) })
        return try await keys.sign(claims, kid: kid.map { JWKIdentifier(string: $0) })
    }

    static func claims(subject: String, now: Date, audience: String? = "Adobe", issuer: String? = "https://id.example.com",
                       lifetime: TimeInterval = 3600) -> Claims {
        Claims(iss: issuer, sub: subject, aud: audience.map { AudienceClaim(value: [$0]) }, iat: IssuedAtClaim(value: now),
               exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)))
    }

    /// An `AD-Service-Token` of the demo programmer for `subject`.
    static func serviceToken(_ subject: String, now: Date) async throws -> String {
        try await sign(claims(subject: subject, now: now), keyPEM: try #require(Credentials.demoServiceTokenSigningKey()))
    }

    /// An `Adobe-Subject-Token` of the demo platform for `subject`.
    static func platformToken(_ subject: String, now: Date) async throws -> String {
        try await sign(claims(subject: subject, now: now, audience: nil, issuer: "demo-platform"),
                       keyPEM: try #require(Credentials.demoPlatformTokenSigningKey()))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A token with `header` over `claims`, signed with HMAC-SHA256 under `secret` (or unsigned).
    static func forged(header: String, claims: Claims, hmacSecret: Data?) throws -> String {
        let input = base64URL(Data(header.utf8)) + "." + base64URL(try JSONEncoder().encode(claims))
        guard let secret = hmacSecret else { return input + "." }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + base64URL(Data(mac))
    }

    static func freshRSAKeyPEM() throws -> String { try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation }
}

/// One answer of a REST v2 call, for checking against Adobe's OpenAPI document.
struct V2Exchange: Encodable, Sendable {
    let method: String
    let path: String
    let query: [String: String]
    let status: Int
    let body: String
}

/// Collects REST v2 answers and checks them with openapi-core against Adobe's document.
final class V2Answers: Sendable {
    static func available() async -> Bool { await MeetingSDKTests.python(imports: "openapi_core") }
    private let held = Mutex<[V2Exchange]>([])

    /// Notes a 200 answer of `method` `uri` (a path under /api/v2 with its query).
    func note(_ method: HTTPRequest.Method, _ uri: String, _ reply: Reply) {
        guard reply.status == .ok, uri.hasPrefix("/api/v2/") else { return }
        let components = URLComponents(string: uri)
        let query = Dictionary((components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { first, _ in first }
        var path = String((components?.path ?? uri).dropFirst(7))
        // The samples' alias paths (logout/{sp}/{mvpd}, sessions/{sp}/{code}) answer as the documented ones.
        let parts = path.split(separator: "/").map(String.init)
        if parts.count == 3, ["logout", "sessions"].contains(parts[0]) { path = "/\(parts[1])/\(parts[0])/\(parts[2])" }
        // The logout of every provider is named only in Adobe's FAQ, not in the document; it
        // answers in the per-provider shape, so it is checked against that path.
        if parts.count == 2, parts[1] == "logout" { path += "/all-providers" }
        held.withLock { $0.append(V2Exchange(method: method.rawValue, path: path, query: query, status: Int(reply.status.code), body: reply.body)) }
    }

    var count: Int { held.withLock { $0.count } }

    /// Validates every answer noted; fails the test with openapi-core's findings.
    func validate(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        guard await Self.available() else { return }
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("vendor/adobe-pass-restApiV2.json").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/v2_openapi.py").path
        let input = String(decoding: try JSONEncoder().encode(held.withLock { $0 }), as: UTF8.self)
        let check = try await MeetingSDKTests.run(["python3", script, document], input: input)
        #expect(check.status == 0, "\(check.output)", sourceLocation: sourceLocation)
    }
}

/// A REST v2 client on the wire: the bearer of one application and one device's headers.
struct V2Client: Sendable {
    let wire: Wire
    let auth: HTTPFields
    var deviceIdentifier = SeedDevice.identifier
    var extra: HTTPFields = [:]
    let answers: V2Answers

    var headers: HTTPFields {
        var headers = auth
        headers[.init("AP-Device-Identifier")!] = deviceIdentifier
        headers[.init("X-Device-Info")!] = SeedDevice.info
        headers[.accept] = "application/json"
        headers[.userAgent] = SeedDevice.userAgent
        for field in extra { headers[field.name] = field.value }
        return headers
    }

    func with(_ name: String, _ value: String?) -> V2Client {
        var copy = self
        copy.extra[HTTPField.Name(name)!] = value
        return copy
    }

    func device(_ deviceID: String) -> V2Client {
        var copy = self
        copy.deviceIdentifier = SeedDevice.identifier(of: deviceID)
        return copy
    }

    @discardableResult
    func get(_ uri: String) async throws -> Reply {
        let reply = try await wire.send(.get, uri, headers: headers)
        answers.note(.get, uri, reply)
        return reply
    }

    @discardableResult
    func post(_ uri: String, form fields: [(String, String)]) async throws -> Reply {
        let reply = try await wire.form(.post, uri, fields, headers: headers)
        answers.note(.post, uri, reply)
        return reply
    }

    @discardableResult
    func post(_ uri: String, json: String) async throws -> Reply {
        var headers = headers
        headers[.contentType] = "application/json"
        let reply = try await wire.send(.post, uri, headers: headers, body: json)
        answers.note(.post, uri, reply)
        return reply
    }

    /// Signs the device in at `provider` the whole way: a session, the browser through the
    /// authenticate URL, the provider's login page and the confirmation, back to the redirect URL.
    /// Returns the code.
    @discardableResult
    func signIn(_ provider: String, username: String, redirect: String = "https://adobe.com/done") async throws -> String {
        let session = try await post("/api/v2/REF30/sessions", form: [("mvpd", provider), ("domainName", "adobe.com"), ("redirectUrl", redirect)])
        try #require(session.status == .ok, "sessions: \(session.status) \(session.body)")
        #expect(session.json["actionName"] as? String == "authenticate")
        let code = try #require(session.json["code"] as? String)
        let url = try #require(session.json["url"] as? String)
        #expect(url == "/api/v2/authenticate/REF30/\(code)")
        let browser = Browser(wire)
        let start = try await browser.get(url)
        try #require(start.status == .found, "authenticate: \(start.status) \(start.body)")
        let page = try await browser.get(try #require(start.header("Location")))
        let signedIn = try await browser.submit(page, [("username", username), ("password", username + "-demo")])
        try #require(signedIn.status == .ok, "login: \(signedIn.status)")
        let done = try await browser.submit(signedIn, [("decision", "confirm")])
        try #require(done.status == .seeOther, "confirm: \(done.status) \(done.body)")
        #expect(done.header("Location") == redirect)
        return code
    }

    /// The providers of the device's profiles, with each one's type.
    func profileTypes() async throws -> [String: String] {
        let reply = try await get("/api/v2/REF30/profiles")
        try #require(reply.status == .ok, "profiles: \(reply.status) \(reply.body)")
        let profiles = try #require(reply.json["profiles"] as? [String: [String: Any]])
        return profiles.mapValues { $0["type"] as? String ?? "?" }
    }
}

extension Wire {
    /// How many live sessions of `kinds` the store holds.
    func liveSessions(_ kinds: Set<SessionKind>) async throws -> Int {
        let counts = try await store.sessionCounts(now: clock.now())
        return kinds.reduce(0) { $0 + (counts[$1] ?? 0) }
    }

    func v2(application: Int = 0, answers: V2Answers) async throws -> V2Client {
        V2Client(wire: self, auth: try await bearer(application: application), answers: answers)
    }
}
