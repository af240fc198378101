import COpenSSL
import _CryptoExtras
import Foundation

/// Decrypts a session proof (X-signature): RSA-OAEP with SHA-256, under either MGF1 hash that
/// Huawei's recipe yields in practice (huawei.md A.6):
/// - MGF1-SHA-256: BouncyCastle's reading of `RSA/ECB/OAEPWithSHA-256AndMGF1Padding`, the
///   documented one; swift-crypto's `_CryptoExtras` decrypts it, and it is tried first;
/// - MGF1-SHA-1: Java's default provider's reading of the same string; swift-crypto offers no
///   such parameter set, so OpenSSL's libcrypto decrypts it (EVP, never a hand-written padding).
enum ProofDecryption {
    /// The plaintext, or nil when neither parameter set opens it under `key`.
    static func decrypt(_ ciphertext: Data, with key: _RSA.Encryption.PrivateKey) -> Data? {
        if let plaintext = try? key.decrypt(ciphertext, padding: .PKCS1_OAEP_SHA256) { return plaintext }
        return decryptWithSHA1MGF(ciphertext, privateKeyDER: key.derRepresentation)
    }

    /// OAEP with SHA-256 and MGF1-SHA-1, through libcrypto's EVP interface.
    static func decryptWithSHA1MGF(_ ciphertext: Data, privateKeyDER: Data) -> Data? {
        let key: OpaquePointer? = privateKeyDER.withUnsafeBytes { raw in
            var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return d2i_PrivateKey(EVP_PKEY_RSA, nil, &pointer, raw.count)
        }
        guard let key else { return nil }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_PKEY_CTX_new(key, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_decrypt_init(context) == 1,
              EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha1()) == 1
        else { return nil }
        return ciphertext.withUnsafeBytes { input -> Data? in
            guard let source = input.bindMemory(to: UInt8.self).baseAddress else { return nil }
            var length = 0
            guard EVP_PKEY_decrypt(context, nil, &length, source, input.count) == 1 else { return nil }
            var output = Data(count: length)
            let status = output.withUnsafeMutableBytes { buffer in
                EVP_PKEY_decrypt(context, buffer.bindMemory(to: UInt8.self).baseAddress, &length, source, input.count)
            }
            guard status == 1 else { return nil }
            return output.prefix(length)
        }
    }
}
