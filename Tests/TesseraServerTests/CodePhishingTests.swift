import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Device-code phishing (RFC 8628 §5.4) and cross-site forms: an attacker makes a code on
/// their own device and gets a signed-in victim's browser to complete it. Every completion now
/// goes through a confirmation page whose button only the victim's own page can press.
@Suite struct CodePhishingTests {
    /// A victim whose browser is signed in at Cablevision (its provider cookie is live), and
    /// whose own device is activated.
    static func signedInVictim(_ wire: Wire) async throws -> (browser: Browser, auth: HTTPFields) {
        let auth = wire.deviceHeaders(try await wire.bearer())
        let browser = Browser(wire)
        let own = try await wire.registrationCode(auth, deviceID: "victim-tv")
        #expect(try await wire.browserLogin(code: own, browser: browser).status == .seeOther)
        try #require(browser.cookies["tessera_idp"] != nil)
        return (browser, auth)
    }

    static let attackerDevice = "attacker-box"

    @Test func thePhishingLinkEndsOnTheConfirmationPageAndCompletesNothing() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let (victim, auth) = try await Self.signedInVictim(wire)
            let code = try await wire.registrationCode(auth, deviceID: Self.attackerDevice)
            // The link in the mail, exactly as the finding has it.
            let link = "/api/v1/authenticate?reg_code=\(code)&requestor_id=REF30&mso_id=Cablevision&domain_name=adobe.com&redirect_url=https%3A%2F%2Fadobe.com%2F"
            let start = try await victim.get(link)
            #expect(start.status == .found)
            let page = try await victim.get(try #require(start.header("Location")))
            #expect(page.status == .ok)
            #expect(page.header("Location") == nil)
            #expect(page.body.contains("Activate Reference site on this device?"))
            #expect(page.body.contains("Device: <strong>Roku Ultra (Roku OS)</strong>"))
            #expect(page.body.contains("Code made: "))
            #expect(page.body.contains("From network: this machine"))
            #expect(page.body.contains("cv-user-full"))
            let attackerCheck = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(Self.attackerDevice), headers: auth)
            #expect(attackerCheck.status == .forbidden)

            // "No, this is not my device": nothing is activated, and the code stays unused.
            let declined = try await victim.submit(page, [("decision", "cancel")])
            #expect(declined.status == .ok)
            #expect(declined.body.contains("Nothing was activated"))
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(Self.attackerDevice), headers: auth).status == .forbidden)
        }
        #expect(try await harness.count("session") == 1) // the victim's own device only
    }

    @Test func aConfirmationSentFromAnotherSiteOrWithoutTheTokenIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let (victim, auth) = try await Self.signedInVictim(wire)
            let code = try await wire.registrationCode(auth, deviceID: Self.attackerDevice)
            let start = try await victim.get(wire.authenticateURI(code: code, provider: "Cablevision"))
            let page = try await victim.get(try #require(start.header("Location")))
            let fields = Browser.hiddenFields(in: page.body)
            let state = try #require(Browser.hidden("state", in: page.body))
            let token = try #require(Browser.hidden("csrf", in: page.body))
            let confirm = "/idp/Cablevision/confirm"
            func without(_ name: String) -> [(String, String)] { fields.filter { $0.0 != name } + [("decision", "confirm")] }

            // The attacker's page posts the form into the victim's browser (cookies go along):
            // it knows the state from its own start, but not the token.
            let noToken = try await victim.post(confirm, without("csrf"), origin: "https://evil.example")
            #expect(noToken.status == .forbidden)
            let guessed = try await victim.post(confirm, without("csrf") + [("csrf", "AAAA")], origin: "")
            #expect(guessed.status == .forbidden)
            // Even with the right token, another site's Origin is refused, and so is Sec-Fetch-Site: cross-site.
            let foreign = try await victim.post(confirm, fields + [("decision", "confirm")], origin: "https://evil.example")
            #expect(foreign.status == .forbidden)
            let crossSite = try await victim.post(confirm, fields + [("decision", "confirm")], headers: [.secFetchSite: "cross-site"])
            #expect(crossSite.status == .forbidden)
            let nullOrigin = try await victim.post(confirm, fields + [("decision", "confirm")], origin: "null")
            #expect(nullOrigin.status == .forbidden)
            // The token is bound to the browser: another browser (the attacker's) cannot use it.
            let attacker = Browser(wire)
            let elsewhere = try await attacker.post(confirm, fields + [("decision", "confirm")])
            #expect(elsewhere.status == .forbidden)
            // And to the subject: the same token with another user id is refused.
            let swapped = try await victim.post(confirm, [("state", state), ("user", "cv-user-basic"), ("csrf", token), ("decision", "confirm")])
            #expect(swapped.status == .forbidden)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(Self.attackerDevice), headers: auth).status == .forbidden)

            // The victim's own press on its own page works.
            let pressed = try await victim.submit(page, [("decision", "confirm")])
            #expect(pressed.status == .seeOther)
            #expect(pressed.header("Location") == "https://www.adobe.com/activated")
        }
        #expect(try await harness.count("session") == 2)
    }

    @Test func aCrossSitePostToActivateBeginsNothing() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let (victim, auth) = try await Self.signedInVictim(wire)
            let attempts = try await harness.count("login_attempt")
            let code = try await wire.registrationCode(auth, deviceID: Self.attackerDevice)
            let fields = [("requestor", "REF30"), ("code", code), ("provider", "Cablevision")]
            let crossSite = try await victim.post("/activate", fields, origin: "https://evil.example")
            #expect(crossSite.status == .forbidden)
            #expect(crossSite.header("Location") == nil)
            let noToken = try await victim.post("/activate", fields, origin: "")
            #expect(noToken.status == .forbidden)
            // A token for another form is no token for this one.
            let loginToken = try #require(Browser.hidden("csrf", in: try await victim.get("/idp/Cablevision/logout").body))
            let otherPurpose = try await victim.post("/activate", fields + [("csrf", loginToken)])
            #expect(otherPurpose.status == .forbidden)
            #expect(try await harness.count("login_attempt") == attempts)
            // From Tessera's own page it goes on to the provider, and from there to the confirmation.
            let own = try await victim.submit(try await victim.get("/activate?requestor=REF30"), [("code", code), ("provider", "Cablevision")])
            #expect(own.status == .seeOther)
            let page = try await victim.get(try #require(own.header("Location")))
            #expect(page.body.contains("action=\"/idp/Cablevision/confirm\""))
        }
        #expect(try await harness.count("session") == 1)
    }

    @Test func aLoginFormWithoutItsTokenIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            let browser = Browser(wire)
            let start = try await browser.get(wire.authenticateURI(code: code, provider: "Dish"))
            let page = try await browser.get(try #require(start.header("Location")))
            let state = try #require(Browser.hidden("state", in: page.body))
            let refused = try await browser.post("/idp/Dish/login", [("state", state), ("username", "dish-full"), ("password", "dish-full-demo")])
            #expect(refused.status == .forbidden)
            #expect(browser.cookies["tessera_idp"] == nil)
        }
        #expect(try await harness.count("provider_session") == 0)
    }

    @Test func theProviderLogoutIsAButtonOnItsOwnPage() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let (victim, _) = try await Self.signedInVictim(wire)
            let sessions = try await harness.count("provider_session")
            #expect(sessions == 1)
            // Any site can link to the GET: it only asks.
            let page = try await victim.get("/idp/Cablevision/logout")
            #expect(page.status == .ok)
            #expect(page.body.contains("Sign out of Optimum"))
            #expect(try await harness.count("provider_session") == 1)
            let forged = try await victim.post("/idp/Cablevision/logout", [], origin: "https://evil.example")
            #expect(forged.status == .forbidden)
            #expect(try await harness.count("provider_session") == 1)
            let done = try await victim.submit(page, [])
            #expect(done.status == .ok)
            #expect(done.body.contains("Signed out of Optimum"))
            #expect(victim.cookies["tessera_idp"] == nil)
        }
        #expect(try await harness.count("provider_session") == 0)
    }

    @Test func cookiesAreSecureAndOriginIsThePublicOneOverHTTPS() async throws {
        var configuration = Fixture.configuration
        configuration.publicBaseURL = "https://auth.example.com"
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            let browser = Browser(origin: "https://auth.example.com") { method, uri, headers, body in
                try await wire.send(method, uri, headers: headers, body: body)
            }
            let start = try await browser.get(wire.authenticateURI(code: code, provider: "Dish"))
            let page = try await browser.get(try #require(start.header("Location")))
            #expect(page.headers[values: .setCookie].allSatisfy { $0.contains("; Secure") })
            // The Host the request was sent to is not Tessera's public origin.
            let local = try await browser.submit(page, [("username", "dish-full"), ("password", "dish-full-demo")], origin: "http://localhost")
            #expect(local.status == .forbidden)
            let confirmation = try await browser.submit(page, [("username", "dish-full"), ("password", "dish-full-demo")])
            #expect(confirmation.status == .ok)
            let cookies = confirmation.headers[values: .setCookie]
            #expect(cookies.contains { $0.hasPrefix("tessera_idp=") && $0.contains("; Secure") && $0.contains("HttpOnly") })
            #expect(try await browser.submit(confirmation, [("decision", "confirm")]).status == .seeOther)
        }
        #expect(try await harness.count("session") == 1)
    }
}
