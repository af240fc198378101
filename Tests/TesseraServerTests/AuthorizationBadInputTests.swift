import Foundation
import HTTPTypes
import Testing
import TesseraCore
import TesseraMediaToken
@testable import TesseraServer
@testable import TesseraServices

@Suite struct AuthorizationBadInputTests {
    @Test func resourceParameters() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "bad-tv")
            func call(_ path: String, _ extra: [(String, String)]) async throws -> Reply {
                try await wire.send(.get, path + wire.deviceQuery("bad-tv", extra: extra), headers: auth)
            }
            let cases: [([(String, String)], Int, String)] = [
                ([], 400, "missing_resource"),
                ([("resource", "")], 400, "missing_resource"),
                ([("resource", String(repeating: "r", count: 9000))], 400, "missing_resource"),
                ([("resource", "<rss><channel><title>REF30</title>")], 400, "malformed_authz_request"),
                ([("resource", "<rss><channel><item><title>x</title></item></channel></rss>")], 400, "malformed_authz_request"),
                ([("resource", #"<rss xmlns:media="m"><channel><title>REF30</title><item><media:rating scheme="urn:v-chip">TV-99</media:rating></item></channel></rss>"#)], 400, "malformed_authz_request"),
                ([("resource", #"<rss xmlns:media="m"><channel><title>REF30</title><item><media:rating scheme="urn:other">X</media:rating></item></channel></rss>"#)], 400, "malformed_authz_request"),
                ([("resource", "REF30"), ("generic_data", "(garbage")], 400, "invalid_header_identity_for_temporary_access"),
            ]
            for path in ["/api/v1/authorize", "/api/v1/mediatoken"] {
                for (extra, status, code) in cases where !(path == "/api/v1/mediatoken" && extra.contains { $0.0 == "generic_data" }) {
                    let reply = try await call(path, extra)
                    #expect(reply.status.code == status, "\(path) \(extra.map(\.0))")
                    #expect(reply.json["code"] as? String == code, "\(path) \(extra.map(\.0)): \(reply.body)")
                }
            }
            let tooMany = try await call("/api/v1/preauthorize", [("resource", "a,b,c,d,e,f")])
            #expect(tooMany.status == .forbidden)
            #expect(tooMany.json["code"] as? String == "too_many_resources")
            #expect(try await call("/api/v1/preauthorize", [("resource", " , ,")]).json["code"] as? String == "missing_resource")
            #expect(try await call("/api/v1/preauthorize", [("resource", "a,b,c,d,e")]).status == .ok)
            #expect(try await call("/api/v1/tokens/authz", [("resource", "NEVER")]).status == .notFound)
            let unknownCode = try await wire.send(.get, "/api/v1/preauthorize/ZZZZZZZ?requestor=REF30&resource=CNN", headers: auth)
            #expect(unknownCode.status == .notFound)
        }
        #expect(try await harness.count("decision") == 0)
    }

    @Test func anExpiredDecisionIs410() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "tv")
            _ = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("tv", extra: [("resource", "CNN")]), headers: auth)
            wire.clock.advance(by: 86_401)
            let fresh = wire.deviceHeaders(try await wire.bearer())
            let gone = try await wire.send(.get, "/api/v1/tokens/authz" + wire.deviceQuery("tv", extra: [("resource", "CNN")]), headers: fresh)
            #expect(gone.status == .gone)
            #expect(gone.json["code"] as? String == "authorization_expired")
        }
    }

    @Test func tamperedAndForeignMediaTokens() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "tv")
            let media = try await wire.send(.get, "/api/v1/mediatoken" + wire.deviceQuery("tv", extra: [("resource", "TNT")]), headers: auth)
            let token = try #require(media.json["serializedToken"] as? String)
            let verifier = try await MediaTokenVerifier(jwks: try await wire.send(.get, "/.well-known/jwks.json").body)
            let now = wire.clock.now()
            let jws = String(decoding: try #require(Data(base64Encoded: token)), as: UTF8.self)
            let parts = jws.split(separator: ".").map(String.init)
            // Change the resource in the payload, keep the signature.
            let payloadData = try #require(Data(lenientBase64: parts[1]))
            var payload = try #require(try JSONSerialization.jsonObject(with: payloadData) as? [String: Any])
            payload["resource"] = "HBO"
            let forged = [parts[0], try JSONSerialization.data(withJSONObject: payload).base64URLEncoded(), parts[2]].joined(separator: ".")
            #expect(await verifier.verify(Data(forged.utf8).base64EncodedString(), now: now) == .invalidSignature)
            #expect(await verifier.verify(parts[0] + "." + parts[1] + "." + String(parts[2].reversed()), now: now) == .invalidSignature)
            #expect(await verifier.verify("not a token", now: now) == .invalidFormat)
            #expect(await verifier.verify(Data("a.b.c".utf8).base64EncodedString(), now: now) == .invalidFormat)
            #expect(await verifier.verify(String(repeating: "A", count: 20_000), now: now) == .invalidFormat)
            #expect(await verifier.verify(token, resource: "TNT", now: now.addingTimeInterval(3600)) == .expired)
            // Another Tessera's key does not verify it.
            let stranger = try await MediaTokenVerifier(publicKeyPEM: ES256PrivateKeyPEM.otherPublicKey())
            #expect(await stranger.verify(token, now: now) == .invalidSignature)
        }
    }
}
