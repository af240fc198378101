import Crypto
import _CryptoExtras
import Foundation

/// Seals private keys for the store under the operator's key-encryption key (AES-256-GCM), so
/// that a dump of the database holds none in the clear. The additional data binds a sealed key
/// to what it is the key of (its application or signing-key id): a sealed key copied to another
/// row does not open.
public struct KeySealing: Sendable {
    let key: SymmetricKey

    /// `encoded`: 32 bytes in base64 (`server.key_encryption_key`, `TESSERA_KEY_ENCRYPTION_KEY`).
    public init(encoded: String) throws(ConfigurationError) {
        guard let bytes = Data(base64Encoded: encoded.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw ConfigurationError("the key-encryption key must be 32 bytes in base64 (for example: openssl rand -base64 32)")
        }
        key = SymmetricKey(data: bytes)
    }

    /// A new random key-encryption key, base64.
    public static func generateEncodedKey() -> String { Secret.randomBytes(32).base64EncodedString() }

    /// What a sealed key belongs to; part of the sealed box's additional data.
    public enum Owner: Sendable, Equatable {
        case application(tenantID: String, clientID: String, keyID: String)
        case signingKey(kid: String, algorithm: String)
        /// An upstream provider's token kept for a session (`kind`: `id_token`, `refresh_token`).
        case upstreamToken(sessionID: UUID, kind: String)
        /// What a provider's callback gave a browser's login attempt, carried by its confirmation
        /// form until the subscriber confirms (the attempt's state digest, hex).
        case upstreamAttempt(stateDigest: String)
        /// What a logout URL carries to Tessera's page of an OpenID Connect provider: the ended
        /// session's id_token (`id_token_hint`), or where the browser goes back afterwards.
        case logoutHint(providerID: String)
        case logoutReturn(providerID: String)

        var additionalData: Data {
            switch self {
            case .application(let tenantID, let clientID, let keyID):
                Data("tessera application key\u{0}\(tenantID)\u{0}\(clientID)\u{0}\(keyID)".utf8)
            case .signingKey(let kid, let algorithm):
                Data("tessera signing key\u{0}\(kid)\u{0}\(algorithm)".utf8)
            case .upstreamToken(let sessionID, let kind):
                Data("tessera upstream token\u{0}\(sessionID.uuidString)\u{0}\(kind)".utf8)
            case .upstreamAttempt(let stateDigest):
                Data("tessera upstream attempt\u{0}\(stateDigest)".utf8)
            case .logoutHint(let providerID):
                Data("tessera logout hint\u{0}\(providerID)".utf8)
            case .logoutReturn(let providerID):
                Data("tessera logout return\u{0}\(providerID)".utf8)
            }
        }
    }

    /// `secret` sealed for `owner`: nonce, ciphertext and tag in one value.
    public func seal(_ secret: Data, for owner: Owner) throws -> Data {
        guard let combined = try AES.GCM.seal(secret, using: key, authenticating: owner.additionalData).combined else {
            throw ConfigurationError("AES-GCM gave no combined box")
        }
        return combined
    }

    /// What ``seal(_:for:)`` sealed; throws when the box does not open under this key (another
    /// key-encryption key, or a box moved to another owner).
    public func open(_ sealed: Data, for owner: Owner) throws -> Data {
        try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: owner.additionalData)
    }

    /// A new RSA-2048 key pair for an application, sealed.
    public func newApplicationKey(tenantID: String, clientID: String, createdAt: Date) throws -> ApplicationKey {
        let privateKey = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let keyID = "ak-" + Secret.generate(byteCount: 9)
        let sealed = try seal(privateKey.derRepresentation, for: .application(tenantID: tenantID, clientID: clientID, keyID: keyID))
        return ApplicationKey(tenantID: tenantID, clientID: clientID, keyID: keyID, publicKeyDER: privateKey.publicKey.derRepresentation,
                              sealedPrivateKey: sealed, createdAt: createdAt)
    }

    /// The private key of `stored`.
    public func privateKey(of stored: ApplicationKey) throws -> _RSA.Encryption.PrivateKey {
        try _RSA.Encryption.PrivateKey(derRepresentation: open(stored.sealedPrivateKey, for: stored.owner))
    }
}

extension KeySealing.Owner: CustomStringConvertible {
    public var description: String {
        switch self {
        case .application(let tenantID, let clientID, let keyID): "key \(keyID) of application \(clientID) of tenant \(tenantID)"
        case .signingKey(let kid, let algorithm): "\(algorithm) signing key \(kid)"
        case .upstreamToken(let sessionID, let kind): "upstream \(kind) of session \(sessionID)"
        case .upstreamAttempt: "an upstream login attempt's tokens"
        case .logoutHint(let providerID): "a logout hint for \(providerID)"
        case .logoutReturn(let providerID): "a logout return for \(providerID)"
        }
    }
}

extension ApplicationKey {
    public var owner: KeySealing.Owner { .application(tenantID: tenantID, clientID: clientID, keyID: keyID) }
}
