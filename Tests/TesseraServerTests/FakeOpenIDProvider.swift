import Crypto
import _CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization
import Testing
import TesseraCore
@testable import TesseraServices

/// An OpenID Connect provider on a loopback port, for tests that need one that misbehaves on
/// purpose: discovery, a JWKS with rotation, an authorization endpoint that signs the browser in
/// at once (as a provider with a live session would), a token endpoint that checks the client,
/// the code and the PKCE verifier, and a revocation endpoint. What it does wrong is `fault`.
final class FakeOpenIDProvider: Sendable {
    static let clientID = "tessera-test"
    static let clientSecret = "fake-provider-secret"

    /// How the next answers go wrong.
    enum Fault: Sendable, Equatable {
        case none
        /// The authorization endpoint answers `error=access_denied`.
        case deny
        /// The id_token's signature is of other bytes.
        case badSignature
        case wrongAudience
        case wrongNonce
        case expired
        case algorithmNone
        /// HS256 keyed with the provider's public key (PEM): the key-confusion attack.
        case hmacWithPublicKey
        /// Signed with a key not yet in the JWKS (published after the next `rotate()`).
        case unpublishedKey
        /// The token endpoint answers 500.
        case serverError
        /// The token endpoint answers after 12 s (past the 8 s timeout the tests configure).
        case slow
    }

    struct Grant: Sendable {
        let clientNonce: String
        let challenge: String
        let redirectURI: String
    }

    struct State: Sendable {
        var fault: Fault = .none
        var keys: [(kid: String, key: _RSA.Signing.PrivateKey)] = []
        var upcoming: (kid: String, key: _RSA.Signing.PrivateKey)
        var grants: [String: Grant] = [:]
        var claims: [String: String] = [:]
        var listClaims: [String: [String]] = [:]
        var revoked: [String] = []
        var revocationCalls = 0
        var revocationDown = false
        /// Logout tokens a programmer's back-channel endpoint (`/programmer/logout`) took.
        var received: [String] = []
        var receiverDown = false
        var receiverCalls = 0
        var tokenCalls = 0
        var sessionID = "sid-1"
    }

    let state: Mutex<State>
    let issuerHolder = Mutex<String>("")
    /// The provider's clock: the harness's, so that its tokens are dated in the test's time.
    let clock: ManualClock

    init(clock: ManualClock) throws {
        self.clock = clock
        let first = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let next = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        state = Mutex(State(keys: [("k1", first)], upcoming: ("k2", next)))
    }
    var issuer: String { issuerHolder.withLock { $0 } }


    func set(_ fault: Fault) { state.withLock { $0.fault = fault } }
    func setClaim(_ name: String, _ value: String) { state.withLock { $0.claims[name] = value } }
    func setClaim(_ name: String, list: [String]) { state.withLock { $0.listClaims[name] = list } }
    var revoked: [String] { state.withLock { $0.revoked } }
    var revocationCalls: Int { state.withLock { $0.revocationCalls } }
    var received: [String] { state.withLock { $0.received } }
    var receiverCalls: Int { state.withLock { $0.receiverCalls } }
    func setRevocationDown(_ down: Bool) { state.withLock { $0.revocationDown = down } }
    func setReceiverDown(_ down: Bool) { state.withLock { $0.receiverDown = down } }
    var tokenCalls: Int { state.withLock { $0.tokenCalls } }

    /// Publishes the upcoming key and signs with it from now on (the old one stays published).
    func rotate() throws {
        let next = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        state.withLock { state in
            state.keys.insert(state.upcoming, at: 0)
            state.upcoming = ("k\(state.keys.count + 1)", next)
        }
    }

    /// Runs the provider on 127.0.0.1 and hands `body` its issuer.
    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.get("/.well-known/openid-configuration") { [self] _, _ in
            let base = issuer
            return Self.json([
                "issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
                "jwks_uri": base + "/jwks", "revocation_endpoint": base + "/revoke", "end_session_endpoint": base + "/logout",
            ])
        }
        router.get("/jwks") { [self] _, _ in
            let keys = state.withLock { $0.keys }
            return Self.json(["keys": keys.map { Self.jwk(kid: $0.kid, key: $0.key.publicKey) }])
        }
        router.get("/authorize") { [self] request, _ in
            let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { a, _ in a })
            guard let location = authorize(query) else { return Response(status: .badRequest) }
            return Self.redirect(location)
        }
        router.post("/token") { [self] request, _ in
            let form = try await Self.form(request)
            let fault = state.withLock { $0.tokenCalls += 1; return $0.fault }
            if fault == .serverError { return Response(status: .internalServerError) }
            if fault == .slow { try await Task.sleep(for: .seconds(12)) }
            let basic = "Basic " + Data("\(Self.clientID):\(Self.clientSecret)".utf8).base64EncodedString()
            guard request.headers[.authorization] == basic else { return Self.json(["error": "invalid_client"], status: .unauthorized) }
            guard form["grant_type"] == "authorization_code", let code = form["code"],
                  let grant = state.withLock({ $0.grants.removeValue(forKey: code) }),
                  form["redirect_uri"] == grant.redirectURI,
                  let verifier = form["code_verifier"],
                  Data(SHA256.hash(data: Data(verifier.utf8))).base64URLEncoded() == grant.challenge
            else { return Self.json(["error": "invalid_grant"], status: .badRequest) }
            let idToken = try await idToken(nonce: grant.clientNonce, fault: fault)
            return Self.json(["access_token": UUID().uuidString, "token_type": "Bearer", "id_token": idToken,
                              "refresh_token": "rt-" + UUID().uuidString, "expires_in": 300])
        }
        router.post("/revoke") { [self] request, _ in
            let form = try await Self.form(request)
            let basic = "Basic " + Data("\(Self.clientID):\(Self.clientSecret)".utf8).base64EncodedString()
            guard request.headers[.authorization] == basic else { return Self.json(["error": "invalid_client"], status: .unauthorized) }
            let down = state.withLock { $0.revocationCalls += 1; return $0.revocationDown }
            if down { return Response(status: .serviceUnavailable) }
            guard form["token_type_hint"] == "refresh_token", let token = form["token"] else { return Response(status: .badRequest) }
            state.withLock { $0.revoked.append(token) }
            return Response(status: .ok)
        }
        // A programmer's service that hears of ended sessions.
        router.post("/programmer/logout") { [self] request, _ in
            let form = try await Self.form(request)
            guard !state.withLock({ $0.receiverCalls += 1; return $0.receiverDown }) else { return Response(status: .badGateway) }
            guard let token = form["logout_token"] else { return Response(status: .badRequest) }
            state.withLock { $0.received.append(token) }
            return Response(status: .ok)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            issuerHolder.withLock { $0 = "http://127.0.0.1:\(port)" }
            try await body(issuer)
        }
    }

    /// The browser at the authorization endpoint: where the provider sends it back (with a code,
    /// or `error=access_denied`), nil for a request it refuses outright.
    func authorize(_ query: [String: String]) -> String? {
        guard query["client_id"] == Self.clientID, query["response_type"] == "code", query["code_challenge_method"] == "S256",
              let redirect = query["redirect_uri"], let challenge = query["code_challenge"], let nonce = query["nonce"],
              let stateParameter = query["state"], query["scope"]?.split(separator: " ").contains("openid") == true
        else { return nil }
        let encodedState = Self.encoded(stateParameter)
        if state.withLock({ $0.fault }) == .deny { return redirect + "?error=access_denied&state=" + encodedState }
        let code = UUID().uuidString
        state.withLock { $0.grants[code] = Grant(clientNonce: nonce, challenge: challenge, redirectURI: redirect) }
        return redirect + "?code=" + code + "&state=" + encodedState
    }

    /// The browser at the end-session endpoint (RP-Initiated Logout): the hint and client it was
    /// given, and where it is sent back (`post_logout_redirect_uri` with `state`), if anywhere.
    func endSession(_ url: String) throws -> (hint: String?, clientID: String?, back: String?) {
        #expect(url.hasPrefix(issuer + "/logout?"))
        let items = try #require(URLComponents(string: url)?.queryItems)
        func value(_ name: String) -> String? { items.first { $0.name == name }?.value }
        let back = value("post_logout_redirect_uri").map { $0 + "?state=" + Self.encoded(value("state") ?? "") }
        return (value("id_token_hint"), value("client_id"), back)
    }

    /// The browser following `url` (the authorization request Tessera sent it to): where it lands next.
    func visit(_ url: String) throws -> String {
        let components = try #require(URLComponents(string: url))
        #expect(url.hasPrefix(issuer + "/authorize?"))
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        return try #require(authorize(query), "the provider refused the authorization request \(url)")
    }

    /// An id_token as the provider signs it, spoiled as `fault` says.
    func idToken(nonce: String, fault: Fault) async throws -> String {
        let (signing, unpublished, extra, lists, sid) = state.withLock { ($0.keys[0], $0.upcoming, $0.claims, $0.listClaims, $0.sessionID) }
        let now = Int(clock.now().timeIntervalSince1970)
        var claims: [String: Any] = [
            "iss": issuer, "sub": "upstream-user-1", "aud": fault == .wrongAudience ? "another-client" : Self.clientID,
            "exp": fault == .expired ? now - 10 : now + 300, "iat": fault == .expired ? now - 400 : now,
            "nonce": fault == .wrongNonce ? "not-the-nonce" : nonce, "sid": sid, "auth_time": 0,
        ]
        for (name, value) in extra { claims[name] = value }
        for (name, value) in lists { claims[name] = value }
        let payload = try JSONSerialization.data(withJSONObject: claims).base64URLEncoded()
        if fault == .algorithmNone {
            return Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URLEncoded() + "." + payload + "."
        }
        if fault == .hmacWithPublicKey {
            let header = Data(#"{"alg":"HS256","typ":"JWT","kid":"\#(signing.kid)"}"#.utf8).base64URLEncoded()
            let input = header + "." + payload
            let secret = SymmetricKey(data: Data(signing.key.publicKey.pemRepresentation.utf8))
            return input + "." + Data(HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: secret)).base64URLEncoded()
        }
        let key = fault == .unpublishedKey ? unpublished : signing
        let header = Data(#"{"alg":"RS256","typ":"JWT","kid":"\#(key.kid)"}"#.utf8).base64URLEncoded()
        let input = header + "." + payload
        let signed = fault == .badSignature ? input + "x" : input
        let signature = try key.key.signature(for: Data(signed.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + signature.rawRepresentation.base64URLEncoded()
    }

    /// A back-channel logout token as the provider signs it; `change` spoils it.
    func logoutToken(sid: String? = "sid-1", sub: String? = nil, typ: String = "JWT",
                     change: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let signing = state.withLock { $0.keys[0] }
        var claims: [String: Any] = [
            "iss": issuer, "aud": Self.clientID, "iat": Int(clock.now().timeIntervalSince1970), "jti": UUID().uuidString,
            "events": ["http://schemas.openid.net/event/backchannel-logout": [String: String]()],
        ]
        if let sid { claims["sid"] = sid }
        if let sub { claims["sub"] = sub }
        change(&claims)
        let payload = try JSONSerialization.data(withJSONObject: claims).base64URLEncoded()
        let header = Data(#"{"alg":"RS256","typ":"\#(typ)","kid":"\#(signing.kid)"}"#.utf8).base64URLEncoded()
        let input = header + "." + payload
        return input + "." + (try signing.key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)).rawRepresentation.base64URLEncoded()
    }

    static func jwk(kid: String, key: _RSA.Signing.PublicKey) -> [String: String] {
        let primitives = try! key.getKeyPrimitives()
        return ["kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": primitives.modulus.base64URLEncoded(),
                "e": primitives.publicExponent.base64URLEncoded()]
    }

    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 65_536)
        var values: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        return values
    }

    static func encoded(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")) ?? ""
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .found, headers: [.location: location])
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
