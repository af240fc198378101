import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// REST v2 end to end on a loopback server: profiles per provider, application and device; SSO
/// between the programmer's apps and its single logout; degradation switched by the operator.
@Suite struct RestV2EndToEndTests {
    static let query = "?redirectUrl=https%3A%2F%2Fadobe.com"

    static func decision(_ reply: Reply) -> [String: Any]? { (reply.json["decisions"] as? [[String: Any]])?.first }

    @Test func oneDeviceAtTwoProvidersLogsOutOfOneAloneAndAReRegisteredClientKeepsItsProfiles() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            try await tv.signIn("Cablevision", username: "cv-full")
            try await tv.signIn("Dish", username: "dish-full")
            #expect(try await tv.profileTypes() == ["Cablevision": "regular", "Dish": "regular"])
            let cablevision = try await tv.get("/api/v2/REF30/profiles/Cablevision")
            let profile = try #require((cablevision.json["profiles"] as? [String: [String: Any]])?["Cablevision"])
            #expect(profile["issuer"] as? String == "Cablevision")
            #expect(profile["notBefore"] is NSNumber && profile["notAfter"] is NSNumber)

            // The same app registered again (a reinstall): the profiles are the application's.
            let reinstalled = try await wire.v2(answers: answers)
            #expect(try await reinstalled.profileTypes() == ["Cablevision": "regular", "Dish": "regular"])
            // Another app of the programmer on the same device sees none of them (no SSO).
            #expect(try await wire.v2(application: 1, answers: answers).profileTypes() == [:])

            let allowed = try await tv.post("/api/v2/REF30/decisions/authorize/Dish", json: #"{"resources":["REF30"]}"#)
            #expect(Self.decision(allowed)?["authorized"] as? Bool == true)
            #expect(Self.decision(allowed)?["source"] as? String == "mvpd")
            let token = Self.decision(allowed)?["token"] as? [String: Any]
            #expect((token?["serializedToken"] as? String)?.isEmpty == false)

            let out = try await reinstalled.get("/api/v2/REF30/logout/Dish" + Self.query)
            #expect((out.json["logouts"] as? [String: Any])?.keys.sorted() == ["Dish"])
            #expect(try await tv.profileTypes() == ["Cablevision": "regular"])
            let denied = try await tv.post("/api/v2/REF30/decisions/authorize/Dish", json: #"{"resources":["REF30"]}"#)
            #expect(denied.status == .forbidden)
            #expect(denied.json["code"] as? String == "authenticated_profile_missing")
            #expect(try await tv.post("/api/v2/REF30/decisions/authorize/Cablevision", json: #"{"resources":["REF30"]}"#).status == .ok)

            // Logout of every provider: one entry each, and nothing is left.
            let all = try await tv.get("/api/v2/REF30/logout" + Self.query)
            #expect((all.json["logouts"] as? [String: Any])?.keys.sorted() == ["Cablevision"])
            #expect(try await tv.profileTypes() == [:])
            #expect(try await wire.liveSessions([.providerProfile]) == 0)
            try await answers.validate()
        }
    }

    @Test func twoAppsShareAPlatformIdentityAndOneSingleLogoutEndsBothButNotAnotherDevice() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let identity = try await SSOTokens.platformToken("household-42", now: wire.clock.now())
            let tvApp = try await wire.v2(answers: answers).with("Adobe-Subject-Token", identity)
            let tvCompanion = try await wire.v2(application: 1, answers: answers).with("Adobe-Subject-Token", identity)
            let bedroom = try await wire.v2(answers: answers).device("bedroom-stick")
            try await tvApp.signIn("Comcast_SSO", username: "comcast-full")
            try await bedroom.signIn("Comcast_SSO", username: "comcast-full")

            #expect(try await tvCompanion.profileTypes() == ["Comcast_SSO": "platformSSO"])
            let session = try await tvCompanion.post("/api/v2/REF30/sessions", form: [("mvpd", "Comcast_SSO"), ("domainName", "adobe.com"),
                                                                                     ("redirectUrl", "https://adobe.com")])
            #expect(session.json["actionName"] as? String == "authorize")
            #expect(session.json["reasonType"] as? String == "authenticatedSSO")
            let shared = try await tvCompanion.post("/api/v2/REF30/decisions/authorize/Comcast_SSO", json: #"{"resources":["REF30"]}"#)
            #expect(Self.decision(shared)?["authorized"] as? Bool == true, "\(shared.body)")
            // Without the header the companion app has nothing of its own.
            #expect(try await wire.v2(application: 1, answers: answers).profileTypes() == [:])

            let out = try await tvCompanion.get("/api/v2/REF30/logout/Comcast_SSO" + Self.query)
            #expect(((out.json["logouts"] as? [String: [String: Any]])?["Comcast_SSO"])?["actionName"] as? String == "logout")
            #expect(try await tvCompanion.profileTypes() == [:])
            #expect(try await tvApp.profileTypes() == [:])
            // The same subscriber on another device, signed in there without SSO: untouched.
            #expect(try await bedroom.profileTypes() == ["Comcast_SSO": "regular"])
            #expect(try await wire.liveSessions([.providerProfile]) == 1)
            #expect(try await wire.liveSessions([.ssoProfile]) == 0)
            try await answers.validate()
        }
    }

    @Test func aSecondScreenResumesASessionThatNamedNoProvider() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            let started = try await tv.post("/api/v2/REF30/sessions", form: [("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com/done")])
            #expect(started.json["actionName"] as? String == "resume")
            #expect(started.json["missingParameters"] as? [String] == ["mvpd"])
            let code = try #require(started.json["code"] as? String)
            #expect(started.json["notBefore"] is String && started.json["notAfter"] is String)

            let secondScreen = try await wire.v2(application: 1, answers: answers).device("phone")
            let status = try await secondScreen.get("/api/v2/REF30/sessions/\(code)")
            #expect(status.status == .ok)
            #expect((status.json["existingParameters"] as? [String: Any])?["domainName"] as? String == "adobe.com")
            let resumed = try await secondScreen.post("/api/v2/REF30/sessions/\(code)", form: [("mvpd", "Dish")])
            #expect(resumed.json["actionName"] as? String == "authenticate")
            #expect(resumed.json["url"] as? String == "/api/v2/authenticate/REF30/\(code)")

            let browser = Browser(wire)
            let start = try await browser.get("/api/v2/authenticate/REF30/\(code)")
            let page = try await browser.get(try #require(start.header("Location")))
            let signedIn = try await browser.submit(page, [("username", "dish-full"), ("password", "dish-full-demo")])
            let done = try await browser.submit(signedIn, [("decision", "confirm")])
            #expect(done.header("Location") == "https://adobe.com/done")

            // The profile is the TV's (the device and app that started the session), found by code too.
            #expect(try await tv.profileTypes() == ["Dish": "regular"])
            #expect(try await secondScreen.profileTypes() == [:])
            let byCode = try await tv.get("/api/v2/REF30/profiles/code/\(code)")
            #expect((byCode.json["profiles"] as? [String: Any])?.keys.sorted() == ["Dish"])
            // A used code cannot be resumed again.
            let again = try await secondScreen.post("/api/v2/REF30/sessions/\(code)", form: [("mvpd", "Cablevision")])
            #expect(again.status == .badRequest)
            try await answers.validate()
        }
    }

    @Test func theOperatorDegradesAProviderAndClearsIt() async throws {
        try await Harness(configuration: AdminAPITests.configuration).run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            try await tv.signIn("Dish", username: "dish-full")
            let path = "/admin/v1/tenants/REF30/degradation/Dish"
            let listed = try await wire.send(.get, "/admin/v1/tenants/REF30/degradation", headers: AdminAPITests.admin)
            #expect((listed.json["rules"] as? [[String: Any]])?.map { $0["provider"] as? String } == ["ATTOTT"])

            // AuthZNone: every decision at Dish is denied with the rule's code, as an item under 200.
            var body: HTTPFields = AdminAPITests.admin
            body[.contentType] = "application/json"
            let set = try await wire.send(.put, path, headers: body, body: #"{"rule":"AuthZNone","details":"Dish is down"}"#)
            #expect(set.status == .ok, "\(set.body)")
            let denied = try await tv.post("/api/v2/REF30/decisions/authorize/Dish", json: #"{"resources":["REF30"]}"#)
            #expect(denied.status == .ok)
            let item = Self.decision(denied)
            #expect(item?["authorized"] as? Bool == false)
            #expect(item?["source"] as? String == "degradation")
            #expect((item?["error"] as? [String: Any])?["code"] as? String == "authorization_denied_by_degradation_rule")

            // AuthZAll replaces it: permitted by the rule.
            #expect(try await wire.send(.put, path, headers: body, body: #"{"rule":"AuthZAll"}"#).status == .ok)
            let permitted = try await tv.post("/api/v2/REF30/decisions/authorize/Dish", json: #"{"resources":["TNT"]}"#)
            #expect(Self.decision(permitted)?["authorized"] as? Bool == true)
            #expect(Self.decision(permitted)?["source"] as? String == "degradation")
            let rules = try await wire.send(.get, "/admin/v1/tenants/REF30/degradation", headers: AdminAPITests.admin)
            #expect((rules.json["rules"] as? [[String: Any]])?.compactMap { $0["rule"] as? String }.sorted() == ["AuthNAll", "AuthZAll"])

            // Cleared: the provider decides again.
            let cleared = try await wire.send(.delete, path, headers: AdminAPITests.admin)
            #expect(cleared.json["cleared"] as? Int == 1)
            let normal = try await tv.post("/api/v2/REF30/decisions/authorize/Dish", json: #"{"resources":["REF30"]}"#)
            #expect(Self.decision(normal)?["source"] as? String == "mvpd")

            // Refusals: a bad rule, an unknown provider, a foreign tenant's provider, no token.
            #expect(try await wire.send(.put, path, headers: body, body: #"{"rule":"AuthEverything"}"#).json["error"] as? String == "invalid_rule")
            #expect(try await wire.send(.put, path, headers: body, body: "not json").json["error"] as? String == "invalid_rule")
            #expect(try await wire.send(.put, "/admin/v1/tenants/REF30/degradation/Nope", headers: body, body: #"{"rule":"AuthZAll"}"#).status == .notFound)
            #expect(try await wire.send(.put, "/admin/v1/tenants/OTHER40/degradation/Cablevision", headers: body, body: #"{"rule":"AuthZAll"}"#).status == .notFound)
            #expect(try await wire.send(.put, path, headers: [.contentType: "application/json"], body: #"{"rule":"AuthZAll"}"#).status == .unauthorized)
            #expect((try await wire.send(.get, "/admin/v1/tenants/REF30/degradation", headers: AdminAPITests.admin).json["rules"] as? [Any])?.count == 1)
            try await answers.validate()
        }
    }

    @Test func theProgrammerResetsTempPassTrialsOfADeviceOrOfAll() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            let phone = tv.device("phone-7")
            let authorize = "/api/v2/REF30/decisions/authorize/TempPass_5mins"
            for device in [tv, phone] {
                #expect(Self.decision(try await device.post(authorize, json: #"{"resources":["REF30"]}"#))?["authorized"] as? Bool == true)
            }
            wire.clock.advance(by: 6 * 60)
            for device in [tv, phone] {
                let over = try await device.post(authorize, json: #"{"resources":["REF30"]}"#)
                #expect(over.json["code"] as? String == "temporary_access_duration_limit_exceeded", "\(over.body)")
            }

            // One device: its trial and profile go; the phone's stay used up.
            let reset = "/reset-tempass/v3/reset?requestor_id=REF30&mvpd_id=TempPass_5mins&device_id="
            let one = try await wire.send(.delete, reset + SeedDevice.deviceID, headers: tv.auth)
            #expect(one.status == .noContent, "\(one.body)")
            #expect(try await tv.profileTypes() == [:])
            #expect(Self.decision(try await tv.post(authorize, json: #"{"resources":["REF30"]}"#))?["authorized"] as? Bool == true)
            #expect(try await phone.post(authorize, json: #"{"resources":["REF30"]}"#).status == .forbidden)

            // Every device.
            #expect(try await wire.send(.delete, reset + "all", headers: tv.auth).status == .noContent)
            #expect(Self.decision(try await phone.post(authorize, json: #"{"resources":["REF30"]}"#))?["authorized"] as? Bool == true)
            #expect(try await wire.send(.delete, "/reset-tempass/v3/reset/generic?requestor_id=REF30&mvpd_id=TempPass_promo&key=all",
                                        headers: tv.auth).status == .noContent)

            // Refusals: no bearer, another programmer's, another requestor, a provider that is no TempPass, missing values.
            RestV2BadInputTests.expectError(try await wire.send(.delete, reset + "all"), .unauthorized, "invalid_access_token_client_application")
            let foreign = try await wire.bearer(tenant: "OTHER40")
            RestV2BadInputTests.expectError(try await wire.send(.delete, reset + "all", headers: foreign), .unauthorized, "invalid_access_token_service_provider")
            RestV2BadInputTests.expectError(try await wire.send(.delete, "/reset-tempass/v3/reset?requestor_id=OTHER40&mvpd_id=TempPass_5mins&device_id=all",
                                                                headers: tv.auth), .unauthorized, "invalid_access_token_service_provider")
            RestV2BadInputTests.expectError(try await wire.send(.delete, "/reset-tempass/v3/reset?requestor_id=REF30&mvpd_id=Dish&device_id=all",
                                                                headers: tv.auth), .badRequest, "invalid_integration")
            RestV2BadInputTests.expectError(try await wire.send(.delete, "/reset-tempass/v3/reset?requestor_id=REF30&mvpd_id=TempPass_5mins",
                                                                headers: tv.auth), .badRequest, "invalid_request")
            RestV2BadInputTests.expectError(try await wire.send(.delete, "/reset-tempass/v3/reset?requestor_id=REF30&device_id=all",
                                                                headers: tv.auth), .badRequest, "invalid_parameter_mvpd")
            RestV2BadInputTests.expectError(try await wire.send(.delete, "/reset-tempass/v3/reset/generic?requestor_id=REF30&mvpd_id=TempPass_promo&key=abc",
                                                                headers: tv.auth), .badRequest, "invalid_request")
            // "all" ended the TV's second trial too; the phone's fresh one was untouched by the refusals.
            #expect(try await tv.profileTypes() == [:])
            #expect(try await phone.profileTypes() == ["TempPass_5mins": "temporary"])
            #expect(try await wire.liveSessions([.providerProfile]) == 1)
            try await answers.validate()
        }
    }
}
