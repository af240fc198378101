import ExtrasBase64
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

    enum CodingKeys: String, CodingKey {
        case iss, requestor, resource, mvpd, sub, iat, exp, jti
    }

    /// The JSON of the synthesized encoding under jwt-kit's encoder, written as plain values: the
    /// claim wrappers' nested single-value containers cost more than the rest of the encoding.
    /// NumericDates are whole seconds when the dates are (Tessera's always are), else fractional.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(iss.value, forKey: .iss)
        try container.encode(requestor, forKey: .requestor)
        try container.encode(resource, forKey: .resource)
        try container.encode(mvpd, forKey: .mvpd)
        try container.encode(sub.value, forKey: .sub)
        try Self.encode(numericDate: iat.value, forKey: .iat, in: &container)
        try Self.encode(numericDate: exp.value, forKey: .exp, in: &container)
        try container.encode(jti.value, forKey: .jti)
    }

    static func encode(numericDate date: Date, forKey key: CodingKeys, in container: inout KeyedEncodingContainer<CodingKeys>) throws {
        let seconds = date.timeIntervalSince1970
        if let whole = Int64(exactly: seconds) {
            try container.encode(whole, forKey: key)
        } else {
            try container.encode(seconds, forKey: key)
        }
    }

    /// Expiry is checked by ``MediaTokenVerifier`` with its own clock, so that it can say "expired".
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Signs media tokens with one ES256 key, synchronously and without jwt-kit's key-collection
/// actor: a media token is signed per request, and the actor's hops and per-token header
/// encoding cost about as much as the signature. The header is jwt-kit's `JWTHeader`, encoded
/// once; the signature is jwt-kit's ES256 algorithm; the result is an ordinary compact JWS that
/// ``MediaTokenVerifier`` (or any JOSE library) verifies.
public struct MediaTokenSigner: Sendable {
    let algorithm: any JWTAlgorithm
    /// base64url of the JWS header, followed by the separating ".".
    let headerPrefix: [UInt8]
    let encoder: JSONEncoder

    static let base64URL: Base64.EncodingOptions = [.base64UrlAlphabet, .omitPaddingCharacter]

    /// The signer for `key`, named `kid` in every token's header.
    public init(key: ES256PrivateKey, kid: String) async throws {
        // A collection of this one key, so that no other key can stand in for it.
        let collection = JWTKeyCollection()
        await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        algorithm = try await collection.getKey(for: JWKIdentifier(string: kid))
        var header = JWTHeader()
        header.alg = "ES256"
        header.typ = "JWT"
        header.kid = kid
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        headerPrefix = Base64.encodeToBytes(bytes: try encoder.encode(header), options: Self.base64URL) + [UInt8(ascii: ".")]
    }

    /// The compact JWS of `claims`.
    public func compactJWS(_ claims: MediaTokenClaims) throws -> [UInt8] {
        let payload = try encoder.encode(claims)
        var token = headerPrefix
        token.reserveCapacity(headerPrefix.count + Base64.encodedLength(bytesCount: payload.count) + 90)
        token.append(contentsOf: Base64.encodeToBytes(bytes: payload, options: Self.base64URL))
        let signature = try algorithm.sign(token)
        token.append(UInt8(ascii: "."))
        token.append(contentsOf: Base64.encodeToBytes(bytes: signature, options: Self.base64URL))
        return token
    }

    /// The token as clients receive it in `serializedToken`: base64 of the compact JWS.
    public func serializedToken(_ claims: MediaTokenClaims) throws -> String {
        Base64.encodeToString(bytes: try compactJWS(claims))
    }
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
