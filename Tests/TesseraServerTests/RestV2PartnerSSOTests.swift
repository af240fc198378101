import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Apple partner SSO through REST v2: the framework status header, the SAML assertion signed by a
/// real XML signature library (Python's signxml, Tests/clients/apple_assertion.py) and checked
/// by libxmlsec1, seed 001's sample 5, and every refusal.
@Suite struct RestV2PartnerSSOTests {
    static func available() async -> Bool { await MeetingSDKTests.python(imports: "signxml") }
    static let issuer = "https://idp.apple.tessera.test"

    /// `AP-Partner-Framework-Status` as Apple's framework reports it.
    static func frameworkStatus(access: String? = "granted", providerID: String? = "1100", expires: Date?) -> String {
        var permission: [String: Any] = [:]
        permission["accessStatus"] = access
        var provider: [String: Any] = [:]
        provider["id"] = providerID
        provider["expirationDate"] = expires.map { String($0.epochMilliseconds) }
        let object: [String: Any] = ["frameworkPermissionInfo": permission, "frameworkProviderInfo": provider]
        return (try! JSONSerialization.data(withJSONObject: object)).base64EncodedString()
    }

    /// A SAML response from the signer script (`mode`: good, unsigned, altered, wrapped, other-key).
    static func samlResponse(_ mode: String = "good", now: Date, issuer: String = issuer, audience: String = "REF30",
                             nameID: String = "cv-user-full", validFor: TimeInterval = 300) async throws -> String {
        let key = try #require(Bundle.module.url(forResource: "demo-apple-assertion-signing-key", withExtension: "pem", subdirectory: "Resources")
            ?? Self.resourceURL())
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/apple_assertion.py").path
        let result = try await MeetingSDKTests.run(["python3", script, mode, key.path, issuer, audience, nameID,
                                              now.addingTimeInterval(-60).formatted(.iso8601), now.addingTimeInterval(validFor).formatted(.iso8601)])
        try #require(result.status == 0, "\(result.output)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The demo key in the server's resources (the tests' bundle has none of its own).
    static func resourceURL() -> URL? {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/TesseraServer/Resources/demo-apple-assertion-signing-key.pem")
        return FileManager.default.fileExists(atPath: path.path) ? path : nil
    }

    static func apple(_ client: V2Client, now: Date, status: String? = nil) -> V2Client {
        client.with("AP-Partner-Framework-Status", status ?? frameworkStatus(expires: now.addingTimeInterval(86400)))
    }

    @Test func sample5AnAppleProfileEndsWithAPartnerLogout() async throws {
        guard await Self.available() else { return }
        try await Harness().run { wire in
            let answers = V2Answers()
            let now = wire.clock.now()
            let tv = Self.apple(try await wire.v2(answers: answers), now: now)
            let session = try await tv.post("/api/v2/REF30/sessions/sso/Apple", form: [("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com")])
            #expect(session.status == .ok, "\(session.body)")
            #expect(session.json["actionName"] as? String == "partner_profile")
            #expect(session.json["actionType"] as? String == "direct")
            #expect(session.json["reasonType"] as? String == "none")
            #expect(session.json["mvpd"] as? String == "Cablevision")
            #expect(session.json["url"] as? String == "/api/v2/REF30/profiles/sso/Apple")
            let request = session.json["authenticationRequest"] as? [String: Any]
            #expect(request?["type"] as? String == "saml")
            let authn = (request?["request"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(authn.contains("AuthnRequest") && authn.contains("<saml:Issuer>REF30</saml:Issuer>"), "\(authn)")

            let created = try await tv.post("/api/v2/REF30/profiles/sso/Apple", form: [("SAMLResponse", try await Self.samlResponse(now: now))])
            #expect(created.status == .ok, "\(created.body)")
            let profile = (created.json["profiles"] as? [String: [String: Any]])?["Cablevision"]
            #expect(profile?["type"] as? String == "appleSSO")
            #expect(profile?["issuer"] as? String == "Apple")
            // The logout sample sends no framework header: the profile is the application's on the device.
            let plain = try await wire.v2(answers: answers)
            #expect(try await plain.profileTypes() == ["Cablevision": "appleSSO"])
            let decision = try await plain.post("/api/v2/REF30/decisions/authorize/Cablevision", json: #"{"resources":["REF30"]}"#)
            #expect((decision.json["decisions"] as? [[String: Any]])?.first?["authorized"] as? Bool == true, "\(decision.body)")

            let reply = try await plain.get("/api/v2/REF30/logout/Cablevision?redirectUrl=https%3A%2F%2Fadobe.com")
            RestV2LogoutGoldenTests.expectLogout(reply, "Cablevision", action: "partner_logout", type: "partner_interactive")
            #expect(try await plain.profileTypes() == [:])
            try await answers.validate()
        }
    }

    @Test func aFrameworkStatusThatDoesNotAllowSSOIsRefusedOrFallsBack() async throws {
        try await Harness().run { wire in
            let now = wire.clock.now()
            let tv = try await wire.v2(answers: V2Answers())
            let later = now.addingTimeInterval(3600)
            let cases: [(String?, String)] = [
                (nil, "permission_access_not_present"),
                ("%%%", "permission_access_not_present"),
                (Data("{}".utf8).base64EncodedString(), "permission_access_not_present"),
                (Self.frameworkStatus(access: nil, expires: later), "permission_access_not_present"),
                (Self.frameworkStatus(access: "notDetermined", expires: later), "permission_access_not_determined"),
                (Self.frameworkStatus(access: "denied", expires: later), "permission_access_not_granted"),
                (Self.frameworkStatus(access: "restricted", expires: later), "permission_access_not_granted"),
                (Self.frameworkStatus(providerID: nil, expires: later), "provider_id_not_determined"),
                (Self.frameworkStatus(providerID: "9999", expires: later), "provider_id_mismatch"),
                (Self.frameworkStatus(expires: now.addingTimeInterval(-1)), "provider_info_expired"),
                (Self.frameworkStatus(expires: nil), "provider_info_expired"),
            ]
            for (status, code) in cases {
                let client = tv.with("AP-Partner-Framework-Status", status)
                let reply = try await client.post("/api/v2/REF30/profiles/sso/Apple", form: [("SAMLResponse", "PHNhbWw+")])
                RestV2BadInputTests.expectError(reply, .badRequest, "invalid_header_pfs_" + code)
                // The session falls back to the regular flow, saying why.
                let session = try await client.post("/api/v2/REF30/sessions/sso/Apple", form: [("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com")])
                #expect(session.status == .ok, "\(session.body)")
                #expect(session.json["reasonType"] as? String == "pfs_fallback")
                #expect(session.json["actionName"] as? String == "resume", "a status naming no known provider leaves the mvpd to the user")
            }
            #expect(try await wire.liveSessions([.providerProfile, .ssoProfile]) == 0)
            // Missing parameters fall back too; another partner is unknown.
            let apple = Self.apple(tv, now: now)
            let missing = try await apple.post("/api/v2/REF30/sessions/sso/Apple", form: [("domainName", "adobe.com")])
            #expect(missing.json["reasonType"] as? String == "missing_parameters_fallback")
            #expect(missing.json["actionName"] as? String == "resume")
            #expect(missing.json["mvpd"] as? String == "Cablevision")
            RestV2BadInputTests.expectError(try await apple.post("/api/v2/REF30/sessions/sso/Google", form: [("domainName", "adobe.com")]),
                                            .badRequest, "invalid_parameter_partner")
        }
    }

    @Test func assertionsThatDoNotVerifyAreRefusedAndNothingIsStored() async throws {
        guard await Self.available() else { return }
        try await Harness().run { wire in
            let now = wire.clock.now()
            let tv = Self.apple(try await wire.v2(answers: V2Answers()), now: now)
            let bad: [(String, String)] = [
                ("unsigned", try await Self.samlResponse("unsigned", now: now)),
                ("altered after signing", try await Self.samlResponse("altered", now: now)),
                ("a wrapped second assertion", try await Self.samlResponse("wrapped", now: now)),
                ("signed with another key", try await Self.samlResponse("other-key", now: now)),
                ("expired", try await Self.samlResponse(now: now.addingTimeInterval(-3600), validFor: 60)),
                ("not valid yet", try await Self.samlResponse(now: now.addingTimeInterval(3600))),
                ("another issuer", try await Self.samlResponse(now: now, issuer: "https://idp.elsewhere.test")),
                ("another audience", try await Self.samlResponse(now: now, audience: "OTHER40")),
                ("not XML", Data("hello".utf8).base64EncodedString()),
                ("a DTD", Data(#"<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>"#.utf8).base64EncodedString()),
                ("not base64", "%%%"),
            ]
            for (why, saml) in bad {
                let reply = try await tv.post("/api/v2/REF30/profiles/sso/Apple", form: [("SAMLResponse", saml)])
                RestV2BadInputTests.expectError(reply, .badRequest, "invalid_parameter_saml_response")
                #expect(reply.status == .badRequest, "\(why)")
            }
            RestV2BadInputTests.expectError(try await tv.post("/api/v2/REF30/profiles/sso/Apple", form: []), .badRequest, "invalid_parameter_saml_response")
            #expect(try await wire.liveSessions([.providerProfile, .ssoProfile]) == 0)
            // The good one, from the same signer: the refusals were the assertions'. Once only: a replay is refused.
            let good = try await Self.samlResponse(now: now)
            #expect(try await tv.post("/api/v2/REF30/profiles/sso/Apple", form: [("SAMLResponse", good)]).status == .ok)
            let replayed = try await tv.device("another-tv").post("/api/v2/REF30/profiles/sso/Apple", form: [("SAMLResponse", good)])
            RestV2BadInputTests.expectError(replayed, .badRequest, "invalid_parameter_saml_response")
            #expect(replayed.json["details"] as? String == "the assertion was used already")
        }
    }
}
