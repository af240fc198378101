import JWTKit

enum ES256PrivateKeyPEM {
    static func otherPublicKey() -> String { ES256PrivateKey().publicKey.pemRepresentation }
}
