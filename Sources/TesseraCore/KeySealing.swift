import Crypto
import _CryptoExtras
import Foundation

/// Seals private keys for the store under the operator's key-encryption key (AES-256-GCM), so
/// that a dump of the database holds none in the clear. The additional data binds a sealed key
/// to its tenant, application and key id: a sealed key copied to another row does not open.
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

    static func context(tenantID: String, clientID: String, keyID: String) -> Data {
        Data("tessera application key\u{0}\(tenantID)\u{0}\(clientID)\u{0}\(keyID)".utf8)
    }

    /// A new RSA-2048 key pair for an application, sealed.
    public func newApplicationKey(tenantID: String, clientID: String, createdAt: Date) throws -> ApplicationKey {
        let privateKey = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let keyID = "ak-" + Secret.generate(byteCount: 9)
        let sealed = try AES.GCM.seal(privateKey.derRepresentation, using: key,
                                      authenticating: Self.context(tenantID: tenantID, clientID: clientID, keyID: keyID))
        guard let combined = sealed.combined else { throw ConfigurationError("AES-GCM gave no combined box") }
        return ApplicationKey(tenantID: tenantID, clientID: clientID, keyID: keyID, publicKeyDER: privateKey.publicKey.derRepresentation,
                              sealedPrivateKey: combined, createdAt: createdAt)
    }

    /// The private key of `stored`; throws when the box does not open under this key (another
    /// key-encryption key, or a box moved to another row).
    public func privateKey(of stored: ApplicationKey) throws -> _RSA.Encryption.PrivateKey {
        let box = try AES.GCM.SealedBox(combined: stored.sealedPrivateKey)
        let der = try AES.GCM.open(box, using: key,
                                   authenticating: Self.context(tenantID: stored.tenantID, clientID: stored.clientID, keyID: stored.keyID))
        return try _RSA.Encryption.PrivateKey(derRepresentation: der)
    }
}
