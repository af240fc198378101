import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Every missing, malformed, oversized, expired, reused or foreign value gets v1's error shape
/// with a precise code, and nothing is stored.
@Suite struct BadInputTests {
    func expectError(_ reply: Reply, _ status: Int, _ code: String, _ note: String = "") {
        #expect(reply.status.code == status, "\(note): \(reply.body)")
        #expect(reply.json["code"] as? String == code, "\(note): \(reply.body)")
        #expect(reply.json["status"] as? Int == status, "\(note)")
    }

    @Test func registrationCodeParameters() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            func create(_ fields: [(String, String)], requestor: String = "REF30", headers: HTTPFields? = nil) async throws -> Reply {
                try await wire.form(.post, "/reggie/v1/\(requestor)/regcode", fields, headers: headers ?? auth)
            }
            let missing = try await create([])
            expectError(missing, 400, "invalid_device_id")
            #expect(missing.json["message"] as? String == "Required 'deviceId' is not present")
            expectError(try await create([("deviceId", String(repeating: "d", count: 513))]), 400, "invalid_device_id", "oversized")
            expectError(try await create([("deviceId", "a\u{7}b")]), 400, "invalid_device_id", "control character")
            expectError(try await create([("deviceId", "d"), ("ttl", "abc")]), 400, "invalid_parameter_ttl")
            expectError(try await create([("deviceId", "d"), ("ttl", "36001")]), 400, "invalid_parameter_ttl", "over 10 h")
            expectError(try await create([("deviceId", "d"), ("ttl", "0")]), 400, "invalid_parameter_ttl", "zero")
            expectError(try await create([("deviceId", "d"), ("ttl", "-5")]), 400, "invalid_parameter_ttl", "negative")
            expectError(try await create([("deviceId", "d"), ("mvpd", "NoSuchMVPD")]), 400, "unknown_integration")
            expectError(try await create([("deviceId", "d"), ("deviceUser", String(repeating: "u", count: 300))]), 400, "malformed_authz_request")
            expectError(try await create([("deviceId", "d")], requestor: "NOPE"), 400, "invalid_requestor")
            var badInfo = auth
            badInfo[HTTPField.Name("X-Device-Info")!] = "%%%not-base64"
            expectError(try await create([("deviceId", "d")], headers: badInfo), 400, "invalid_device_info")
            badInfo[HTTPField.Name("X-Device-Info")!] = Data(#"{"model":"x"}"#.utf8).base64EncodedString()
            let lacking = try await create([("deviceId", "d")], headers: badInfo)
            expectError(lacking, 400, "invalid_device_info")
            #expect(lacking.json["details"] as? String == "device information lacks osName")
            expectError(try await create([("deviceId", "d"), ("device_info", String(repeating: "A", count: 9000))], headers: [.authorization: auth[.authorization]!, .accept: "application/json"]),
                        400, "invalid_device_info", "oversized device_info")

            // Callers
            var none = auth
            none[.authorization] = nil
            expectError(try await create([("deviceId", "d")], headers: none), 401, "invalid_access_token_client_application")
            var garbage = auth
            garbage[.authorization] = "Bearer not.a.token"
            expectError(try await create([("deviceId", "d")], headers: garbage), 401, "invalid_access_token_client_application")
            let other = wire.deviceHeaders(try await wire.bearer(tenant: "OTHER40"))
            let foreign = try await create([("deviceId", "d")], headers: other)
            expectError(foreign, 401, "invalid_access_token_service_provider")
            #expect(foreign.json["action"] as? String == "application-registration")
            // Oversized body
            var formHeaders = auth
            formHeaders[.contentType] = "application/x-www-form-urlencoded"
            let huge = try await wire.send(.post, "/reggie/v1/REF30/regcode", headers: formHeaders,
                                           body: "deviceId=" + String(repeating: "x", count: 70_000))
            // 413 in v1's shape, with a code that does not invite a retry.
            expectError(huge, 413, "payload_too_large", "oversized body")
            #expect(huge.json["action"] as? String == "none")
            #expect(try await harness.count("pending_login") == 0)
            // An access token past its 6 hours
            wire.clock.advance(by: 6 * 3600 + 1)
            let expired = try await create([("deviceId", "d")])
            expectError(expired, 401, "invalid_access_token_client_application")
            #expect(expired.json["details"] as? String == "the access token has expired")
        }
        #expect(try await harness.count("pending_login") == 0)
    }

    @Test func codesThatAreUnknownDeletedExpiredOrForeign() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let json: HTTPFields = [.accept: "application/json"]
            let unknown = try await wire.send(.get, "/reggie/v1/REF30/regcode/ABCDEFG", headers: auth)
            expectError(unknown, 404, "invalid_parameter_code")
            expectError(try await wire.send(.get, "/reggie/v1/REF30/regcode/\(String(repeating: "Z", count: 300))", headers: auth), 404, "invalid_parameter_code")

            let code = try await wire.registrationCode(auth, deviceID: "tv")
            // Another tenant cannot see or delete it.
            let other = wire.deviceHeaders(try await wire.bearer(tenant: "OTHER40"))
            expectError(try await wire.send(.get, "/reggie/v1/OTHER40/regcode/\(code)", headers: other), 404, "invalid_parameter_code", "foreign")
            expectError(try await wire.send(.delete, "/reggie/v1/OTHER40/regcode/\(code)", headers: other), 404, "invalid_parameter_code", "foreign delete")
            expectError(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish", redirect: "https://other.test/", domain: "other.test", requestor: "OTHER40"), headers: json),
                        400, "invalid_parameter_code", "foreign authenticate")
            // Deleted
            let deleted = try await wire.send(.delete, "/reggie/v1/REF30/regcode/\(code)", headers: auth)
            #expect(deleted.status == .noContent)
            #expect(deleted.body.isEmpty)
            expectError(try await wire.send(.get, "/reggie/v1/REF30/regcode/\(code)", headers: auth), 404, "invalid_parameter_code", "deleted")
            expectError(try await wire.send(.delete, "/reggie/v1/REF30/regcode/\(code)", headers: auth), 404, "invalid_parameter_code", "deleted twice")
            expectError(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: json), 400, "invalid_parameter_code", "deleted authenticate")
            // Expired (ttl 60 s)
            let short = try await wire.registrationCode(auth, deviceID: "tv", extra: [("ttl", "60")])
            wire.clock.advance(by: 61)
            let expired = try await wire.send(.get, "/reggie/v1/REF30/regcode/\(short)", headers: auth)
            expectError(expired, 404, "invalid_parameter_code", "expired")
            #expect(expired.json["message"] as? String == "The registration code has expired.")
            expectError(try await wire.send(.get, wire.authenticateURI(code: short, provider: "Dish"), headers: json), 400, "invalid_parameter_code", "expired authenticate")
            // Reused
            let used = try await wire.registrationCode(auth, deviceID: "tv")
            try await wire.browserLogin(code: used, provider: "Dish", username: "dish-full", password: "dish-full-demo")
            let again = try await wire.send(.get, wire.authenticateURI(code: used, provider: "Dish"), headers: json)
            expectError(again, 400, "invalid_parameter_code", "reused")
            #expect(again.json["message"] as? String == "The registration code has already been used.")
        }
        #expect(try await harness.count("login_attempt") == 0)
        #expect(try await harness.count("session") == 1)
    }

    @Test func authenticateParametersAndRedirectTricks() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            let full: [(String, String)] = [("reg_code", code), ("requestor_id", "REF30"), ("mso_id", "Cablevision"), ("domain_name", "adobe.com"),
                                            ("redirect_url", "https://adobe.com/ok")]
            for (name, expected) in [("reg_code", "invalid_parameter_code"), ("requestor_id", "invalid_requestor"), ("mso_id", "invalid_parameter_mvpd"),
                                     ("domain_name", "invalid_parameter_domain_name"), ("redirect_url", "invalid_parameter_redirect_url")] {
                let reply = try await wire.send(.get, "/api/v1/authenticate" + Wire.query(full.filter { $0.0 != name }), headers: [.accept: "application/json"])
                expectError(reply, 400, expected, "missing \(name)")
                let long = full.map { $0.0 == name ? ($0.0, String(repeating: "a", count: 3000)) : $0 }
                let tooLong = try await wire.send(.get, "/api/v1/authenticate" + Wire.query(long), headers: [.accept: "application/json"])
                #expect(tooLong.status == .badRequest, "oversized \(name)")
            }
            let tricks = ["https://adobe.com.evil.test", "https://evil.test/@adobe.com", "//evil.test", "https://user:pw@adobe.com/",
                          "https://evil.test\\@adobe.com", "HTTPS://EVIL.TEST/", "https://evil.test./", "javascript:alert(1)//adobe.com",
                          "ftp://adobe.com/", "adobepass://adobe.com", "https://adobe.com%2eevil.test/", "/relative"]
            for trick in tricks {
                let reply = try await wire.send(.get, wire.authenticateURI(code: code, provider: "Cablevision", redirect: trick), headers: [.accept: "application/json"])
                expectError(reply, 400, "invalid_parameter_redirect_url", trick)
                #expect(reply.header("Location") == nil)
            }
            for domain in ["adobe.com.evil.test", "evil.test", "evil.test/@adobe.com", "ADOBE.COM..", "other.test"] {
                let reply = try await wire.send(.get, wire.authenticateURI(code: code, provider: "Cablevision", domain: domain), headers: [.accept: "application/json"])
                expectError(reply, 400, "invalid_parameter_domain_name", domain)
            }
            // Mixed case and a trailing dot of a registered domain are the same domain.
            let ok = try await wire.send(.get, wire.authenticateURI(code: code, provider: "Cablevision", redirect: "https://WWW.Example.COM./back", domain: "Example.com."))
            #expect(ok.status == .found)
            expectError(try await wire.send(.get, wire.authenticateURI(code: code, provider: "NoSuch"), headers: [.accept: "application/json"]), 400, "unknown_integration")
            // OTHER40 integrates Dish only.
            let otherAuth = wire.deviceHeaders(try await wire.bearer(tenant: "OTHER40"))
            let otherCode = try await wire.registrationCode(otherAuth, deviceID: "tv", tenant: "OTHER40")
            expectError(try await wire.send(.get, wire.authenticateURI(code: otherCode, provider: "Cablevision", redirect: "https://other.test/", domain: "other.test",
                                                                      requestor: "OTHER40"), headers: [.accept: "application/json"]), 400, "unknown_integration")
            // A code bound to a provider at creation cannot be used at another.
            let bound = try await wire.registrationCode(auth, deviceID: "tv2", extra: [("mvpd", "Dish")])
            expectError(try await wire.send(.get, wire.authenticateURI(code: bound, provider: "Spectrum"), headers: [.accept: "application/json"]), 400, "unknown_integration")
        }
        #expect(try await harness.count("login_attempt") == 1) // only the one good start
        #expect(try await harness.count("session") == 0)
    }

    @Test func wrongPasswordsAndRateLimits() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            let wrong = try await wire.browserLogin(code: code, provider: "Comcast_SSO", username: "comcast-full", password: "wrong")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.body.contains("Wrong username or password."))
            let unknownUser = try await wire.browserLogin(code: code, provider: "Comcast_SSO", username: "nobody", password: "comcast-full-demo")
            #expect(unknownUser.status == .unauthorized)
            // A subscriber of another provider is not a subscriber here.
            let elsewhere = try await wire.browserLogin(code: code, provider: "Comcast_SSO", username: "cv-full", password: "cv-full-demo")
            #expect(elsewhere.status == .unauthorized)
            #expect(try await harness.count("session") == 0)
            // Five wrong passwords void the attempt.
            let browser = Browser(wire)
            let start = try await browser.get(wire.authenticateURI(code: code, provider: "Comcast_SSO"))
            let loginPage = try await browser.get(try #require(start.header("Location")))
            for _ in 0..<4 {
                #expect(try await browser.submit(loginPage, [("username", "comcast-full"), ("password", "x")]).status == .unauthorized)
            }
            let last = try await browser.submit(loginPage, [("username", "comcast-full"), ("password", "x")])
            #expect(last.body.contains("Too many wrong passwords"))
            let after = try await browser.submit(loginPage, [("username", "comcast-full"), ("password", "comcast-full-demo")])
            #expect(after.status == .badRequest)
            #expect(try await harness.count("session") == 0)
            // The client has now made 8 wrong entries; two more and it is locked out for a while.
            _ = try await wire.send(.get, wire.authenticateURI(code: "AAAAAAA", provider: "Dish"))
            _ = try await wire.send(.get, wire.authenticateURI(code: "AAAAAAB", provider: "Dish"))
            let limited = try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: [.accept: "application/json"])
            expectError(limited, 429, "too_many_requests")
            let page = try await browser.submit(try await browser.get("/activate?requestor=REF30"), [("code", code), ("provider", "Dish")])
            #expect(page.status == .tooManyRequests)
            wire.clock.advance(by: 601)
            #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish")).status == .found)
        }
    }

    @Test func dynamicClientRegistrationErrors() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            func register(_ body: String, contentType: String = "application/json") async throws -> Reply {
                try await wire.send(.post, "/o/client/register", headers: [.contentType: contentType], body: body)
            }
            func expectOAuth(_ reply: Reply, _ error: String) {
                #expect(reply.status == .badRequest, "\(error): \(reply.body)")
                #expect(reply.json["error"] as? String == error)
            }
            let statement = try await wire.softwareStatement()
            expectOAuth(try await register(#"{"software_statement":"\#(statement)"}"#, contentType: "text/plain"), "invalid_request")
            expectOAuth(try await register("{"), "invalid_request")
            expectOAuth(try await register("{}"), "invalid_request")
            expectOAuth(try await register(#"{"software_statement":"abc.def.ghi"}"#), "invalid_software_statement")
            let tampered = statement.dropLast(4) + "AAAA"
            expectOAuth(try await register(#"{"software_statement":"\#(tampered)"}"#), "invalid_software_statement")
            let tenant = try #require(wire.services.directory.tenant("REF30"))
            let rogue = try await wire.services.tokens.softwareStatement(for: SoftwareStatementGrant(softwareID: "rogue", clientName: "x"), tenant: tenant, now: wire.clock.now())
            expectOAuth(try await register(#"{"software_statement":"\#(rogue)"}"#), "unapproved_software_statement")
            expectOAuth(try await register(#"{"software_statement":"\#(statement)","redirect_uri":"adobepass://evil"}"#), "invalid_redirect_uri")
            var badInfo: HTTPFields = [.contentType: "application/json"]
            badInfo[HTTPField.Name("X-Device-Info")!] = "!!"
            expectOAuth(try await wire.send(.post, "/o/client/register", headers: badInfo, body: #"{"software_statement":"\#(statement)"}"#), "invalid_request")
            #expect(try await harness.count("registered_client") == 0)

            let good = try await register(#"{"software_statement":"\#(statement)","redirect_uri":"adobepass://com.example.ref30"}"#)
            #expect(good.status == .created)
            #expect(good.json["redirect_uris"] as? [String] == ["adobepass://com.example.ref30"])
            #expect(good.json["grant_types"] as? [String] == ["client_credentials"])
            let id = try #require(good.json["client_id"] as? String), secret = try #require(good.json["client_secret"] as? String)
            expectOAuth(try await wire.form(.post, "/o/client/token", [("client_id", id), ("client_secret", secret)]), "invalid_request")
            expectOAuth(try await wire.form(.post, "/o/client/token", [("client_id", id), ("client_secret", secret), ("grant_type", "password")]), "unsupported_grant_type")
            expectOAuth(try await wire.form(.post, "/o/client/token", [("client_id", id), ("client_secret", secret + "x"), ("grant_type", "client_credentials")]), "invalid_client")
            expectOAuth(try await wire.form(.post, "/o/client/token", [("client_id", "nobody"), ("client_secret", secret), ("grant_type", "client_credentials")]), "invalid_client")
            // Query parameters (the OpenAPI form) work too.
            let viaQuery = try await wire.send(.post, "/o/client/token" + Wire.query([("client_id", id), ("client_secret", secret), ("grant_type", "client_credentials")]))
            #expect(viaQuery.status == .created)
            #expect(viaQuery.json["expires_in"] as? Int == 21600)
            #expect(viaQuery.json["token_type"] as? String == "bearer")
        }
        #expect(try await harness.count("registered_client") == 1)
        // Only the digest of the secret is stored.
        #expect(try await harness.count("registered_client", where: "length(secret_digest) = 32") == 1)
    }

    @Test func formatNegotiation() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.bearer()
            let xml = try await wire.send(.get, "/api/v1/config/REF30", headers: auth)
            #expect(xml.header("Content-Type") == "application/xml;charset=UTF-8")
            #expect(xml.body.contains("<config><requestor><id>REF30</id><name>Reference site</name><mvpds><mvpd><id>Cablevision</id>"))
            var json = auth
            json[.accept] = "application/json"
            #expect(try await wire.send(.get, "/api/v1/config/REF30", headers: json).header("Content-Type") == "application/json;charset=UTF-8")
            #expect(try await wire.send(.get, "/api/v1/config/REF30.xml", headers: json).header("Content-Type") == "application/xml;charset=UTF-8")
            #expect(try await wire.send(.get, "/api/v1/config/REF30?format=json", headers: auth).header("Content-Type") == "application/json;charset=UTF-8")
            let created = try await wire.form(.post, "/reggie/v1/REF30/regcode.xml", [("deviceId", "x")], headers: auth)
            #expect(created.status == .created)
            #expect(created.body.contains(#"<ns2:regcode xmlns:ns2="model.mvc.reggie.pass.adobe.com"><id>"#))
            let unknown = try await wire.send(.get, "/api/v1/config/NOPE.json", headers: auth)
            expectError(unknown, 400, "invalid_requestor")
        }
    }
}
