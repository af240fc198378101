import COpenSSL
import _CryptoExtras
import Foundation

/// Decrypts a session proof (X-signature): RSA-OAEP with SHA-256, under either MGF1 hash that
/// Huawei's recipe yields in practice (huawei.md A.6):
/// - MGF1-SHA-256: BouncyCastle's reading of `RSA/ECB/OAEPWithSHA-256AndMGF1Padding`, the
///   documented one, tried first;
/// - MGF1-SHA-1: Java's default provider's reading of the same string.
///
/// Both through OpenSSL's libcrypto (EVP; libcrypto does the padding, nothing is written by hand)
/// on a key parsed once (``LibcryptoRSAKey``): an RSA-2048 private operation takes about 315-340 µs
/// in the system's OpenSSL 3 here and about 680 µs in swift-crypto's BoringSSL (measured with
/// `openssl speed rsa2048` and `perf` of the SDK logout; README "Performance"), and it is most of
/// an SDK logout's time. swift-crypto's `_CryptoExtras` makes, stores and serializes the keys, and
/// decrypts when libcrypto cannot take a key.
enum ProofDecryption {
    /// The plaintext, or nil when neither parameter set opens it under `key`.
    static func decrypt(_ ciphertext: Data, with key: ApplicationKeys.OpenedPrivateKey) -> Data? {
        guard let libcrypto = key.libcrypto else {
            // libcrypto could not read the key: swift-crypto has the SHA-256 reading only.
            return try? key.key.decrypt(ciphertext, padding: .PKCS1_OAEP_SHA256)
        }
        return libcrypto.decryptOAEPSHA256(ciphertext, mgf1: .sha256) ?? libcrypto.decryptOAEPSHA256(ciphertext, mgf1: .sha1)
    }
}

/// An RSA private key held by OpenSSL's libcrypto, parsed once from its DER and shared by the
/// requests that use it. `@unchecked Sendable`: the EVP_PKEY is never changed after it is made,
/// each operation makes its own EVP_PKEY_CTX, and libcrypto's RSA private-key operations on one
/// key are safe from several threads at once (the blinding state is locked inside the RSA object).
final class LibcryptoRSAKey: @unchecked Sendable {
    enum MGF1 { case sha256, sha1 }

    private let key: OpaquePointer

    /// nil when libcrypto cannot read `privateKeyDER` as an RSA private key.
    init?(privateKeyDER: Data) {
        let parsed: OpaquePointer? = privateKeyDER.withUnsafeBytes { raw in
            var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return d2i_PrivateKey(EVP_PKEY_RSA, nil, &pointer, raw.count)
        }
        guard let parsed else { return nil }
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// RSA-OAEP with SHA-256 and the given MGF1 hash; nil when it does not decrypt.
    func decryptOAEPSHA256(_ ciphertext: Data, mgf1: MGF1) -> Data? {
        guard let context = EVP_PKEY_CTX_new(key, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_decrypt_init(context) == 1,
              EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(context, mgf1 == .sha256 ? EVP_sha256() : EVP_sha1()) == 1
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
