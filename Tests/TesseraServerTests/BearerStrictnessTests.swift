import Crypto
import _CryptoExtras
import Foundation
import HTTPTypes
import Testing
import TesseraCore
import TesseraStore
@testable import TesseraServer
@testable import TesseraServices

/// A bearer is exactly what Tessera issues: RS256 under a kid of the access-token keys, its
/// claims Tessera's, its `sub` a registered client of its requestor. Each token here is forged
/// with the server's own private keys, as someone who read them off the disk could.
@Suite struct BearerStrictnessTests {
    static func b64(_ data: Data) -> String { data.base64URLEncoded() }
    static func b64(_ object: [String: Any]) -> String {
        b64(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    struct Keys {
        let rsaKID: String
        let rsa: _RSA.Signing.PrivateKey
        let ecKID: String
        let ec: P256.Signing.PrivateKey

        func rs256(header: [String: Any], claims: [String: Any]) throws -> String {
            let input = BearerStrictnessTests.b64(header) + "." + BearerStrictnessTests.b64(claims)
            let signature = try rsa.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
            return input + "." + BearerStrictnessTests.b64(signature.rawRepresentation)
        }

        func es256(header: [String: Any], claims: [String: Any]) throws -> String {
            let input = BearerStrictnessTests.b64(header) + "." + BearerStrictnessTests.b64(claims)
            let signature = try ec.signature(for: Data(input.utf8))
            return input + "." + BearerStrictnessTests.b64(signature.rawRepresentation)
        }
    }

    static func keys(_ wire: Wire) async throws -> Keys {
        let stored = try await wire.store.signingKeys()
        let rsa = try #require(stored.first { $0.algorithm == "RS256" })
        let ec = try #require(stored.first { $0.algorithm == "ES256" })
        // The store holds them sealed: opened here with the harness's key-encryption key.
        let sealing = try #require(Fixture.configuration.keySealing)
        func pem(_ key: StoredSigningKey) throws -> String {
            guard case .sealed(let box) = key.privateKey else {
                Issue.record("signing key \(key.kid) is stored in the clear")
                return ""
            }
            return String(decoding: try sealing.open(box, for: key.owner), as: UTF8.self)
        }
        return Keys(rsaKID: rsa.kid, rsa: try _RSA.Signing.PrivateKey(pemRepresentation: pem(rsa)),
                    ecKID: ec.kid, ec: try P256.Signing.PrivateKey(pemRepresentation: pem(ec)))
    }

    /// The client id inside a bearer Tessera issued.
    static func clientID(of bearer: HTTPFields) throws -> String {
        let token = try #require(bearer[.authorization]?.dropFirst("Bearer ".count))
        let payload = try #require(Data(lenientBase64: token.split(separator: ".")[1]))
        return try #require((try JSONSerialization.jsonObject(with: payload) as? [String: Any])?["sub"] as? String)
    }

    @Test func onlyWhatTesseraIssuesIsABearer() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let keys = try await Self.keys(wire)
            let issued = try await wire.bearer()
            let client = try Self.clientID(of: issued)
            let otherClient = try Self.clientID(of: try await wire.bearer(tenant: "OTHER40"))
            let now = Int(wire.clock.now().timeIntervalSince1970)
            let header: [String: Any] = ["alg": "RS256", "typ": "JWT", "kid": keys.rsaKID]
            let claims: [String: Any] = ["sub": client, "iss": "tessera", "requestor": "REF30", "scopes": "api:client:v2",
                                         "jti": UUID().uuidString, "iat": now, "nbf": now - 5, "exp": now + 3600]
            func call(_ token: String) async throws -> Reply {
                try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("d1"),
                                    headers: [.authorization: "Bearer \(token)", .accept: "application/json"])
            }
            func merged(_ base: [String: Any], _ changes: [String: Any?]) -> [String: Any] {
                var result = base
                for (key, value) in changes { result[key] = value }
                return result
            }

            // The forger's own copy of a good token passes: what follows fails for its one change.
            let good = try keys.rs256(header: header, claims: claims)
            #expect(try await call(good).status == .forbidden) // authenticated; the device is not signed in
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("d1"), headers: issued).status == .forbidden)

            let mediaToken = try keys.es256(header: ["alg": "ES256", "typ": "JWT", "kid": keys.ecKID], claims: claims)
            let statement = try await wire.softwareStatement()
            let forged: [(String, String)] = [
                ("wrong kid", try keys.rs256(header: merged(header, ["kid": "rs-not-a-key"]), claims: claims)),
                ("no kid", try keys.rs256(header: merged(header, ["kid": nil]), claims: claims)),
                ("the media-token key's kid on an RS256 token", try keys.rs256(header: merged(header, ["kid": keys.ecKID]), claims: claims)),
                ("signed with the ES256 media-token key", mediaToken),
                ("an unknown crit header", try keys.rs256(header: merged(header, ["crit": ["x-tessera"], "x-tessera": true]), claims: claims)),
                ("iat an hour ahead", try keys.rs256(header: header, claims: merged(claims, ["iat": now + 3600, "nbf": now - 5]))),
                ("another scope", try keys.rs256(header: header, claims: merged(claims, ["scopes": "admin"]))),
                ("no scope", try keys.rs256(header: header, claims: merged(claims, ["scopes": nil]))),
                ("a sub that is no client", try keys.rs256(header: header, claims: merged(claims, ["sub": "nobody"]))),
                ("another tenant's client", try keys.rs256(header: header, claims: merged(claims, ["sub": otherClient]))),
                ("another issuer", try keys.rs256(header: header, claims: merged(claims, ["iss": "someone"]))),
                ("a typ that is not JWT", try keys.rs256(header: merged(header, ["typ": "at+jwt+other"]), claims: claims)),
                ("alg none", Self.b64(["alg": "none", "kid": keys.rsaKID]) + "." + Self.b64(claims) + "."),
                ("a software statement", statement),
            ]
            for (name, token) in forged {
                let reply = try await call(token)
                #expect(reply.status == .unauthorized, "\(name): \(reply.status)")
                #expect(reply.json["code"] as? String == "invalid_access_token_client_application", "\(name)")
            }

            // A real media token is no bearer either.
            let auth = try await wire.signedIn(deviceID: "media-tv")
            let media = try await wire.send(.get, "/api/v1/mediatoken" + wire.deviceQuery("media-tv", extra: [("resource", "REF30")]), headers: auth)
            let serialized = try #require(media.json["serializedToken"] as? String)
            let jws = String(decoding: try #require(Data(base64Encoded: serialized)), as: UTF8.self)
            #expect(try await call(jws).status == .unauthorized)
        }
    }
}
