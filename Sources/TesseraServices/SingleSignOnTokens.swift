import Crypto
import Foundation
import JWTKit
import Synchronization
import TesseraCore

/// Verifies the signed tokens that share REST v2 profiles: a platform's `Adobe-Subject-Token` and
/// a programmer's `AD-Service-Token` (adobe-pass.md 10.3), each against the keys its tenant
/// configured for that issuer (``TokenTrust``).
///
/// The JOSE header is checked before jwt-kit sees the token: RS256 (or ES256, for a platform key
/// in EC form) and nothing else, so `none` and HS256 made with the public key as a secret never
/// reach a verifier; a `kid` must name a configured key (jwt-kit would fall back to its default
/// key). Claims: `sub`, `exp` in the future, `iat` and `nbf` not in the future, `aud` one of the
/// configured audiences, `iss` the configured issuer (and present at all for a service token).
final class SingleSignOnTokens: Sendable {
    /// How far in the future `iat` and `nbf` may be (clocks of two parties).
    static let skew: TimeInterval = 60
    static let maximumLength = 8192

    /// One verifier per configured key, by tenant, trust and key index: built at the first token.
    private let verifiers = Mutex<[String: JWTKeyCollection]>([:])

    struct Claims: JWTPayload {
        var iss: String?
        var sub: String?
        var aud: AudienceClaim?
        var iat: IssuedAtClaim?
        var nbf: NotBeforeClaim?
        var exp: ExpirationClaim?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private struct Header: Decodable {
        let alg: String?
        let kid: String?
        let crit: [String]?
    }

    /// The identity `token` vouches for under one of `trusts`, or why none.
    func identity(_ token: String, scheme: SSOKey.Scheme, tenantID: String, trusts: [TokenTrust], now: Date) async throws(TesseraError) -> SingleSignOnIdentity {
        func refuse(_ why: String) -> TesseraError { .invalidSingleSignOnToken(scheme, why) }
        guard !token.isEmpty, token.utf8.count <= Self.maximumLength else { throw refuse("the token is empty or too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Data(lenientBase64: parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: headerData)
        else { throw refuse("the token is not a compact JWS") }
        guard header.crit == nil else { throw refuse("the token names critical header extensions") }
        let allowed: Set<String> = scheme == .serviceToken ? ["RS256"] : ["RS256", "ES256"]
        guard let alg = header.alg, allowed.contains(alg) else { throw refuse("the token's algorithm is not \(allowed.sorted().joined(separator: " or "))") }
        var lastError = refuse("no configured key verifies the token")
        for trust in trusts {
            let indexes = trust.keys.indices.filter { header.kid == nil || trust.keys[$0].id == header.kid }
            if header.kid != nil && indexes.isEmpty { lastError = refuse("the token's kid names no configured key"); continue }
            for index in indexes {
                guard let verifier = await verifier(tenantID: tenantID, trust: trust, index: index) else { continue }
                guard let claims = try? await verifier.verify(token, as: Claims.self) else { continue }
                do { return try check(claims, scheme: scheme, tenantID: tenantID, trust: trust, now: now) } catch { lastError = error }
            }
        }
        throw lastError
    }

    private func check(_ claims: Claims, scheme: SSOKey.Scheme, tenantID: String, trust: TokenTrust, now: Date) throws(TesseraError) -> SingleSignOnIdentity {
        func refuse(_ why: String) -> TesseraError { .invalidSingleSignOnToken(scheme, why) }
        guard let subject = claims.sub, !subject.isEmpty, subject.utf8.count <= 512 else { throw refuse("the token names no subject") }
        guard let exp = claims.exp?.value else { throw refuse("the token has no expiry") }
        guard exp > now else { throw refuse("the token has expired") }
        if scheme == .serviceToken, claims.iat == nil { throw refuse("the token has no issue time") }
        if let iat = claims.iat?.value, iat > now.addingTimeInterval(Self.skew) { throw refuse("the token was issued in the future") }
        if let nbf = claims.nbf?.value, nbf > now.addingTimeInterval(Self.skew) { throw refuse("the token is not valid yet") }
        if scheme == .serviceToken, (claims.iss ?? "").isEmpty { throw refuse("the token names no issuer") }
        if let issuer = trust.issuer, claims.iss != issuer { throw refuse("the token has another issuer") }
        if !trust.audiences.isEmpty {
            guard let audiences = claims.aud?.value, audiences.contains(where: trust.audiences.contains) else {
                throw refuse("the token is for another audience")
            }
        }
        return SingleSignOnIdentity(scheme: scheme, tenantID: tenantID, trust: trust, issuer: claims.iss, subject: subject)
    }

    private func verifier(tenantID: String, trust: TokenTrust, index: Int) async -> JWTKeyCollection? {
        let name = tenantID + "\u{0}" + trust.id + "\u{0}\(index)"
        if let made = verifiers.withLock({ $0[name] }) { return made }
        let pem = trust.keys[index].publicKeyPEM
        let collection = JWTKeyCollection()
        if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
            await collection.add(rsa: rsa, digestAlgorithm: .sha256)
        } else if let ec = try? ES256PublicKey(pem: pem) {
            await collection.add(ecdsa: ec)
        } else {
            return nil
        }
        verifiers.withLock { $0[name] = collection }
        return collection
    }

    /// Whether `pem` is a public key a token of `scheme` can be verified with (for the configuration).
    static func accepts(_ pem: String, scheme: SSOKey.Scheme) -> Bool {
        if (try? Insecure.RSA.PublicKey(pem: pem)) != nil { return true }
        return scheme == .platform && (try? ES256PublicKey(pem: pem)) != nil
    }
}
