import Foundation
import JWTKit

/// The claims of a Tessera short media token: an ES256 JWS, handed to clients base64-encoded
/// as `serializedToken`.
public struct MediaTokenClaims: JWTPayload, Equatable {
    public var iss: IssuerClaim
    /// The programmer (Adobe: requestor) the token was issued to.
    public var requestor: String
    /// The resource it may play, as the client asked for it (an id or an MRSS fragment).
    public var resource: String
    /// The identity provider (Adobe: MVPD) that authorized it.
    public var mvpd: String
    /// The subscriber's user id at that provider.
    public var sub: SubjectClaim
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim
    public var jti: IDClaim

    public init(issuer: String, requestor: String, resource: String, mvpd: String, userID: String, issuedAt: Date, expiresAt: Date, id: String) {
        iss = .init(value: issuer)
        self.requestor = requestor
        self.resource = resource
        self.mvpd = mvpd
        sub = .init(value: userID)
        iat = .init(value: issuedAt)
        exp = .init(value: expiresAt)
        jti = .init(value: id)
    }

    /// Expiry is checked by ``MediaTokenVerifier`` with its own clock, so that it can say "expired".
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The result of checking a media token, in the terms of Adobe's Media Token Verifier.
public enum MediaTokenVerification: Sendable, Equatable {
    case valid(MediaTokenClaims)
    /// Not base64 of a JWS, or its claims are not a media token's (`INVALID_TOKEN_FORMAT`).
    case invalidFormat
    /// The signature does not verify with any known key (`INVALID_SIGNATURE`).
    case invalidSignature
    /// Past its expiry (`TOKEN_EXPIRED`).
    case expired
    /// Valid, but for another resource (`INVALID_RESOURCE_ID`).
    case invalidResource

    public var name: String {
        switch self {
        case .valid: "VALID_TOKEN"
        case .invalidFormat: "INVALID_TOKEN_FORMAT"
        case .invalidSignature: "INVALID_SIGNATURE"
        case .expired: "TOKEN_EXPIRED"
        case .invalidResource: "INVALID_RESOURCE_ID"
        }
    }
}

/// Verifies media tokens offline, with Tessera's public key (PEM) or its JWKS; a CDN or origin
/// links this library and needs nothing else.
///
/// ```swift
/// let verifier = try await MediaTokenVerifier(jwks: jwksJSON)
/// switch await verifier.verify(serializedToken, resource: "TNT") {
/// case .valid(let claims): print("play for", claims.sub.value, "until", claims.exp.value)
/// default: print("refuse")
/// }
/// ```
public struct MediaTokenVerifier: Sendable {
    public static let issuer = "tessera"
    let keys: JWTKeyCollection

    /// From a JWKS document (`GET /o/client/jwks`); its ES256 keys are used.
    public init(jwks json: String) async throws {
        let set = try JSONDecoder().decode(JWKS.self, from: Data(json.utf8))
        let keys = JWTKeyCollection()
        for key in set.keys where key.algorithm == .es256 {
            try await keys.add(jwk: key)
        }
        self.keys = keys
    }

    /// From an ES256 public key in PEM.
    public init(publicKeyPEM: String) async throws {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PublicKey(pem: publicKeyPEM))
        self.keys = keys
    }

    /// The compact JWS inside a `serializedToken` (base64 of it; a bare JWS is accepted too).
    public static func compactJWS(from serialized: String) -> String? {
        let text = serialized.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count <= 16_384 else { return nil }
        if text.split(separator: ".", omittingEmptySubsequences: false).count == 3 { return text }
        guard let data = Data(base64Encoded: text), let jws = String(data: data, encoding: .utf8),
              jws.split(separator: ".", omittingEmptySubsequences: false).count == 3
        else { return nil }
        return jws
    }

    public func verify(_ serialized: String, resource: String? = nil, now: Date = Date()) async -> MediaTokenVerification {
        guard let jws = Self.compactJWS(from: serialized),
              let unverified = try? await keys.unverified(jws, as: MediaTokenClaims.self),
              unverified.iss.value == Self.issuer
        else { return .invalidFormat }
        guard let claims = try? await keys.verify(jws, as: MediaTokenClaims.self) else { return .invalidSignature }
        guard claims.exp.value > now else { return .expired }
        if let resource, resource != claims.resource { return .invalidResource }
        return .valid(claims)
    }

    /// Seconds left before the token expires (0 if it has), after checking it.
    public func timeToLive(_ serialized: String, now: Date = Date()) async -> TimeInterval {
        guard case .valid(let claims) = await verify(serialized, now: now) else { return 0 }
        return max(0, claims.exp.value.timeIntervalSince(now))
    }
}
