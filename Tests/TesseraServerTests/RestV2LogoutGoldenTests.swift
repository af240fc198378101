import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer

/// Seed 001 (REST API v2, "initiate logout for a specific mvpd"): each sample reached through a
/// real flow (a session, the browser's login, SSO tokens, degradation, a TempPass), with no
/// profile written by hand. Hosts aside, every answer is the sample's; every 200 answer also
/// validates against Adobe's OpenAPI document.
@Suite struct RestV2LogoutGoldenTests {
    static let query = "?redirectUrl=https%3A%2F%2Fadobe.com"

    /// The sample's answer: one `logouts` entry, exactly these fields.
    static func expectLogout(_ reply: Reply, _ mvpd: String, action: String, type: String, url: String? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == .ok, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(reply.header("Content-Type") == "application/json;charset=UTF-8", sourceLocation: sourceLocation)
        #expect(reply.header("Cache-Control") == "no-store", sourceLocation: sourceLocation)
        let logouts = reply.json["logouts"] as? [String: [String: String]] ?? [:]
        #expect(Array(logouts.keys) == [mvpd], "\(reply.body)", sourceLocation: sourceLocation)
        var expected = ["actionName": action, "actionType": type, "mvpd": mvpd]
        expected["url"] = url
        #expect(logouts[mvpd] == expected, "\(reply.body)", sourceLocation: sourceLocation)
    }

    @Test func sample1CablevisionWithALogoutEndpointAnswersItsLogoutPageWhichEndsTheBrowserSessionAndRedirects() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            try await tv.signIn("Cablevision", username: "cv-full")
            #expect(try await tv.profileTypes() == ["Cablevision": "regular"])
            let reply = try await tv.get("/api/v2/REF30/logout/Cablevision" + Self.query)
            let page = "/idp/Cablevision/logout?requestor_id=REF30&redirect_url=https%3A%2F%2Fadobe.com"
            Self.expectLogout(reply, "Cablevision", action: "logout", type: "interactive", url: page)
            #expect(try await tv.profileTypes() == [:])
            #expect(try await wire.liveSessions([.providerProfile]) == 0)

            // The url: the provider's page ends its browser session, then the browser goes to redirectUrl.
            let browser = Browser(wire)
            let asks = try await browser.get(page)
            #expect(asks.status == .ok)
            #expect(Browser.hidden("redirect_url", in: asks.body) == "https://adobe.com")
            let done = try await browser.submit(asks, [])
            #expect(done.status == .seeOther)
            #expect(done.header("Location") == "https://adobe.com")
            try await answers.validate()
        }
    }

    @Test func sample2DishWithoutALogoutEndpointIsComplete() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            try await tv.signIn("Dish", username: "dish-full")
            Self.expectLogout(try await tv.get("/api/v2/REF30/logout/Dish" + Self.query), "Dish", action: "complete", type: "none")
            #expect(try await tv.profileTypes() == [:])
            try await answers.validate()
        }
    }

    @Test func sample3SpectrumWithAServiceTokenEndsTheRegularAndTheServiceTokenProfiles() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let token = try await SSOTokens.serviceToken("spectrum-subscriber-1", now: wire.clock.now())
            let tv = try await wire.v2(answers: answers).with("AD-Service-Token", token)
            try await tv.signIn("Spectrum", username: "spectrum-full")
            #expect(try await wire.liveSessions([.ssoProfile]) == 1)
            // Another app of the programmer on another device, with the same service token: SSO.
            let phone = try await wire.v2(application: 1, answers: answers).device("phone-1").with("AD-Service-Token", token)
            #expect(try await phone.profileTypes() == ["Spectrum": "serviceTokenSSO"])

            let reply = try await tv.get("/api/v2/REF30/logout/Spectrum" + Self.query)
            Self.expectLogout(reply, "Spectrum", action: "logout", type: "interactive",
                              url: "/idp/Spectrum/logout?requestor_id=REF30&redirect_url=https%3A%2F%2Fadobe.com")
            #expect(try await wire.liveSessions([.ssoProfile, .providerProfile]) == 0)
            #expect(try await phone.profileTypes() == [:])
            try await answers.validate()
        }
    }

    @Test func sample4ComcastWithAPlatformTokenEndsTheRegularAndThePlatformProfiles() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let token = try await SSOTokens.platformToken("platform-user-7", now: wire.clock.now())
            let tv = try await wire.v2(answers: answers).with("Adobe-Subject-Token", token)
            try await tv.signIn("Comcast_SSO", username: "comcast-full")
            // The programmer's other app on the same device, with the same platform identity.
            let other = try await wire.v2(application: 1, answers: answers).with("Adobe-Subject-Token", token)
            #expect(try await other.profileTypes() == ["Comcast_SSO": "platformSSO"])
            let session = try await other.post("/api/v2/REF30/sessions", form: [("mvpd", "Comcast_SSO")])
            #expect(session.json["actionName"] as? String == "authorize")
            #expect(session.json["reasonType"] as? String == "authenticatedSSO")

            let reply = try await tv.get("/api/v2/REF30/logout/Comcast_SSO" + Self.query)
            Self.expectLogout(reply, "Comcast_SSO", action: "logout", type: "interactive",
                              url: "/idp/Comcast_SSO/logout?requestor_id=REF30&redirect_url=https%3A%2F%2Fadobe.com")
            #expect(try await wire.liveSessions([.ssoProfile, .providerProfile]) == 0)
            #expect(try await other.profileTypes() == [:])
            try await answers.validate()
        }
    }

    @Test func sample6ADegradedProviderIsComplete() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            let session = try await tv.post("/api/v2/REF30/sessions", form: [("mvpd", "ATTOTT"), ("domainName", "adobe.com"),
                                                                          ("redirectUrl", "https://adobe.com")])
            #expect(session.json["actionName"] as? String == "authorize")
            #expect(session.json["actionType"] as? String == "direct")
            #expect(session.json["reasonType"] as? String == "degraded")
            #expect(session.json["url"] as? String == "/api/v2/REF30/decisions/authorize/ATTOTT")
            let profile = try await tv.get("/api/v2/REF30/profiles/ATTOTT")
            let attott = (profile.json["profiles"] as? [String: [String: Any]])?["ATTOTT"]
            #expect(attott?["type"] as? String == "degraded")
            #expect(attott?["issuer"] as? String == "Adobe")
            let userID = ((attott?["attributes"] as? [String: [String: Any]])?["userID"])?["value"] as? String
            #expect(userID?.hasPrefix("95cf93bcd183214a") == true)
            Self.expectLogout(try await tv.get("/api/v2/REF30/logout/ATTOTT" + Self.query), "ATTOTT", action: "complete", type: "none")
            try await answers.validate()
        }
    }

    @Test func sample7ATempPassIsCompleteOnTheSamplesPathToo() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            let session = try await tv.post("/api/v2/REF30/sessions", form: [("mvpd", "TempPass_5mins")])
            #expect(session.json["reasonType"] as? String == "temporary")
            let decision = try await tv.post("/api/v2/REF30/decisions/authorize/TempPass_5mins", json: #"{"resources":["REF30"]}"#)
            let first = (decision.json["decisions"] as? [[String: Any]])?.first
            #expect(first?["authorized"] as? Bool == true)
            #expect(first?["source"] as? String == "temppass")
            #expect(try await tv.profileTypes() == ["TempPass_5mins": "temporary"])
            // The sample's path puts "logout" before the service provider.
            Self.expectLogout(try await tv.get("/api/v2/logout/REF30/TempPass_5mins" + Self.query), "TempPass_5mins",
                              action: "complete", type: "none")
            #expect(try await tv.profileTypes() == [:])
            try await answers.validate()
        }
    }

    @Test func aProviderWithoutAProfileIsInvalid() async throws {
        try await Harness().run { wire in
            let answers = V2Answers()
            let tv = try await wire.v2(answers: answers)
            try await tv.signIn("Dish", username: "dish-full")
            Self.expectLogout(try await tv.get("/api/v2/REF30/logout/Cablevision" + Self.query), "Cablevision", action: "invalid", type: "none")
            // Dish's profile is untouched.
            #expect(try await tv.profileTypes() == ["Dish": "regular"])
            try await answers.validate()
        }
    }
}
