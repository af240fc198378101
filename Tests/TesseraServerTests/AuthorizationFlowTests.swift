import _CryptoExtras
import Foundation
import HTTPTypes
import Testing
import TesseraCore
import TesseraMediaToken
@testable import TesseraServer
@testable import TesseraServices

/// Login, authorize, authZ token, media token verified offline, preauthorize, metadata,
/// logout, and then every one of these answering as for a device that never signed in.
@Suite struct AuthorizationFlowTests {
    @Test func fullAuthorizationFlowThenLogout() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "flow-tv")
            try await wire.browserLogin(code: code)
            let q = { (resource: String) in wire.deviceQuery("flow-tv", extra: [("resource", resource)]) }

            let authorize = try await wire.send(.get, "/api/v1/authorize" + q("CNN"), headers: auth)
            #expect(authorize.status == .ok)
            let authz = try await wire.send(.get, "/api/v1/tokens/authz" + q("CNN"), headers: auth)
            #expect(authz.status == .ok)
            #expect(authz.json["resource"] as? String == "CNN")

            // Media token, and its alias; verified offline with the published JWKS.
            let media = try await wire.send(.get, "/api/v1/mediatoken" + q("CNN"), headers: auth)
            #expect(media.status == .ok)
            #expect(Set(media.json.keys) == ["resource", "requestor", "expires", "serializedToken", "userId", "mvpdId"])
            #expect(media.json["userId"] as? String == "cv-user-full")
            #expect(media.json["mvpdId"] as? String == "Cablevision")
            #expect(media.json["expires"] as? String == String(Fixture.start.addingTimeInterval(420).epochMilliseconds))
            let token = try #require(media.json["serializedToken"] as? String)
            // base64 of a compact JWS whose header names ES256, the JWT type and the key's id.
            let jws = try #require(Data(base64Encoded: token).map { String(decoding: $0, as: UTF8.self) })
            let parts = jws.split(separator: ".", omittingEmptySubsequences: false)
            #expect(parts.count == 3)
            var headerText = String(parts[0]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while headerText.count % 4 != 0 { headerText += "=" }
            let header = try #require(Data(base64Encoded: headerText).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] })
            #expect(header["alg"] as? String == "ES256")
            #expect(header["typ"] as? String == "JWT")
            #expect((header["kid"] as? String)?.hasPrefix("es-") == true)
            // Its NumericDates are whole seconds, as integers.
            var payloadText = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while payloadText.count % 4 != 0 { payloadText += "=" }
            let payloadJSON = try #require(Data(base64Encoded: payloadText).map { String(decoding: $0, as: UTF8.self) })
            #expect(payloadJSON.contains("\"exp\":\(Int64(Fixture.start.timeIntervalSince1970) + 420)"))
            #expect(payloadJSON.contains("\"iat\":\(Int64(Fixture.start.timeIntervalSince1970))"))
            let alias = try await wire.send(.get, "/api/v1/tokens/media.xml" + q("CNN"), headers: auth)
            #expect(alias.status == .ok)
            #expect(alias.body.contains("<play><expires>"))
            let jwks = try await wire.send(.get, "/o/client/jwks")
            let verifier = try await MediaTokenVerifier(jwks: jwks.body)
            let now = wire.clock.now()
            guard case .valid(let claims) = await verifier.verify(token, resource: "CNN", now: now) else {
                Issue.record("the media token did not verify"); return
            }
            #expect(claims.requestor == "REF30")
            #expect(claims.mvpd == "Cablevision")
            #expect(claims.sub.value == "cv-user-full")
            #expect(await verifier.verify(token, resource: "TNT", now: now) == .invalidResource)
            #expect(await verifier.verify(token, now: now.addingTimeInterval(421)) == .expired)
            #expect(await verifier.timeToLive(token, now: now) == 420)

            // Preauthorize: a mix of permitted and denied resources, item-level errors.
            let pre = try await wire.send(.get, "/api/v1/preauthorize" + q("REF30,TNT,ASFAFD"), headers: auth)
            #expect(pre.status == .ok)
            #expect(pre.header("Adobe-Response-Confidence") == "full")
            let items = try #require(pre.json["resources"] as? [[String: Any]])
            #expect(items.map { $0["id"] as? String } == ["REF30", "TNT", "ASFAFD"])
            #expect(items.map { $0["authorized"] as? Bool } == [true, true, false])
            let itemError = try #require(items[2]["error"] as? [String: Any])
            #expect(itemError["status"] as? Int == 403)
            #expect(itemError["code"] as? String == "preauthorization_denied_by_mvpd")
            #expect((itemError["details"] as? String)?.contains("ASFAFD") == true)
            #expect(items[0]["error"] == nil)
            var xmlHeaders = auth
            xmlHeaders[.accept] = nil
            let preXML = try await wire.send(.get, "/api/v1/preauthorize" + q("REF30,ASFAFD"), headers: xmlHeaders)
            #expect(preXML.body.contains("<resources><resource><id>REF30</id><authorized>true</authorized></resource><resource><id>ASFAFD</id><authorized>false</authorized><error>"))
            let byCode = try await wire.send(.get, "/api/v1/preauthorize/\(code)" + Wire.query([("requestor", "REF30"), ("resource", "CNN")]), headers: auth)
            #expect((byCode.json["resources"] as? [[String: Any]])?.first?["authorized"] as? Bool == true)

            // User metadata, householdID encrypted with the tenant's key.
            let metadata = try await wire.send(.get, "/api/v1/tokens/usermetadata" + wire.deviceQuery("flow-tv"), headers: auth)
            #expect(metadata.status == .ok)
            #expect(metadata.json["encrypted"] as? [String] == ["householdID"])
            #expect(metadata.json["updated"] as? Int == Int(Fixture.start.timeIntervalSince1970))
            let data = try #require(metadata.json["data"] as? [String: Any])
            #expect(data["zip"] as? [String] == ["11803"])
            #expect(data["userID"] as? String == "cv-user-full")
            #expect((data["maxRating"] as? [String: String])?["VCHIP"] == "TV-MA")
            let householdID = try #require(data["householdID"] as? String)
            let ciphertext = try #require(Data(base64Encoded: householdID))
            let pem = try #require(Credentials.demoMetadataPrivateKey())
            let privateKey = try _RSA.Encryption.PrivateKey(pemRepresentation: pem)
            #expect(String(decoding: try privateKey.decrypt(ciphertext, padding: ._WEAK_AND_INSECURE_PKCS_V1_5), as: UTF8.self) == "cv-household-1")
            // `updated` stays while the values stay.
            wire.clock.advance(by: 60)
            let later = try await wire.send(.get, "/api/v1/tokens/usermetadata" + wire.deviceQuery("flow-tv"), headers: auth)
            #expect(later.json["updated"] as? Int == Int(Fixture.start.timeIntervalSince1970))

            // Logout: every call answers as for a device that never signed in; no new media token.
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("flow-tv"), headers: auth).status == .noContent)
            for device in ["flow-tv", "never-signed-in"] {
                let qd = { (resource: String) in wire.deviceQuery(device, extra: [("resource", resource)]) }
                let checks: [(String, Int, String)] = [
                    ("/api/v1/authorize" + qd("CNN"), 403, "authentication_session_missing"),
                    ("/api/v1/tokens/authz" + qd("CNN"), 412, "authentication_session_missing"),
                    ("/api/v1/mediatoken" + qd("CNN"), 403, "authentication_session_missing"),
                    ("/api/v1/tokens/media" + qd("CNN"), 403, "authentication_session_missing"),
                    ("/api/v1/preauthorize" + qd("CNN,TNT"), 412, "preauthorization_authentication_session_missing"),
                    ("/api/v1/tokens/usermetadata" + wire.deviceQuery(device), 412, "authentication_session_missing"),
                ]
                for (path, status, code) in checks {
                    let reply = try await wire.send(.get, path, headers: auth)
                    #expect(reply.status.code == status, "\(device) \(path)")
                    #expect(reply.json["code"] as? String == code, "\(device) \(path)")
                }
            }
            // Issued before logout, the media token still verifies offline until its short expiry.
            if case .valid = await verifier.verify(token, resource: "CNN", now: wire.clock.now()) {} else { Issue.record("offline verification changed") }
        }
        #expect(try await harness.count("decision") == 0)
    }

    @Test func basicTempPassRunsOutAfterItsDuration() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let start = try await wire.form(.post, "/api/v1/authenticate/freepreview",
                                            [("requestor_id", "REF30"), ("deviceId", "preview-tv"), ("mso_id", "TempPass_5mins"), ("domain_name", "adobe.com")],
                                            headers: auth)
            #expect(start.status == .noContent)
            #expect(start.body.isEmpty)
            let check = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("preview-tv"), headers: auth)
            #expect(check.json["mvpd"] as? String == "TempPass_5mins")
            // A TempPass has no subscriber, hence no metadata.
            let metadata = try await wire.send(.get, "/api/v1/tokens/usermetadata" + wire.deviceQuery("preview-tv"), headers: auth)
            #expect(metadata.status == .notFound)
            #expect(metadata.json["code"] as? String == "user_metadata_not_found")
            // The clock starts at the first authorization, not at freepreview.
            wire.clock.advance(by: 100)
            let first = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("preview-tv", extra: [("resource", "TNT")]), headers: auth)
            #expect(first.status == .ok)
            #expect(first.json["expires"] as? String == String(Fixture.start.addingTimeInterval(400).epochMilliseconds))
            wire.clock.advance(by: 299)
            let media = try await wire.send(.get, "/api/v1/mediatoken" + wire.deviceQuery("preview-tv", extra: [("resource", "CNN")]), headers: auth)
            #expect(media.status == .ok)
            wire.clock.advance(by: 2)
            let auth2 = wire.deviceHeaders(try await wire.bearer())
            let denied = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("preview-tv", extra: [("resource", "ESPN")]), headers: auth2)
            #expect(denied.status == .forbidden)
            #expect(denied.json["code"] as? String == "temporary_access_duration_limit_exceeded")
            // Logging out and starting again does not reset the trial.
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("preview-tv"), headers: auth2).status == .noContent)
            let again = try await wire.form(.post, "/api/v1/authenticate/freepreview",
                                            [("requestor_id", "REF30"), ("deviceId", "preview-tv"), ("mso_id", "TempPass_5mins")], headers: auth2)
            #expect(again.status == .forbidden)
            #expect(again.json["code"] as? String == "temporary_access_duration_limit_exceeded")
        }
    }

    @Test func promotionalTempPassCountsResourcesPerIdentity() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            func start(_ device: String, _ genericData: String?) async throws -> Reply {
                var fields = [("requestor_id", "REF30"), ("deviceId", device), ("mso_id", "TempPass_promo")]
                if let genericData { fields.append(("generic_data", genericData)) }
                return try await wire.form(.post, "/api/v1/authenticate/freepreview", fields, headers: auth)
            }
            let missing = try await start("promo-1", nil)
            #expect(missing.status == .badRequest)
            #expect(missing.json["code"] as? String == "invalid_header_identity_for_temporary_access")
            #expect(try await start("promo-1", "(\"email\":").json["code"] as? String == "invalid_header_identity_for_temporary_access")
            #expect(try await start("promo-1", #"("email":"Viewer@Example.com")"#).status == .noContent)
            for resource in ["REF30", "TNT", "CNN", "REF30"] {
                let r = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("promo-1", extra: [("resource", resource)]), headers: auth)
                #expect(r.status == .ok, "\(resource)")
            }
            let fourth = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("promo-1", extra: [("resource", "ESPN")]), headers: auth)
            #expect(fourth.json["code"] as? String == "temporary_access_resources_limit_exceeded")
            // The same person on another device (JSON form, other case) gets the same trial.
            #expect(try await start("promo-2", #"{"email":"viewer@example.com"}"#).status == .noContent)
            let other = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("promo-2", extra: [("resource", "HBO")]), headers: auth)
            #expect(other.json["code"] as? String == "temporary_access_resources_limit_exceeded")
            // Preauthorization on the second device sees the same trial: used resources yes, new ones no.
            let pre = try await wire.send(.get, "/api/v1/preauthorize" + wire.deviceQuery("promo-2", extra: [("resource", "TNT,HBO")]), headers: auth)
            let items = pre.json["resources"] as? [[String: Any]] ?? []
            #expect(items.map { $0["authorized"] as? Bool } == [true, false])
            #expect((items.last?["error"] as? [String: Any])?["code"] as? String == "temporary_access_resources_limit_exceeded")
            // As the probe wrote the same person: a leading space, the key in capitals, an extra
            // field. Each is the same trial, not a fresh one.
            for (device, written) in [("promo-3", #"{"email":" viewer@example.com"}"#), ("promo-4", #"{"EMAIL":"viewer@example.com"}"#),
                                      ("promo-5", #"{"email":"VIEWER@example.com","campaign":"winter"}"#),
                                      ("promo-6", #"(" Email ":"viewer@example.com ")"#)] {
                #expect(try await start(device, written).status == .noContent, "\(written)")
                let r = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery(device, extra: [("resource", "HBO")]), headers: auth)
                #expect(r.json["code"] as? String == "temporary_access_resources_limit_exceeded", "\(written)")
            }
            // Only other fields, or two spellings of the key that disagree: no identity.
            #expect(try await start("promo-7", #"{"campaign":"winter"}"#).json["code"] as? String == "invalid_header_identity_for_temporary_access")
            #expect(try await start("promo-7", #"{"email":"a@example.com","EMAIL":"b@example.com"}"#).json["code"] as? String
                == "invalid_header_identity_for_temporary_access")
            // A regular provider is not a TempPass.
            let wrong = try await wire.form(.post, "/api/v1/authenticate/freepreview", [("requestor_id", "REF30"), ("deviceId", "x"), ("mso_id", "Dish")], headers: auth)
            #expect(wrong.json["code"] as? String == "unknown_integration")
        }
        #expect(try await harness.count("temporary_access") == 1)
    }
}
