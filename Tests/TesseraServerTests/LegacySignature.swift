import Crypto
import Foundation

/// What an older client computes for the legacy `Authorization` header.
enum LegacySignature {
    static func sign(_ text: String, key: String) -> String {
        Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(key.utf8)))).base64EncodedString()
    }
}
