import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore

/// Tessera against a real OpenID Connect provider, Glewlwyd 2.7.5: a v1 device and a v2 device
/// sign in through it; REST v2 logout's url goes through its end_session and lands on the
/// redirectUrl; its back-channel logout ends the matching Tessera sessions; the refresh tokens
/// Tessera held are revoked there; and a new sign-in asks for the password again.
@Suite(.serialized) struct GlewlwydTests {
    static let providerID = "Glew"

    static func configuration(issuer: String) throws -> TesseraConfiguration {
        var provider = OpenIDProvider(
            id: providerID, displayName: "Glewlwyd TV", issuer: issuer, clientID: Glewlwyd.clientID,
            clientAuthentication: .clientSecretBasic(secret: Glewlwyd.clientSecret),
            redirectURI: "http://localhost/idp/\(providerID)/callback",
            // Every household of this client may watch REF30 (Glewlwyd's id_token has no claim of its own for it).
            claims: ClaimMapping(metadata: ["name": "name"], rules: [EntitlementRule(claim: "aud", value: Glewlwyd.clientID, grant: ["REF30"])]))
        provider.postLogoutRedirectURI = "http://localhost/idp/\(providerID)/logged-out"
        return try Fixture.configuration(adding: [provider])
    }

    /// Tessera's browser from its login path to Glewlwyd and back to the confirmation, confirmed.
    static func signIn(_ wire: Wire, start: String, at user: Glewlwyd.Browser) async throws -> Reply {
        catchUp(wire)
        let browser = Browser(wire)
        let first = try await browser.get(start)
        try #require(first.status == .found, "\(first.status) \(first.body)")
        let toProvider = try await browser.get(try #require(first.header("Location")))
        try #require(toProvider.status == .found, "\(toProvider.status) \(toProvider.body)")
        let authorization = try #require(toProvider.header("Location"))
        #expect(authorization.hasPrefix(user.glewlwyd.issuer + "/auth?"))
        // `g_continue`: what Glewlwyd's own login page adds when the subscriber is signed in already.
        let atProvider = try await user.send(.GET, authorization + "&g_continue")
        try #require(atProvider.status == .found, "authorize: \(atProvider.status) \(atProvider.body)")
        let back = try #require(atProvider.location)
        try #require(back.hasPrefix("http://localhost/idp/\(providerID)/callback?"), "\(back)")
        let confirm = try await browser.get(String(back.dropFirst("http://localhost".count)))
        try #require(confirm.status == .ok, "callback: \(confirm.status) \(confirm.body)")
        return try await browser.submit(confirm, [("decision", "confirm")])
    }

    @Test func devicesSignInThroughGlewlwydAndEveryLogoutReachesIt() async throws {
        guard Glewlwyd.isInstalled else {
            if ProcessInfo.processInfo.environment["TESSERA_REQUIRE_REAL_CLIENTS"] != nil { Issue.record("glewlwyd is not installed") }
            return
        }
        let glewlwyd = try await Glewlwyd.start()
        defer { glewlwyd.stop() }
        let configuration = try Self.configuration(issuer: glewlwyd.issuer)
        let harness = try Harness(configuration: configuration, start: Date(), deliveryInterval: .milliseconds(100))
        try await harness.run { wire in
            // On PostgreSQL, a second instance on the same database: the back-channel logout that
            // reaches the first must end the sessions on both.
            guard TestStore.postgresURL != nil else { return try await Self.scenario(wire, peer: nil, glewlwyd: glewlwyd) }
            try await Harness(reopening: harness, configuration: configuration, start: Date()).run { peer in
                try await Self.scenario(wire, peer: peer, glewlwyd: glewlwyd)
            }
        }
    }

    /// Moves the servers' clocks to the real time: Glewlwyd dates its tokens by it, and starting
    /// two servers on a busy machine can take longer than the 60 s of skew an `iat` is allowed.
    static func catchUp(_ wires: Wire?...) {
        for wire in wires.compactMap({ $0 }) {
            let behind = Date().timeIntervalSince(wire.clock.now())
            if behind > 0 { wire.clock.advance(by: behind) }
        }
    }

    static func scenario(_ wire: Wire, peer: Wire?, glewlwyd: Glewlwyd) async throws {
        do {
            catchUp(wire, peer)
            let port = try #require(wire.client.port)
            try await glewlwyd.registerClient(redirectURI: "http://localhost/idp/\(Self.providerID)/callback",
                                              postLogoutRedirectURI: "http://localhost/idp/\(Self.providerID)/logged-out",
                                              backchannelLogoutURI: "http://127.0.0.1:\(port)/idp/\(Self.providerID)/backchannel-logout")
            // The household signs in at Glewlwyd and lets Tessera have `openid` (its login page's calls).
            let user = Glewlwyd.Browser(glewlwyd)
            defer { user.close() }
            try #require(try await user.send(.POST, "/api/auth/", json: ["username": Glewlwyd.username, "password": Glewlwyd.password]).status == .ok)
            try #require(try await user.send(.PUT, "/api/auth/grant/\(Glewlwyd.clientID)", json: ["scope": "openid"]).status == .ok)

            // A v1 device.
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "glew-tv-1")
            let v1 = try await Self.signIn(wire, start: wire.authenticateURI(code: code, provider: Self.providerID), at: user)
            #expect(v1.status == .seeOther && v1.header("Location") == "https://www.adobe.com/activated")
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("glew-tv-1"), headers: auth).status == .ok)
            // The other instance answers for it too (and now holds it in memory).
            if let peer { #expect(try await peer.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("glew-tv-1"), headers: auth).status == .ok) }
            let permit = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("glew-tv-1", extra: [("resource", "REF30")]), headers: auth)
            #expect(permit.status == .ok, "\(permit.body)")

            // A v2 device, in the same browser session at Glewlwyd (the same sid).
            let tv = try await wire.v2(answers: V2Answers()).device("glew-tv-2")
            let started = try await tv.post("/api/v2/REF30/sessions", form: [
                ("mvpd", Self.providerID), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com/done")])
            try #require(started.status == .ok, "\(started.body)")
            let v2 = try await Self.signIn(wire, start: try #require(started.json["url"] as? String), at: user)
            #expect(v2.status == .seeOther && v2.header("Location") == "https://adobe.com/done")
            #expect(try await tv.get("/api/v2/REF30/profiles/\(Self.providerID)").status == .ok)

            // REST v2 logout: its url goes through Glewlwyd's end_session.
            catchUp(wire, peer)
            let logout = try await tv.get("/api/v2/REF30/logout/\(Self.providerID)?redirectUrl=https%3A%2F%2Fadobe.com%2Fbye")
            let entry = try #require((logout.json["logouts"] as? [String: [String: Any]])?[Self.providerID], "\(logout.body)")
            let page = try await Browser(wire).get(try #require(entry["url"] as? String))
            try #require(page.status == .found, "\(page.status) \(page.body)")
            let endSession = try #require(page.header("Location"))
            #expect(endSession.hasPrefix(glewlwyd.issuer + "/end_session?") && endSession.contains("id_token_hint="))
            let atEnd = try await user.send(.GET, endSession)
            try #require(atEnd.status == .found, "end_session: \(atEnd.status)")
            // end_session only sends the browser to Glewlwyd's login page; its script ends the sessions.
            let loginLocation = try #require(atEnd.location)
            let loginPage = try #require(URLComponents(string: loginLocation))
            func item(_ name: String) -> String? { loginPage.queryItems?.first { $0.name == name }?.value }
            #expect(item("prompt") == "end_session")
            let sid = try #require(item("sid"))
            let callback = try #require(item("callback_url"))
            #expect(try await user.send(.DELETE, "/api/\(Glewlwyd.plugin)/session/\(sid)").status == .ok)
            #expect(try await user.send(.DELETE, "/api/auth/").status == .ok)
            #expect(callback.hasPrefix("http://localhost/idp/\(Self.providerID)/logged-out?state="))
            let landed = try await Browser(wire).get(String(callback.dropFirst("http://localhost".count)))
            #expect(landed.status == .seeOther && landed.header("Location") == "https://adobe.com/bye")

            // Its back-channel logout (sent by that DELETE) ended the v1 device's session too.
            catchUp(wire, peer)
            #expect(try await OpenIDConnectTests.eventually {
                try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("glew-tv-1"), headers: auth).status == .forbidden
            })
            if let peer {
                #expect(try await peer.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("glew-tv-1"), headers: auth).status == .forbidden)
            }
            // Both refresh tokens Tessera held are revoked at Glewlwyd.
            #expect(try await OpenIDConnectTests.eventually { try await glewlwyd.revokedRefreshTokens() == 2 })
            #expect(try await OpenIDConnectTests.eventually { try await wire.store.pendingLogoutDeliveries() == 0 })

            catchUp(wire, peer)
            // A new sign-in at Glewlwyd asks for the password again: the authorization goes to its login page.
            let again = try await wire.registrationCode(auth, deviceID: "glew-tv-3")
            let browser = Browser(wire)
            let first = try await browser.get(wire.authenticateURI(code: again, provider: Self.providerID))
            let toProvider = try await browser.get(try #require(first.header("Location")))
            let asked = try await user.send(.GET, try #require(toProvider.header("Location")) + "&g_continue")
            #expect(asked.status == .found)
            #expect(asked.location.map { !$0.contains("code=") && $0.contains("login") } == true, "\(asked.location ?? "-")")
        }
    }
}
