import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore

/// Tessera as a SAML service provider of a real identity provider, SimpleSAMLphp 1.19: a v1 and a
/// v2 device sign in through it; REST v2 logout's url goes through its Single Logout and lands on
/// the redirectUrl, after which it asks for the password again; its own (IdP-initiated) logout
/// ends the sessions it names, and only those, on both instances of a PostgreSQL pair, and the
/// programmer's back-channel hears of it.
@Suite(.serialized) struct SimpleSAMLphpTests {
    static let providerID = "Cable"

    static func configuration(idp: SimpleSAMLphp, programmer: String) throws -> TesseraConfiguration {
        let provider = SAMLProvider(
            id: providerID, displayName: "Cable TV", metadata: .url(idp.metadataURL), entityID: idp.entityID,
            claims: ClaimMapping(userID: "uid", metadata: ["zip": "zip"],
                                 rules: [EntitlementRule(claim: "eduPersonAffiliation", value: "premium", grant: ["REF30"])]))
        var configuration = try Fixture.configuration(adding: [provider]) { $0.backchannelLogoutURI = programmer }
        configuration.publicBaseURL = Browser.origin
        return configuration
    }

    @Test func devicesSignInThroughSimpleSAMLphpAndLogoutWorksBothWays() async throws {
        guard SimpleSAMLphp.isInstalled else {
            if ProcessInfo.processInfo.environment["TESSERA_REQUIRE_REAL_CLIENTS"] != nil { Issue.record("simplesamlphp is not installed") }
            return
        }
        let idp = try await SimpleSAMLphp.start()
        defer { idp.stop() }
        // The programmer's back-channel endpoint: the fake OpenID provider serves one.
        let programmer = try FakeOpenIDProvider(clock: ManualClock(Fixture.start))
        try await programmer.run { base in
            let configuration = try Self.configuration(idp: idp, programmer: base + "/programmer/logout")
            let harness = try Harness(configuration: configuration, start: Date(), deliveryInterval: .milliseconds(100))
            try await harness.run { wire in
                guard TestStore.postgresURL != nil else { return try await Self.scenario(wire, peer: nil, idp: idp, programmer: programmer) }
                try await Harness(reopening: harness, configuration: configuration, start: Date()).run { peer in
                    try await Self.scenario(wire, peer: peer, idp: idp, programmer: programmer)
                }
            }
        }
    }

    /// Tessera's browser from `start` through the IdP (signing in with `password` when it asks)
    /// to the confirmation, confirmed.
    static func signIn(_ wire: Wire, start: String, at user: UserAgent, idp: SimpleSAMLphp,
                       as household: (username: String, password: String) = ("alice", "wonderland")) async throws -> Reply {
        GlewlwydTests.catchUp(wire)
        let browser = Browser(wire)
        let first = try await browser.get(start)
        try #require(first.status == .found, "\(first.status) \(first.body)")
        let toProvider = try await browser.get(try #require(first.header("Location")))
        try #require(toProvider.status == .found, "\(toProvider.status) \(toProvider.body)")
        let request = try #require(toProvider.header("Location"))
        #expect(request.hasPrefix(idp.base + "/saml2/idp/SSOService.php?SAMLRequest=") && request.contains("&Signature="))
        var page = try await user.follow(try await user.send(.GET, request))
        if UserAgent.hidden("AuthState", in: page.body) != nil {
            page = try await idp.logIn(user, page: page, username: household.username, password: household.password)
        }
        try #require(UserAgent.formAction(in: page.body) == "http://localhost/idp/\(providerID)/saml/acs", "\(page.body.prefix(600))")
        let response = try #require(UserAgent.hidden("SAMLResponse", in: page.body))
        let relayState = try #require(UserAgent.hidden("RelayState", in: page.body))
        let confirm = try await browser.post("/idp/\(providerID)/saml/acs", [("SAMLResponse", response), ("RelayState", relayState)], origin: idp.base)
        try #require(confirm.status == .ok, "acs: \(confirm.status) \(confirm.body)")
        return try await browser.submit(confirm, [("decision", "confirm")])
    }

    static func scenario(_ wire: Wire, peer: Wire?, idp: SimpleSAMLphp, programmer: FakeOpenIDProvider) async throws {
        let metadata = try await wire.send(.get, "/idp/\(providerID)/saml/metadata")
        try #require(metadata.status == .ok && metadata.header("Content-Type") == "application/samlmetadata+xml")
        try idp.trust(serviceProviderMetadata: metadata.body)
        let user = UserAgent()
        defer { user.close() }

        // A v1 device: alice signs in at the IdP (password asked).
        let auth = wire.deviceHeaders(try await wire.bearer())
        let code = try await wire.registrationCode(auth, deviceID: "saml-tv-1")
        let v1 = try await Self.signIn(wire, start: wire.authenticateURI(code: code, provider: providerID), at: user, idp: idp)
        #expect(v1.status == .seeOther && v1.header("Location") == "https://www.adobe.com/activated")
        #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-1"), headers: auth).status == .ok)
        if let peer { #expect(try await peer.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-1"), headers: auth).status == .ok) }
        // Decisions and metadata from the assertion's attributes.
        let permit = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("saml-tv-1", extra: [("resource", "REF30")]), headers: auth)
        #expect(permit.status == .ok, "\(permit.body)")
        let zip = try await wire.send(.get, "/api/v1/tokens/usermetadata" + wire.deviceQuery("saml-tv-1"), headers: auth)
        #expect(zip.status == .ok && zip.body.contains("10001"), "\(zip.body)")

        // A v2 device, in the same browser session at the IdP: no password this time.
        let tv = try await wire.v2(answers: V2Answers()).device("saml-tv-2")
        let started = try await tv.post("/api/v2/REF30/sessions", form: [
            ("mvpd", providerID), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com/done")])
        try #require(started.status == .ok, "\(started.body)")
        let v2 = try await Self.signIn(wire, start: try #require(started.json["url"] as? String), at: user, idp: idp)
        #expect(v2.status == .seeOther && v2.header("Location") == "https://adobe.com/done")
        let profile = try await tv.get("/api/v2/REF30/profiles/\(providerID)")
        #expect(profile.status == .ok && (profile.json["profiles"] as? [String: Any])?[providerID] != nil, "\(profile.body)")

        // REST v2 logout: its url goes through the IdP's Single Logout (a signed LogoutRequest)
        // and its LogoutResponse brings the browser to the redirectUrl.
        let delivered = programmer.state.withLock { $0.received.count }
        let logout = try await tv.get("/api/v2/REF30/logout/\(providerID)?redirectUrl=https%3A%2F%2Fadobe.com%2Fbye")
        let entry = try #require((logout.json["logouts"] as? [String: [String: Any]])?[providerID], "\(logout.body)")
        let page = try await Browser(wire).get(try #require(entry["url"] as? String))
        try #require(page.status == .found, "\(page.status) \(page.body)")
        let toLogout = try #require(page.header("Location"))
        #expect(toLogout.hasPrefix(idp.logoutURL + "?SAMLRequest=") && toLogout.contains("&Signature="))
        let atIdP = try await user.follow(try await user.send(.GET, toLogout))
        let back = try #require(atIdP.location, "\(atIdP.status) \(atIdP.body.prefix(600))")
        try #require(back.hasPrefix("http://localhost/idp/\(providerID)/saml/slo?SAMLResponse="), "\(back)")
        let landed = try await Browser(wire).get(String(back.dropFirst("http://localhost".count)))
        #expect(landed.status == .found && landed.header("Location") == "https://adobe.com/bye", "\(landed.status) \(landed.body)")
        let gone = try await tv.get("/api/v2/REF30/profiles/\(providerID)")
        #expect(gone.status == .ok && (gone.json["profiles"] as? [String: Any])?.isEmpty == true, "\(gone.body)")
        #expect(try await OpenIDConnectTests.eventually { programmer.state.withLock { $0.received.count } == delivered + 1 })

        // The IdP asks for the password again; a third device signs in (a new IdP session).
        let code3 = try await wire.registrationCode(auth, deviceID: "saml-tv-3")
        let browser = Browser(wire)
        let first = try await browser.get(wire.authenticateURI(code: code3, provider: providerID))
        let toProvider = try await browser.get(try #require(first.header("Location")))
        let asked = try await user.follow(try await user.send(.GET, try #require(toProvider.header("Location"))))
        #expect(UserAgent.hidden("AuthState", in: asked.body) != nil, "the IdP did not ask for the password: \(asked.body.prefix(300))")
        let v1Again = try await Self.signIn(wire, start: wire.authenticateURI(code: code3, provider: providerID), at: user, idp: idp)
        #expect(v1Again.status == .seeOther)
        #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-3"), headers: auth).status == .ok)

        // The IdP's own logout: a signed LogoutRequest (HTTP-Redirect) for the third device's
        // NameID and SessionIndex; Tessera ends that session alone (the first device signed in
        // under another IdP session stays), on both instances, and answers with a signed
        // LogoutResponse carrying the RelayState, which brings the browser back to the IdP's ReturnTo.
        let before = programmer.state.withLock { $0.received.count }
        let started3 = try await user.send(.GET, idp.logoutURL + "?ReturnTo=" + SAMLServiceProvider.encoded(idp.base + "/logged-out-here"))
        let request = try #require(try await user.follow(started3).location, "\(started3.status) \(started3.body.prefix(600))")
        try #require(request.hasPrefix("http://localhost/idp/\(providerID)/saml/slo?SAMLRequest="), "\(request)")
        #expect(request.contains("&RelayState=") && request.contains("&Signature="))
        let answered = try await Browser(wire).get(String(request.dropFirst("http://localhost".count)))
        try #require(answered.status == .found, "\(answered.status) \(answered.body)")
        let response = try #require(answered.header("Location"))
        #expect(response.hasPrefix(idp.logoutURL + "?SAMLResponse=") && response.contains("&RelayState=") && response.contains("&Signature="))
        // The IdP takes it (its pages redirect within it) and sends the browser to its ReturnTo.
        var done = try await user.send(.GET, response)
        for _ in 0..<4 where done.location != idp.base + "/logged-out-here" {
            guard let next = done.location, next.hasPrefix(idp.base) else { break }
            done = try await user.send(.GET, next)
        }
        #expect(done.location == idp.base + "/logged-out-here", "\(done.status) \(done.location ?? "-")")
        #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-3"), headers: auth).status == .forbidden)
        if let peer { #expect(try await peer.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-3"), headers: auth).status == .forbidden) }
        #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-1"), headers: auth).status == .ok)
        #expect(try await OpenIDConnectTests.eventually { programmer.state.withLock { $0.received.count } == before + 1 })
        // The same LogoutRequest again is refused, and ends nothing more.
        let replay = try await Browser(wire).get(String(request.dropFirst("http://localhost".count)))
        #expect(replay.status == .forbidden)
        #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-tv-1"), headers: auth).status == .ok)
    }
}
