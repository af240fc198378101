import Crypto
import _CryptoExtras
import Foundation
import JWTKit
import TesseraCore
import TesseraMediaToken
import TesseraStore

/// Claims of a DCR access token (RS256, so any instance and any relying service can verify it
/// with the published JWKS and nothing else).
package struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var iss: IssuerClaim
    package var requestor: String
    var scopes: String
    var jti: IDClaim
    var iat: IssuedAtClaim
    var nbf: NotBeforeClaim
    var exp: ExpirationClaim
    /// The software statement the client registered with: REST v2 profiles belong to it, so a
    /// client registered again keeps them. Absent in tokens issued before it was added.
    package var softwareID: String?

    enum CodingKeys: String, CodingKey {
        case sub, iss, requestor, scopes, jti, iat, nbf, exp, softwareID = "software_id"
    }

    package func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Claims of a software statement: which tenant approved which application.
struct SoftwareStatementClaims: JWTPayload {
    var iss: IssuerClaim
    var softwareID: String
    var clientName: String
    var requestor: String
    var jti: IDClaim
    var iat: IssuedAtClaim

    enum CodingKeys: String, CodingKey {
        case iss, softwareID = "software_id", clientName = "client_name", requestor, jti, iat
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Signs and verifies Tessera's JWTs with RSA keys kept in the store, and publishes them.
public struct TokenAuthority: Sendable {
    public static let issuer = "tessera"
    public static let accessTokenLifetime: TimeInterval = 21_600
    /// The only scope an access token carries.
    static let accessTokenScope = "api:client:v2"
    /// How far in the future an access token's `iat` may be (clocks of several instances).
    static let issuedAtSkew: TimeInterval = 60
    /// The RS256 keys: access tokens and software statements, and nothing else. The ES256 media
    /// token key is not among them, so a media token can never pass as a bearer.
    let keys: JWTKeyCollection
    /// The kids of ``keys``: a bearer must name one of them.
    let accessTokenKIDs: Set<String>
    let signingKID: String
    public let jwks: JWKS

    /// Signs media tokens with the ES256 key, on ``SigningLanes``.
    let mediaTokens: MediaTokenSigner
    let signingLanes = SigningLanes()
    /// Access tokens whose signature has been checked, so that each is verified once rather
    /// than on every call (an RS256 verification costs more than the rest of a cached read).
    /// Lifetime and issuer are still checked on every use. DCR clients cannot be revoked yet;
    /// when they can, revoking one must invalidate its tokens here.
    let verifiedAccessTokens = BoundedCache<VerifiedBearer, AccessTokenClaims>(capacity: 10_000)
    /// The HMAC key of the tokens Tessera's own forms carry (``BrowserForms``), shared by every
    /// instance through the store, so that a form served by one is accepted by another.
    package let formKey: SymmetricKey
    /// The current RS256 private key (PEM): Tessera's signing key as a SAML service provider too.
    let signingKeyPEM: String?
    static let formKeyAlgorithm = "HS256-forms"

    /// Loads the signing keys from the store, creating the first RS256 (access tokens, software
    /// statements) and ES256 (media tokens: cheap to sign) keys if there are none. Every private
    /// key is sealed under `sealing`; keys an older Tessera stored in the clear are sealed here.
    /// Throws ``ConfigurationError`` when a key does not open with `sealing` (another
    /// key-encryption key).
    public static func load(from store: any SigningKeyStore, sealing: KeySealing, clock: any TesseraClock) async throws -> TokenAuthority {
        var stored = try await store.signingKeys()
        func insertUnlessPresent(_ algorithm: String, kidPrefix: String, privateKey: () throws -> String) async throws {
            guard !stored.contains(where: { $0.algorithm == algorithm }) else { return }
            let kid = kidPrefix + Secret.generate(byteCount: 9)
            let sealed = try sealing.seal(Data(try privateKey().utf8), for: .signingKey(kid: kid, algorithm: algorithm))
            try await store.insertUnlessAlgorithmHasKey(StoredSigningKey(kid: kid, algorithm: algorithm, privateKey: .sealed(sealed), createdAt: clock.now()))
        }
        try await insertUnlessPresent("RS256", kidPrefix: "rs-") { try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation }
        try await insertUnlessPresent("ES256", kidPrefix: "es-") { ES256PrivateKey().pemRepresentation }
        // Not a PEM: 32 random bytes, base64. Older Tessera versions skip algorithms they do not know.
        try await insertUnlessPresent(formKeyAlgorithm, kidPrefix: "hs-") { Secret.randomBytes(32).base64EncodedString() }
        // Keys a Tessera before key sealing kept in the clear: sealed now, once.
        for key in stored {
            guard case .clear(let text) = key.privateKey else { continue }
            try await store.sealSigningKey(kid: key.kid, sealed: sealing.seal(Data(text.utf8), for: key.owner))
        }
        // Another instance may have raced us; everyone uses what the store holds.
        stored = try await store.signingKeys()
        var privateKeys: [String: String] = [:]
        for key in stored {
            switch key.privateKey {
            case .sealed(let box):
                guard let opened = try? sealing.open(box, for: key.owner) else {
                    throw ConfigurationError("the signing key \(key.kid) does not open with this key-encryption key (server.key_encryption_key or TESSERA_KEY_ENCRYPTION_KEY): give the one it was sealed with")
                }
                privateKeys[key.kid] = String(decoding: opened, as: UTF8.self)
            case .clear(let text):
                privateKeys[key.kid] = text
            }
        }
        let collection = JWTKeyCollection()
        var published: [JWK] = []
        var mediaTokenKeys: [String: ES256PrivateKey] = [:]
        var accessTokenKIDs: Set<String> = []
        for key in stored {
            let kid = JWKIdentifier(string: key.kid)
            let pem = privateKeys[key.kid] ?? ""
            switch key.algorithm {
            case "RS256":
                let privateKey = try Insecure.RSA.PrivateKey(pem: pem)
                await collection.add(rsa: privateKey, digestAlgorithm: .sha256, kid: kid)
                accessTokenKIDs.insert(key.kid)
                let primitives = try privateKey.publicKey.getKeyPrimitives()
                published.append(.rsa(.rs256, identifier: kid, modulus: primitives.modulus.base64URLEncoded(),
                                      exponent: primitives.publicExponent.base64URLEncoded()))
            case "ES256":
                let privateKey = try ES256PrivateKey(pem: pem)
                mediaTokenKeys[key.kid] = privateKey
                if let point = privateKey.publicKey.parameters {
                    published.append(.ecdsa(.es256, identifier: kid, x: point.x, y: point.y, curve: .p256))
                }
            default:
                continue
            }
        }
        guard let rsa = stored.last(where: { $0.algorithm == "RS256" }), let ec = stored.last(where: { $0.algorithm == "ES256" }),
              let mediaTokenKey = mediaTokenKeys[ec.kid],
              let formKey = stored.last(where: { $0.algorithm == formKeyAlgorithm }).flatMap({ privateKeys[$0.kid] }).flatMap({ Data(base64Encoded: $0) }),
              formKey.count == 32 else {
            throw StoreError("the store holds no usable signing keys")
        }
        return TokenAuthority(keys: collection, accessTokenKIDs: accessTokenKIDs, signingKID: rsa.kid, jwks: JWKS(keys: published),
                              mediaTokens: try await MediaTokenSigner(key: mediaTokenKey, kid: ec.kid), formKey: SymmetricKey(data: formKey),
                              signingKeyPEM: privateKeys[rsa.kid])
    }

    /// A media token for `claims`, as `serializedToken` carries it: base64 of the compact JWS.
    func mediaToken(_ claims: MediaTokenClaims) async throws -> String {
        let signer = mediaTokens
        return try await signingLanes.run { try signer.serializedToken(claims) }
    }

    /// The JWKS as JSON, for offline verifiers.
    public var jwksJSON: String {
        (try? JSONEncoder().encode(jwks)).map { String(decoding: $0, as: UTF8.self) } ?? "{\"keys\":[]}"
    }

    func sign(_ claims: some JWTPayload) async throws -> String {
        try await keys.sign(claims, kid: JWKIdentifier(string: signingKID))
    }

    /// Claims of a `private_key_jwt` client assertion (RFC 7523 3, OpenID Connect Core 9).
    struct ClientAssertionClaims: JWTPayload {
        var iss: IssuerClaim
        var sub: SubjectClaim
        var aud: AudienceClaim
        var jti: IDClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// Tessera's proof, as client `clientID`, at an upstream provider's endpoint `audience`:
    /// signed with the RS256 key the JWKS publishes, valid for a minute, used once.
    package func clientAssertion(clientID: String, audience: String) async throws -> String {
        let now = Date().wholeSeconds
        return try await sign(ClientAssertionClaims(
            iss: IssuerClaim(value: clientID), sub: SubjectClaim(value: clientID), aud: AudienceClaim(value: [audience]),
            jti: IDClaim(value: Secret.generate()), iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(60))))
    }

    /// Claims of a logout token (OpenID Connect Back-Channel Logout 1.0, 2.4) Tessera sends a
    /// tenant's services when one of its sessions ends.
    package struct LogoutTokenClaims: JWTPayload {
        package var iss: IssuerClaim
        package var aud: AudienceClaim
        package var iat: IssuedAtClaim
        package var exp: ExpirationClaim
        package var jti: IDClaim
        package var sub: SubjectClaim
        /// Tessera's session id: the session that ended.
        package var sid: String
        package var events: [String: [String: String]]
        /// The provider the session was at (Adobe: the MVPD).
        package var mvpd: String

        package static let event = "http://schemas.openid.net/event/backchannel-logout"

        package func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// A logout token for the end of `sessionID` (of `userID` at `providerID`) in `tenantID`,
    /// signed with the RS256 key the JWKS publishes, typed `logout+jwt`.
    package func logoutToken(issuer: String, tenantID: String, sessionID: UUID, userID: String, providerID: String,
                             now exact: Date) async throws -> String {
        let now = exact.wholeSeconds
        var header = JWTHeader()
        header.typ = "logout+jwt"
        return try await keys.sign(LogoutTokenClaims(
            iss: IssuerClaim(value: issuer), aud: AudienceClaim(value: [tenantID]), iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(120)), jti: IDClaim(value: Secret.generate()),
            sub: SubjectClaim(value: userID), sid: sessionID.uuidString.lowercased(), events: [LogoutTokenClaims.event: [:]],
            mvpd: providerID), kid: JWKIdentifier(string: signingKID), header: header)
    }

    /// A software statement for `grant` of `tenant`, as the TVE Dashboard would hand it out.
    public func softwareStatement(for grant: SoftwareStatementGrant, tenant: Tenant, now exact: Date) async throws -> String {
        let now = exact.wholeSeconds
        return try await sign(SoftwareStatementClaims(
            iss: .init(value: Self.issuer), softwareID: grant.softwareID, clientName: grant.clientName,
            requestor: tenant.id, jti: .init(value: grant.softwareID + "@" + tenant.id), iat: .init(value: now)))
    }

    func verifySoftwareStatement(_ token: String) async -> SoftwareStatementClaims? {
        guard let claims = try? await keys.verify(token, as: SoftwareStatementClaims.self), claims.iss.value == Self.issuer else { return nil }
        return claims
    }

    func accessToken(clientID: String, tenantID: String, softwareID: String, id: UUID, now exact: Date) async throws -> String {
        // NumericDate in whole seconds: some verifiers refuse fractional ones.
        let now = exact.wholeSeconds
        return try await sign(AccessTokenClaims(
            sub: .init(value: clientID), iss: .init(value: Self.issuer), requestor: tenantID, scopes: Self.accessTokenScope,
            jti: .init(value: id.uuidString.lowercased()), iat: .init(value: now), nbf: .init(value: now.addingTimeInterval(-5)),
            exp: .init(value: now.addingTimeInterval(Self.accessTokenLifetime)), softwareID: softwareID))
    }

    /// The `requestor` an access token names, without checking it: from the tokens already
    /// verified, else read from its payload. Only to choose a tenant; ``verifyAccessToken(_:now:isRegisteredClient:)``
    /// decides whether the token is good.
    package func claimedRequestor(ofAccessToken token: String) -> String? {
        if let verified = verifiedAccessTokens.value(for: VerifiedBearer(token)) { return verified.requestor }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Data(lenientBase64: parts[1]),
              let claims = try? JSONDecoder().decode(ClaimedRequestor.self, from: payload) else { return nil }
        return claims.requestor
    }

    private struct ClaimedRequestor: Decodable { let requestor: String }

    /// The claims of a bearer, after checking everything Tessera puts in one. The JOSE header:
    /// RS256 under a kid of the access-token keys, `typ` JWT if present, no `crit` (Tessera
    /// defines no extensions, so any is unknown). The claims: Tessera's issuer, the one scope,
    /// a requestor, `iat` not in the future beyond ``issuedAtSkew``, within `nbf` and `exp`,
    /// and a `sub` that `isRegisteredClient` confirms (of the claims' requestor). A media
    /// token (ES256), a software statement (no scope, no expiry) or any other JWT is refused.
    ///
    /// Header, signature and `sub` are checked once per token (an RS256 verification costs more
    /// than the rest of a cached read); lifetime on every use.
    func verifyAccessToken(
        _ token: String, now: Date, isRegisteredClient: (AccessTokenClaims) async throws(TesseraError) -> Bool
    ) async throws(TesseraError) -> AccessTokenClaims {
        let claims: AccessTokenClaims
        let key = VerifiedBearer(token)
        if let verified = verifiedAccessTokens.value(for: key) {
            claims = verified
        } else {
            // Taken before the client is looked up: a revoke of the client meanwhile voids the fill.
            let ticket = verifiedAccessTokens.ticket(for: key)
            try checkHeader(of: token)
            do { claims = try await keys.verify(token, as: AccessTokenClaims.self) } catch {
                throw .invalidAccessToken("the access token is malformed or its signature does not verify")
            }
            guard claims.iss.value == Self.issuer else { throw .invalidAccessToken("the access token has another issuer") }
            guard claims.scopes == Self.accessTokenScope else { throw .invalidAccessToken("the access token has another scope") }
            guard !claims.requestor.isEmpty else { throw .invalidAccessToken("the access token names no requestor") }
            guard claims.iat.value <= now.addingTimeInterval(Self.issuedAtSkew) else {
                throw .invalidAccessToken("the access token was issued in the future")
            }
            guard try await isRegisteredClient(claims) else { throw .invalidAccessToken("the access token's client is not registered") }
            verifiedAccessTokens.fill(key, claims, ticket: ticket)
        }
        guard claims.exp.value > now else { throw .invalidAccessToken("the access token has expired") }
        guard claims.nbf.value <= now else { throw .invalidAccessToken("the access token is not valid yet") }
        return claims
    }

    /// The protected header of a compact JWS, as far as a bearer's check needs it.
    private struct Header: Decodable {
        let alg: String?
        let kid: String?
        let typ: String?
        let crit: [String]?
    }

    private func checkHeader(of token: String) throws(TesseraError) {
        guard let end = token.firstIndex(of: "."), let data = Data(lenientBase64: token[..<end]),
              let header = try? JSONDecoder().decode(Header.self, from: data)
        else { throw .invalidAccessToken("the access token is malformed or its signature does not verify") }
        guard header.alg == "RS256" else { throw .invalidAccessToken("the access token is not signed with RS256") }
        guard let kid = header.kid, accessTokenKIDs.contains(kid) else { throw .invalidAccessToken("the access token names no access-token key") }
        guard header.typ == nil || header.typ?.uppercased() == "JWT" else { throw .invalidAccessToken("the access token is not a JWT") }
        guard header.crit == nil else { throw .invalidAccessToken("the access token has critical header parameters Tessera does not know") }
    }
}

/// A bearer token as the key of the verified-token cache: compared whole, hashed by its length
/// and its last 32 bytes. Those are the end of its signature, different for every token. A
/// lookup hashes its key twice (shard, then bucket), and hashing all of an RS256 token's ~650
/// bytes twice was about half of the bearer check's CPU in checkauthn's profile. Tokens that
/// share their last bytes only share a bucket; a forged one is never stored (only verified
/// tokens are), so it cannot crowd one.
package struct VerifiedBearer: Hashable, Sendable {
    let token: String

    init(_ token: String) { self.token = token }

    package func hash(into hasher: inout Hasher) {
        var token = token  // withUTF8 is mutating; a native string is not copied
        token.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.suffix(32))))
        }
    }

    package static func == (lhs: VerifiedBearer, rhs: VerifiedBearer) -> Bool { lhs.token == rhs.token }
}
