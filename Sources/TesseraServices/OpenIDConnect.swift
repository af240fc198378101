import AsyncHTTPClient
import Crypto
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import Synchronization
import TesseraCore

/// Tessera as a relying party of OpenID Connect providers: discovery, the provider's keys, the
/// token endpoint, and the id_token's checks.
///
/// Every call to a provider has a deadline (the provider's `timeout`, 10 s unless configured)
/// and a bounded answer; a provider that
/// is down, slow or answers 5xx is ``TesseraError/UpstreamProblem/unavailable``, never a hang.
/// Discovery documents and key sets are kept for an hour; a token signed with a key id the kept
/// set lacks (the provider rotated) reads the set again, at most every ``keyRefreshInterval``.
package final class OpenIDConnect: Sendable {
    static let maximumAnswer = 1 << 20
    static let cacheLifetime: TimeInterval = 3600
    static let keyRefreshInterval: TimeInterval = 10
    /// How far in the future an id_token's `iat` may be (the provider's clock).
    static let skew: TimeInterval = 60
    /// The algorithms an id_token may be signed with: asymmetric ones only, so that neither `none`
    /// nor an HMAC keyed with a public key reaches a verifier.
    static let algorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]

    /// One client for every provider: no redirects followed (a token endpoint that redirects is
    /// refused), connections kept for reuse. Never shut down: it lives as long as the process.
    private static let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(
        redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(30))))

    /// The parts of a discovery document Tessera uses.
    package struct Discovery: Decodable, Sendable {
        package let issuer: String
        package let authorizationEndpoint: String
        package let tokenEndpoint: String
        package let jwksURI: String
        package let endSessionEndpoint: String?
        package let revocationEndpoint: String?

        enum CodingKeys: String, CodingKey {
            case issuer, authorizationEndpoint = "authorization_endpoint", tokenEndpoint = "token_endpoint", jwksURI = "jwks_uri"
            case endSessionEndpoint = "end_session_endpoint", revocationEndpoint = "revocation_endpoint"
        }
    }

    /// A provider's signing keys as last read.
    private struct KeySet: Sendable {
        let keys: JWTKeyCollection
        let kids: Set<String>
        let readAt: Date
    }

    private let discoveries = Mutex<[String: (discovery: Discovery, readAt: Date)]>([:])
    private let keySets = Mutex<[String: KeySet]>([:])
    let clock: any TesseraClock

    init(clock: any TesseraClock) {
        self.clock = clock
    }

    /// What a token endpoint answered.
    package struct TokenAnswer: Decodable, Sendable {
        package let idToken: String?
        package let refreshToken: String?
        enum CodingKeys: String, CodingKey { case idToken = "id_token", refreshToken = "refresh_token" }
    }

    /// An id_token that passed every check, with its claims as the mapping reads them.
    package struct VerifiedIDToken: Sendable {
        package let subject: String
        package let sessionID: String?
        package let claims: [String: ClaimValue]
    }

    // MARK: Discovery and keys

    package func discovery(of provider: OpenIDProvider) async throws(TesseraError) -> Discovery {
        let now = clock.now()
        let kept = discoveries.withLock { $0[provider.id] }
        if let kept, now.timeIntervalSince(kept.readAt) < Self.cacheLifetime { return kept.discovery }
        let base = provider.issuer.hasSuffix("/") ? String(provider.issuer.dropLast()) : provider.issuer
        do {
            let data = try await get(base + "/.well-known/openid-configuration", within: provider.timeout)
            guard let discovery = try? JSONDecoder().decode(Discovery.self, from: data) else {
                throw TesseraError.upstreamLogin(.invalidResponse("the discovery document is not one"))
            }
            // OpenID Connect Discovery 4.3: the document's issuer is the one configured, exactly.
            guard discovery.issuer == provider.issuer else {
                throw TesseraError.upstreamLogin(.invalidResponse("the discovery document names another issuer"))
            }
            discoveries.withLock { $0[provider.id] = (discovery, now) }
            return discovery
        } catch let error as TesseraError {
            // A provider briefly down keeps the document it had.
            if let kept { return kept.discovery }
            throw error
        } catch {
            throw .upstreamLogin(.unavailable)
        }
    }

    /// The provider's keys, holding `kid` when the provider has it: read again when a kid is
    /// unknown (a rotation), but not more often than ``keyRefreshInterval``.
    private func keySet(of provider: OpenIDProvider, discovery: Discovery, wanting kid: String?) async throws(TesseraError) -> KeySet {
        let now = clock.now()
        let kept = keySets.withLock { $0[provider.id] }
        if let kept, now.timeIntervalSince(kept.readAt) < Self.cacheLifetime, kid.map(kept.kids.contains) ?? true { return kept }
        if let kept, now.timeIntervalSince(kept.readAt) < Self.keyRefreshInterval { return kept }
        let data = try await get(discovery.jwksURI, within: provider.timeout)
        let made = try await Self.keySet(from: data, readAt: now)
        keySets.withLock { $0[provider.id] = made }
        return made
    }

    /// The signing keys of a JWKS document: RSA and EC keys with a `kid`, not marked for
    /// encryption; others (symmetric, encryption keys) are left out.
    private static func keySet(from data: Data, readAt: Date) async throws(TesseraError) -> KeySet {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let entries = object["keys"] as? [[String: Any]] else {
            throw .upstreamLogin(.invalidResponse("the provider's JWKS is not one"))
        }
        let keys = JWTKeyCollection()
        var kids = Set<String>()
        for entry in entries {
            guard let kid = entry["kid"] as? String, let type = entry["kty"] as? String, type == "RSA" || type == "EC",
                  (entry["use"] as? String ?? "sig") == "sig",
                  let encoded = try? JSONSerialization.data(withJSONObject: entry.filter { ["kty", "kid", "alg", "n", "e", "crv", "x", "y"].contains($0.key) }),
                  let jwk = try? JSONDecoder().decode(JWK.self, from: encoded)
            else { continue }
            guard (try? await keys.add(jwk: jwk)) != nil else { continue }
            kids.insert(kid)
        }
        return KeySet(keys: keys, kids: kids, readAt: readAt)
    }

    // MARK: Calls

    /// The authorization request's URL: code flow with PKCE (S256), `state` and `nonce`.
    package func authorizationURL(provider: OpenIDProvider, redirectURI: String, state: String, nonce: String,
                                  verifier: String) async throws(TesseraError) -> String {
        let discovery = try await discovery(of: provider)
        guard var components = URLComponents(string: discovery.authorizationEndpoint) else {
            throw .upstreamLogin(.invalidResponse("the authorization endpoint is not a URL"))
        }
        let challenge = Data(SHA256.hash(data: Data(verifier.utf8))).base64URLEncoded()
        components.queryItems = (components.queryItems ?? []) + [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: provider.clientID),
            URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "scope", value: provider.scope),
            URLQueryItem(name: "state", value: state), URLQueryItem(name: "nonce", value: nonce),
            URLQueryItem(name: "code_challenge", value: challenge), URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        // `+` is a space in a query a server reads as a form: encode it (and the rest) strictly.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.string else { throw .upstreamLogin(.invalidResponse("the authorization endpoint is not a URL")) }
        return url
    }

    /// Redeems an authorization code at the token endpoint.
    package func redeem(code: String, verifier: String, redirectURI: String, provider: OpenIDProvider,
                        assertion: @Sendable (_ audience: String) async throws -> String) async throws(TesseraError) -> TokenAnswer {
        let discovery = try await discovery(of: provider)
        var form = ["grant_type": "authorization_code", "code": code, "redirect_uri": redirectURI, "code_verifier": verifier]
        var headers = HTTPHeaders()
        try await authenticate(provider, audience: discovery.tokenEndpoint, form: &form, headers: &headers, assertion: assertion)
        let (status, data) = try await post(discovery.tokenEndpoint, form: form, headers: headers, within: provider.timeout)
        guard status == .ok else {
            if status.code >= 500 { throw .upstreamLogin(.unavailable) }
            let error = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? String
            throw .upstreamLogin(.invalidResponse("the token endpoint answered \(status.code)\(error.map { " \($0)" } ?? "")"))
        }
        guard let answer = try? JSONDecoder().decode(TokenAnswer.self, from: data) else {
            throw .upstreamLogin(.invalidResponse("the token endpoint's answer is not JSON"))
        }
        return answer
    }

    /// Revokes `refreshToken` at the provider's revocation endpoint (RFC 7009), authenticated as
    /// at the token endpoint; nothing to do when the provider has no such endpoint. A 2xx, or a
    /// 400 (some providers answer it for a token they no longer know), is done. Throws
    /// ``TesseraError/UpstreamProblem/unavailable`` (or an invalid answer: the client was refused)
    /// when it should be tried again.
    package func revoke(refreshToken: String, provider: OpenIDProvider,
                        assertion: @Sendable (_ audience: String) async throws -> String) async throws(TesseraError) {
        let discovery = try await discovery(of: provider)
        guard let endpoint = discovery.revocationEndpoint else { return }
        var form = ["token": refreshToken, "token_type_hint": "refresh_token"]
        var headers = HTTPHeaders()
        try await authenticate(provider, audience: discovery.tokenEndpoint, form: &form, headers: &headers, assertion: assertion)
        let (status, _) = try await post(endpoint, form: form, headers: headers, within: provider.timeout)
        switch status.code {
        case 200..<300, 400: return
        case 500...: throw .upstreamLogin(.unavailable)
        default: throw .upstreamLogin(.invalidResponse("the revocation endpoint answered \(status.code)"))
        }
    }

    /// POSTs a logout token to a programmer's back-channel logout URI: whether it took it (2xx).
    package func deliverLogoutToken(_ token: String, to uri: String) async -> Bool {
        do {
            let (status, _) = try await post(uri, form: ["logout_token": token], headers: HTTPHeaders(), within: 10)
            return (200..<300).contains(status.code)
        } catch {
            return false
        }
    }

    /// Client authentication at the provider's endpoints: HTTP Basic with the form-encoded id
    /// and secret (RFC 6749 2.3.1), or a `private_key_jwt` assertion for `audience`.
    private func authenticate(_ provider: OpenIDProvider, audience: String, form: inout [String: String], headers: inout HTTPHeaders,
                              assertion: @Sendable (String) async throws -> String) async throws(TesseraError) {
        switch provider.clientAuthentication {
        case .clientSecretBasic(let secret):
            let pair = Self.formEncoded(provider.clientID) + ":" + Self.formEncoded(secret)
            headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        case .privateKeyJWT:
            form["client_id"] = provider.clientID
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            do { form["client_assertion"] = try await assertion(audience) } catch { throw .storageFailure }
        }
    }

    // MARK: The id_token

    private struct Header: Decodable {
        let alg: String?
        let kid: String?
        let crit: [String]?
    }

    private struct IDTokenClaims: JWTPayload {
        var iss: String?
        var sub: String?
        var aud: AudienceClaim?
        var azp: String?
        var exp: ExpirationClaim?
        var iat: IssuedAtClaim?
        var nonce: String?
        var sid: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// Checks an id_token (OpenID Connect Core 3.1.3.7): the JOSE header (an asymmetric
    /// algorithm, a `kid` the provider publishes), the signature, `iss`, `aud` (and `azp` when
    /// there are several audiences or it is present), `exp`, `iat`, and the `nonce` of this login.
    package func verify(idToken: String, provider: OpenIDProvider, nonce expected: String) async throws(TesseraError) -> VerifiedIDToken {
        func refuse(_ why: String) -> TesseraError { .upstreamLogin(.invalidResponse(why)) }
        guard idToken.utf8.count <= 16_384 else { throw refuse("the id_token is too long") }
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Data(lenientBase64: parts[0]), let payload = Data(lenientBase64: parts[1]) else {
            throw refuse("the id_token is not a compact JWS")
        }
        let set = try await checkedKeys(token: idToken, headerData: headerData, provider: provider)
        let claims: IDTokenClaims
        do { claims = try await set.keys.verify(idToken, as: IDTokenClaims.self) } catch { throw refuse("the id_token's signature does not verify") }
        let now = clock.now()
        guard claims.iss == provider.issuer else { throw refuse("the id_token has another issuer") }
        guard let audiences = claims.aud?.value, audiences.contains(provider.clientID) else { throw refuse("the id_token is for another audience") }
        if audiences.count > 1 || claims.azp != nil {
            guard claims.azp == provider.clientID else { throw refuse("the id_token was issued to another party (azp)") }
        }
        guard let exp = claims.exp?.value else { throw refuse("the id_token has no expiry") }
        guard exp > now else { throw refuse("the id_token has expired") }
        guard let iat = claims.iat?.value else { throw refuse("the id_token has no issue time") }
        guard iat <= now.addingTimeInterval(Self.skew) else { throw refuse("the id_token was issued in the future") }
        guard let nonce = claims.nonce, Self.constantTimeEqual(nonce, expected) else { throw refuse("the id_token's nonce is not this login's") }
        guard let subject = claims.sub, !subject.isEmpty, subject.utf8.count <= 255 else { throw refuse("the id_token names no subject") }
        guard let values = try? JSONDecoder().decode([String: ClaimValue].self, from: payload) else { throw refuse("the id_token's claims are not an object") }
        return VerifiedIDToken(subject: subject, sessionID: claims.sid, claims: values)
    }

    private struct LogoutTokenHeader: Decodable {
        let typ: String?
    }

    private struct LogoutTokenClaims: JWTPayload {
        var iss: String?
        var aud: AudienceClaim?
        var iat: IssuedAtClaim?
        var exp: ExpirationClaim?
        var jti: String?
        var sub: String?
        var sid: String?
        var nonce: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// What a checked logout token names.
    package struct VerifiedLogoutToken: Sendable {
        package let subject: String?
        package let sessionID: String?
        package let tokenID: String
        package let issuedAt: Date
    }

    /// How old a logout token may be (its `iat`), since some providers send no `exp`.
    static let logoutTokenAge: TimeInterval = 300

    /// Checks a logout token (OpenID Connect Back-Channel Logout 1.0, 2.6): the JOSE header and
    /// signature as for an id_token, `typ` `logout+jwt` or `JWT` (some providers, Glewlwyd among
    /// them, type it so) or none, `iss`, `aud`, `iat` within ``logoutTokenAge`` (and not in the
    /// future), `exp` when present, the back-channel logout event, no `nonce`, a `jti`, and `sid`
    /// or `sub`. The caller claims the `jti` once.
    package func verify(logoutToken: String, provider: OpenIDProvider) async throws(TesseraError) -> VerifiedLogoutToken {
        func refuse(_ why: String) -> TesseraError { .upstreamLogin(.invalidResponse(why)) }
        let parts = logoutToken.split(separator: ".", omittingEmptySubsequences: false)
        guard logoutToken.utf8.count <= 16_384, parts.count == 3, let headerData = Data(lenientBase64: parts[0]),
              let payload = Data(lenientBase64: parts[1]),
              let header = try? JSONDecoder().decode(LogoutTokenHeader.self, from: headerData)
        else { throw refuse("the logout token is not a compact JWS") }
        if let typ = header.typ?.lowercased(), !["logout+jwt", "application/logout+jwt", "jwt"].contains(typ) {
            throw refuse("the logout token's typ is \(typ)")
        }
        let set = try await checkedKeys(token: logoutToken, headerData: headerData, provider: provider)
        let claims: LogoutTokenClaims
        do { claims = try await set.keys.verify(logoutToken, as: LogoutTokenClaims.self) } catch { throw refuse("the logout token's signature does not verify") }
        let now = clock.now()
        guard claims.iss == provider.issuer else { throw refuse("the logout token has another issuer") }
        guard let audiences = claims.aud?.value, audiences.contains(provider.clientID) else { throw refuse("the logout token is for another audience") }
        guard let iat = claims.iat?.value else { throw refuse("the logout token has no issue time") }
        guard iat <= now.addingTimeInterval(Self.skew), iat >= now.addingTimeInterval(-Self.logoutTokenAge) else {
            throw refuse("the logout token's issue time is out of bounds")
        }
        if let exp = claims.exp?.value, exp <= now { throw refuse("the logout token has expired") }
        guard claims.nonce == nil else { throw refuse("the logout token has a nonce") }
        guard let jti = claims.jti, !jti.isEmpty, jti.utf8.count <= 256 else { throw refuse("the logout token has no jti") }
        let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
        guard let events = object?["events"] as? [String: Any], events["http://schemas.openid.net/event/backchannel-logout"] is [String: Any] else {
            throw refuse("the logout token carries no back-channel logout event")
        }
        let sid = claims.sid.flatMap { $0.isEmpty ? nil : $0 }, sub = claims.sub.flatMap { $0.isEmpty ? nil : $0 }
        guard sid != nil || sub != nil else { throw refuse("the logout token names neither sid nor sub") }
        return VerifiedLogoutToken(subject: sub, sessionID: sid, tokenID: jti, issuedAt: iat)
    }

    /// The provider's key set after the JOSE header's checks (an asymmetric algorithm, no
    /// critical extensions, a `kid` the provider publishes or, without one, a single key).
    private func checkedKeys(token: String, headerData: Data, provider: OpenIDProvider) async throws(TesseraError) -> KeySet {
        func refuse(_ why: String) -> TesseraError { .upstreamLogin(.invalidResponse(why)) }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerData) else { throw refuse("the token's header is not JSON") }
        guard header.crit == nil else { throw refuse("the token names critical header extensions") }
        guard let alg = header.alg, Self.algorithms.contains(alg) else { throw refuse("the token's algorithm is not an asymmetric one") }
        let discovery = try await discovery(of: provider)
        let set = try await keySet(of: provider, discovery: discovery, wanting: header.kid)
        if let kid = header.kid {
            guard set.kids.contains(kid) else { throw refuse("the token's kid names no key of the provider") }
        } else {
            // jwt-kit would take its default key: allowed only when there is no other.
            guard set.kids.count == 1 else { throw refuse("the token names no kid and the provider has several keys") }
        }
        return set
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    // MARK: HTTP

    func get(_ url: String, within timeout: TimeInterval, accept: String = "application/json") async throws(TesseraError) -> Data {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: accept)
        let (status, data) = try await send(request, within: timeout)
        guard status == .ok else {
            throw status.code >= 500 ? .upstreamLogin(.unavailable) : .upstreamLogin(.invalidResponse("\(url) answered \(status.code)"))
        }
        return data
    }

    private func post(_ url: String, form: [String: String], headers: HTTPHeaders,
                      within timeout: TimeInterval) async throws(TesseraError) -> (HTTPResponseStatus, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers = headers
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let body = form.sorted { $0.key < $1.key }.map { Self.formEncoded($0.key) + "=" + Self.formEncoded($0.value) }.joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request, within: timeout)
    }

    private func send(_ request: HTTPClientRequest, within timeout: TimeInterval) async throws(TesseraError) -> (HTTPResponseStatus, Data) {
        do {
            let response = try await Self.http.execute(request, deadline: .now() + .milliseconds(Int64(timeout * 1000)))
            let body = try await response.body.collect(upTo: Self.maximumAnswer)
            return (response.status, Data(buffer: body))
        } catch {
            throw .upstreamLogin(.unavailable)
        }
    }

    /// `application/x-www-form-urlencoded` of one value: unreserved characters kept, the rest
    /// percent-encoded (a space as `%20`, which every server reads).
    static func formEncoded(_ value: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
