import Foundation
import JWTKit
import Testing
import TesseraMediaToken

@Suite struct MediaTokenVerifierTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func signed(_ claims: MediaTokenClaims, key: ES256PrivateKey) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: "k")
        return Data(try await keys.sign(claims, kid: "k").utf8).base64EncodedString()
    }

    func claims(issuer: String = "tessera", expiresIn: TimeInterval = 420) -> MediaTokenClaims {
        MediaTokenClaims(issuer: issuer, requestor: "REF30", resource: "TNT", mvpd: "Dish", userID: "u1",
                         issuedAt: now, expiresAt: now.addingTimeInterval(expiresIn), id: "t1")
    }

    @Test func everyDocumentedResult() async throws {
        let key = ES256PrivateKey()
        let verifier = try await MediaTokenVerifier(publicKeyPEM: key.publicKey.pemRepresentation)
        let token = try await signed(claims(), key: key)
        #expect(await verifier.verify(token, resource: "TNT", now: now) == .valid(claims()))
        #expect(await verifier.verify(token, resource: "CNN", now: now) == .invalidResource)
        #expect(await verifier.verify(token, now: now.addingTimeInterval(420)) == .expired)
        #expect(await verifier.verify(try await signed(claims(), key: ES256PrivateKey()), now: now) == .invalidSignature)
        #expect(await verifier.verify(try await signed(claims(issuer: "someone-else"), key: key), now: now) == .invalidFormat)
        #expect(await verifier.verify("", now: now) == .invalidFormat)
        #expect(await verifier.verify("%%%", now: now) == .invalidFormat)
        // A bare JWS is accepted as well as its base64.
        let bare = String(decoding: Data(base64Encoded: token)!, as: UTF8.self)
        #expect(await verifier.verify(bare, now: now) == .valid(claims()))
        #expect(await verifier.timeToLive(token, now: now.addingTimeInterval(20)) == 400)
        #expect(MediaTokenVerification.invalidSignature.name == "INVALID_SIGNATURE")
    }

    @Test func fromAJWKS() async throws {
        let key = ES256PrivateKey()
        let point = try #require(key.publicKey.parameters)
        let jwks = JWKS(keys: [.ecdsa(.es256, identifier: "k", x: point.x, y: point.y, curve: .p256)])
        let verifier = try await MediaTokenVerifier(jwks: String(decoding: try JSONEncoder().encode(jwks), as: UTF8.self))
        #expect(await verifier.verify(try await signed(claims(), key: key), now: now) == .valid(claims()))
    }
}
