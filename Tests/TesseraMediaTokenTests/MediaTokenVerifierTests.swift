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

    /// The JSON of one part of a compact JWS.
    func part(_ index: Int, of jws: [UInt8]) throws -> [String: Any] {
        var text = String(String(decoding: jws, as: UTF8.self).split(separator: ".", omittingEmptySubsequences: false)[index])
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return try #require(Data(base64Encoded: text).flatMap { try JSONSerialization.jsonObject(with: $0) as? [String: Any] })
    }

    @Test func theSignerMakesTokensTheVerifierAccepts() async throws {
        let key = ES256PrivateKey()
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: "es-1")
        let signer = try await MediaTokenSigner(key: key, kid: "es-1")
        let verifier = try await MediaTokenVerifier(publicKeyPEM: key.publicKey.pemRepresentation)
        let first = try signer.serializedToken(claims())
        let second = try signer.serializedToken(claims())
        #expect(first != second)  // ECDSA signatures are randomized; both verify.
        #expect(await verifier.verify(first, resource: "TNT", now: now) == .valid(claims()))
        #expect(await verifier.verify(second, resource: "TNT", now: now) == .valid(claims()))
        // jwt-kit itself accepts the compact form.
        let jws = try signer.compactJWS(claims())
        #expect(try await keys.verify(String(decoding: jws, as: UTF8.self), as: MediaTokenClaims.self) == claims())
        // Another key's verifier refuses it.
        let stranger = try await MediaTokenVerifier(publicKeyPEM: ES256PrivateKey().publicKey.pemRepresentation)
        #expect(await stranger.verify(first, now: now) == .invalidSignature)
        // A changed payload no longer matches its signature.
        var parts = String(decoding: jws, as: UTF8.self).split(separator: ".").map(String.init)
        let forged = try JSONSerialization.data(withJSONObject: ["iss": "tessera", "requestor": "REF30", "resource": "CNN", "mvpd": "Dish",
                                                                 "sub": "u1", "iat": 1_800_000_000, "exp": 1_900_000_000, "jti": "t1"])
        parts[1] = forged.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        #expect(await verifier.verify(parts.joined(separator: "."), now: now) == .invalidSignature)
    }

    @Test func theSignersHeaderAndNumericDates() async throws {
        let signer = try await MediaTokenSigner(key: ES256PrivateKey(), kid: "es-2")
        let jws = try signer.compactJWS(claims())
        let header = try part(0, of: jws)
        #expect(header["alg"] as? String == "ES256")
        #expect(header["typ"] as? String == "JWT")
        #expect(header["kid"] as? String == "es-2")
        let payload = try part(1, of: jws)
        #expect(Set(payload.keys) == ["iss", "requestor", "resource", "mvpd", "sub", "iat", "exp", "jti"])
        // Whole seconds are written as integers (some verifiers refuse fractional NumericDates) ...
        let text = String(decoding: jws, as: UTF8.self)
        #expect((payload["iat"] as? NSNumber)?.int64Value == 1_800_000_000)
        #expect((payload["exp"] as? NSNumber)?.int64Value == 1_800_000_420)
        #expect(!String(decoding: try JSONEncoder().encode(claims()), as: UTF8.self).contains("."))
        // ... and a fractional date keeps its fraction.
        let fractional = MediaTokenClaims(issuer: "tessera", requestor: "REF30", resource: "TNT", mvpd: "Dish", userID: "u1",
                                          issuedAt: now.addingTimeInterval(0.5), expiresAt: now.addingTimeInterval(420.5), id: "t1")
        #expect((try part(1, of: signer.compactJWS(fractional))["iat"] as? NSNumber)?.doubleValue == 1_800_000_000.5)
        #expect(text.split(separator: ".").count == 3)
    }
}
