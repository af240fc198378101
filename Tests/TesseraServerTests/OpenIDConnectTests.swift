import Foundation
import HTTPTypes
import JWTKit
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore

/// Sign-in through an upstream OpenID Connect provider (a fake one on a loopback port that
/// misbehaves on request): the whole v1 and v2 second screen, decisions from its claims, and
/// every way its answer can fail, each with the pages' error and nothing stored.
@Suite(.serialized) struct OpenIDConnectTests {
    static let providerID = "Corp"

    /// The fixture with an OIDC provider `Corp` offered by REF30: entitlements from the
    /// `channels` claim and a rule on `groups`, metadata from two claims.
    static func configuration(issuer: String) throws -> TesseraConfiguration {
        var provider = OpenIDProvider(
            id: providerID, displayName: "Corp TV", issuer: issuer, clientID: FakeOpenIDProvider.clientID,
            clientAuthentication: .clientSecretBasic(secret: FakeOpenIDProvider.clientSecret), scopes: ["offline_access"],
            redirectURI: "http://localhost/idp/\(providerID)/callback",
            claims: ClaimMapping(metadata: ["zip": "postal_code", "householdID": "household"], entitlementsClaim: "channels",
                                 rules: [EntitlementRule(claim: "groups", value: "sports", grant: ["ESPN"])]))
        // Long enough for a loaded two-core CI machine to fetch discovery and keys (2 s was seen to
        // miss there); ``FakeOpenIDProvider/Fault/slow`` waits past it.
        provider.timeout = 8
        provider.postLogoutRedirectURI = "http://localhost/idp/\(providerID)/logged-out"
        // A provider nothing listens for (port 9 on loopback: connection refused).
        var gone = OpenIDProvider(id: "Gone", displayName: "Gone TV", issuer: "http://127.0.0.1:9", clientID: "x",
                                  clientAuthentication: .privateKeyJWT, redirectURI: "http://localhost/idp/Gone/callback")
        // async-http-client tries the connection again until the deadline: the timeout bounds it.
        gone.timeout = 1
        // The programmer's services hear of every ended session (the fake serves that endpoint too).
        return try Fixture.configuration(adding: [provider, gone]) { $0.backchannelLogoutURI = issuer + "/programmer/logout" }
    }

    /// A fake provider and a Tessera that trusts it.
    static func running(_ body: @Sendable (Wire, FakeOpenIDProvider) async throws -> Void) async throws {
        let fake = try FakeOpenIDProvider(clock: ManualClock(Fixture.start))
        fake.setClaim("channels", "CNN HBO")
        fake.setClaim("groups", list: ["sports", "news"])
        fake.setClaim("postal_code", "10001")
        fake.setClaim("household", "hh-42")
        try await fake.run { issuer in
            let harness = try Harness(configuration: try configuration(issuer: issuer), deliveryInterval: .milliseconds(100))
            try await harness.run { wire in try await body(wire, fake) }
        }
    }

    /// The browser's way: the programmer's authenticate link, Tessera's login path (a redirect to
    /// the provider), the provider (which signs it in at once), and back to Tessera's callback.
    /// Returns the callback's answer.
    static func throughProvider(_ wire: Wire, _ fake: FakeOpenIDProvider, code: String, browser: Browser) async throws -> Reply {
        let start = try await browser.get(wire.authenticateURI(code: code, provider: providerID))
        try #require(start.status == .found, "authenticate: \(start.status) \(start.body)")
        let login = try #require(start.header("Location"))
        let toProvider = try await browser.get(login)
        try #require(toProvider.status == .found, "login: \(toProvider.status) \(toProvider.body)")
        let authorization = try #require(toProvider.header("Location"))
        let query = try #require(URLComponents(string: authorization)?.queryItems)
        #expect(query.first { $0.name == "code_challenge_method" }?.value == "S256")
        #expect(query.first { $0.name == "scope" }?.value == "openid offline_access")
        #expect(query.first { $0.name == "state" }?.value == URLComponents(string: login)?.queryItems?.first { $0.name == "state" }?.value)
        let back = try fake.visit(authorization)
        #expect(back.hasPrefix("http://localhost/idp/\(providerID)/callback?"))
        return try await browser.get(String(back.dropFirst("http://localhost".count)))
    }

    @Test func aV1DeviceSignsInThroughTheProviderAndIsDecidedByItsClaims() async throws {
        try await Self.running { wire, fake in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "oidc-tv-1")
            let browser = Browser(wire)
            let confirm = try await Self.throughProvider(wire, fake, code: code, browser: browser)
            #expect(confirm.status == .ok)
            #expect(confirm.body.contains("action=\"/idp/\(Self.providerID)/confirm\""))
            #expect(confirm.body.contains("upstream-user-1"))
            let done = try await browser.submit(confirm, [("decision", "confirm")])
            #expect(done.status == .seeOther)
            #expect(done.header("Location") == "https://www.adobe.com/activated")

            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("oidc-tv-1"), headers: auth)
            #expect(check.status == .ok)
            // From the `channels` claim, and ESPN from the rule on `groups`.
            for resource in ["CNN", "HBO", "ESPN"] {
                let permit = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("oidc-tv-1", extra: [("resource", resource)]), headers: auth)
                #expect(permit.status == .ok, "\(resource): \(permit.body)")
            }
            let deny = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("oidc-tv-1", extra: [("resource", "FOX")]), headers: auth)
            #expect(deny.status == .forbidden)
            let metadata = try await wire.send(.get, "/api/v1/tokens/usermetadata" + wire.deviceQuery("oidc-tv-1"), headers: auth)
            #expect(metadata.status == .ok)
            // `zip` in clear; `householdID` RSA-encrypted, as REF30 asks of every provider's metadata.
            #expect(metadata.body.contains("\"zip\":\"10001\"") && metadata.body.contains("\"encrypted\":[\"householdID\"]"), "\(metadata.body)")

            // What the store keeps: the claims, the provider's sid, the tokens sealed (not in clear).
            let session = try #require(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "oidc-tv-1")))
            #expect(session.subject == Subject(userID: "upstream-user-1", providerID: Self.providerID))
            let upstream = try #require(try await wire.store.upstreamLogin(sessionID: session.id))
            #expect(upstream.providerSessionID == "sid-1")
            #expect(upstream.subjectID == "upstream-user-1")
            #expect(upstream.claims.entitlements == ["CNN", "HBO", "ESPN"])
            let sealing = try #require(Fixture.configuration.keySealing)
            let refresh = try #require(upstream.sealedRefreshToken)
            let opened = String(decoding: try sealing.open(refresh, for: .upstreamToken(sessionID: session.id, kind: "refresh_token")), as: UTF8.self)
            #expect(opened.hasPrefix("rt-"))
            #expect(!String(decoding: refresh, as: UTF8.self).contains("rt-"))

            // Logout ends the session and its upstream row with it.
            let logout = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("oidc-tv-1"), headers: auth)
            #expect(logout.status == .noContent)
            #expect(try await wire.store.upstreamLogin(sessionID: session.id) == nil)
        }
    }

    @Test func aV2DeviceSignsInThroughTheProvider() async throws {
        try await Self.running { wire, fake in
            let tv = try await wire.v2(answers: V2Answers()).device("oidc-v2-1")
            let session = try await tv.post("/api/v2/REF30/sessions", form: [
                ("mvpd", Self.providerID), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com/done")])
            try #require(session.status == .ok, "sessions: \(session.status) \(session.body)")
            let url = try #require(session.json["url"] as? String)
            let browser = Browser(wire)
            let start = try await browser.get(url)
            try #require(start.status == .found, "authenticate: \(start.status) \(start.body)")
            let toProvider = try await browser.get(try #require(start.header("Location")))
            try #require(toProvider.status == .found, "\(toProvider.status) \(toProvider.body)")
            let back = try fake.visit(try #require(toProvider.header("Location")))
            let confirm = try await browser.get(String(back.dropFirst("http://localhost".count)))
            #expect(confirm.status == .ok)
            let done = try await browser.submit(confirm, [("decision", "confirm")])
            #expect(done.status == .seeOther)
            #expect(done.header("Location") == "https://adobe.com/done")
            let profile = try await tv.get("/api/v2/REF30/profiles/\(Self.providerID)")
            #expect(profile.status == .ok, "\(profile.body)")
            #expect(profile.body.contains("\"value\":\"10001\"") && profile.body.contains("\"value\":\"upstream-user-1\""), "\(profile.body)")
            for (resource, authorized) in [("HBO", true), ("ESPN", true), ("FOX", false)] {
                let decided = try await tv.post("/api/v2/REF30/decisions/authorize/\(Self.providerID)", json: #"{"resources":["\#(resource)"]}"#)
                let decisions = try #require(decided.json["decisions"] as? [[String: Any]], "\(decided.body)")
                #expect(decisions.first?["authorized"] as? Bool == authorized, "\(resource): \(decided.body)")
            }
        }
    }

    /// Each way the provider's answer can fail: the pages' error (403, or 502 when it is down),
    /// no session, and the code still usable for a second try.
    @Test(arguments: [
        (FakeOpenIDProvider.Fault.deny, HTTPResponse.Status.forbidden),
        (.badSignature, .forbidden), (.wrongAudience, .forbidden), (.wrongNonce, .forbidden), (.expired, .forbidden),
        (.algorithmNone, .forbidden), (.hmacWithPublicKey, .forbidden), (.unpublishedKey, .forbidden), (.serverError, .badGateway), (.slow, .badGateway),
    ])
    func aFailedSignInAtTheProviderStoresNothing(fault: FakeOpenIDProvider.Fault, status: HTTPResponse.Status) async throws {
        try await Self.running { wire, fake in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "oidc-bad-1")
            fake.set(fault)
            let answer = try await Self.throughProvider(wire, fake, code: code, browser: Browser(wire))
            #expect(answer.status == status, "\(fault): \(answer.body)")
            #expect(answer.body.contains("<h1>") && !answer.body.contains("action=\"/idp/\(Self.providerID)/confirm\""))
            #expect(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "oidc-bad-1")) == nil)
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("oidc-bad-1"), headers: auth)
            #expect(check.status == .forbidden)
            // The same code signs in once the provider behaves.
            fake.set(.none)
            let confirm = try await Self.throughProvider(wire, fake, code: code, browser: Browser(wire))
            #expect(confirm.status == .ok)
            #expect(try await Browser(wire).submit(confirm, [("decision", "confirm")]).status == .forbidden) // another browser's form
        }
    }

    /// A provider that cannot be reached: the login path answers 502 at once, nothing stored.
    @Test func anUnreachableProviderIsABadGateway() async throws {
        try await Self.running { wire, _ in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "oidc-gone-1")
            let browser = Browser(wire)
            let start = try await browser.get(wire.authenticateURI(code: code, provider: "Gone"))
            try #require(start.status == .found)
            let login = try await browser.get(try #require(start.header("Location")))
            #expect(login.status == .badGateway)
            #expect(login.body.contains("Provider unavailable"))
            #expect(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "oidc-gone-1")) == nil)
        }
    }

    /// A provider that rotated its key: a token under the new kid reads the JWKS again.
    @Test func aRotatedKeyIsFetchedWhenATokenNamesIt() async throws {
        try await Self.running { wire, fake in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let first = try await wire.registrationCode(auth, deviceID: "oidc-rot-1")
            let browser = Browser(wire)
            #expect(try await Self.throughProvider(wire, fake, code: first, browser: browser).status == .ok)
            try fake.rotate()
            let second = try await wire.registrationCode(auth, deviceID: "oidc-rot-2")
            // The kept key set lacks the new kid and was read under 10 s ago: refused…
            #expect(try await Self.throughProvider(wire, fake, code: second, browser: browser).status == .forbidden)
            // … and read again once that is past.
            wire.clock.advance(by: 11)
            fake.clock.advance(by: 11)
            let confirm = try await Self.throughProvider(wire, fake, code: second, browser: browser)
            #expect(confirm.status == .ok, "\(confirm.body)")
        }
    }

    /// The callback without the browser that started the attempt, or with another attempt's
    /// state, gets nowhere.
    @Test func aCallbackInAnotherBrowserIsRefused() async throws {
        try await Self.running { wire, fake in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "oidc-steal-1")
            let victim = Browser(wire)
            let start = try await victim.get(wire.authenticateURI(code: code, provider: Self.providerID))
            let toProvider = try await victim.get(try #require(start.header("Location")))
            let back = try fake.visit(try #require(toProvider.header("Location")))
            let path = String(back.dropFirst("http://localhost".count))
            // An attacker's browser with its own cookie: its nonce and verifier are not the attempt's.
            let attacker = Browser(wire)
            _ = try await attacker.get("/activate")
            let stolen = try await attacker.get(path)
            #expect(stolen.status == .forbidden || stolen.status == .badRequest, "\(stolen.status)")
            #expect(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "oidc-steal-1")) == nil)
            let noCookie = try await wire.send(.get, path)
            #expect(noCookie.status == .forbidden)
        }
    }

    // MARK: Logout that reaches the provider and the programmer

    /// Polls `condition` until it holds, for at most `seconds`.
    static func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async throws -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// A v1 device signed in through the provider; its device headers.
    static func signedIn(_ wire: Wire, _ fake: FakeOpenIDProvider, deviceID: String) async throws -> HTTPFields {
        let auth = wire.deviceHeaders(try await wire.bearer())
        let code = try await wire.registrationCode(auth, deviceID: deviceID)
        let browser = Browser(wire)
        let confirm = try await throughProvider(wire, fake, code: code, browser: browser)
        try #require(confirm.status == .ok, "\(confirm.body)")
        try #require(try await browser.submit(confirm, [("decision", "confirm")]).status == .seeOther)
        return auth
    }

    /// A logout token Tessera sent a programmer, verified with Tessera's published JWKS.
    static func verifiedProgrammerToken(_ token: String, wire: Wire, tenant: String = "REF30") async throws -> TokenAuthority.LogoutTokenClaims {
        let header = try #require(Data(lenientBase64: token.split(separator: ".")[0]))
        #expect(String(decoding: header, as: UTF8.self).contains("\"typ\":\"logout+jwt\""))
        let keys = JWTKeyCollection()
        try await keys.add(jwks: wire.services.tokens.jwks)
        let claims = try await keys.verify(token, as: TokenAuthority.LogoutTokenClaims.self)
        #expect(claims.aud.value == [tenant])
        #expect(claims.iss.value == TokenAuthority.issuer)
        #expect(claims.events.keys.sorted() == [TokenAuthority.LogoutTokenClaims.event])
        return claims
    }

    /// A logout ends the session at once; the refresh token Tessera held is revoked at the
    /// provider, and the programmer's services get a signed logout token naming the session.
    @Test func aLogoutRevokesTheRefreshTokenAndTellsTheProgrammer() async throws {
        try await Self.running { wire, fake in
            let auth = try await Self.signedIn(wire, fake, deviceID: "oidc-out-1")
            let session = try #require(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "oidc-out-1")))
            let upstream = try #require(try await wire.store.upstreamLogin(sessionID: session.id))
            let sealing = try #require(Fixture.configuration.keySealing)
            let refresh = String(decoding: try sealing.open(try #require(upstream.sealedRefreshToken),
                                                           for: .upstreamToken(sessionID: session.id, kind: "refresh_token")), as: UTF8.self)
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("oidc-out-1"), headers: auth).status == .noContent)
            #expect(try await Self.eventually { fake.revoked == [refresh] })
            #expect(try await Self.eventually { fake.received.count == 1 })
            let claims = try await Self.verifiedProgrammerToken(try #require(fake.received.first), wire: wire)
            #expect(claims.sid == session.id.uuidString.lowercased())
            #expect(claims.sub.value == "upstream-user-1")
            #expect(claims.mvpd == Self.providerID)
            #expect(try await Self.eventually { try await wire.store.pendingLogoutDeliveries() == 0 })
        }
    }

    /// The provider's revocation endpoint down: the revocation waits in the store and is tried
    /// again with backoff until it goes through.
    @Test func aRevocationIsTriedAgainUntilTheProviderTakesIt() async throws {
        try await Self.running { wire, fake in
            let auth = try await Self.signedIn(wire, fake, deviceID: "oidc-retry-1")
            fake.setRevocationDown(true)
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("oidc-retry-1"), headers: auth).status == .noContent)
            #expect(try await Self.eventually { fake.revocationCalls >= 1 })
            #expect(try await wire.store.pendingLogoutDeliveries() >= 1)
            fake.setRevocationDown(false)
            // Not before its backoff (1 s of Tessera's clock) has passed…
            try await Task.sleep(for: .milliseconds(1500))
            #expect(fake.revoked.isEmpty)
            wire.clock.advance(by: 2)
            #expect(try await Self.eventually { fake.revoked.count == 1 })
        }
    }

    /// The provider's back-channel logout ends the Tessera sessions of its `sid` (once: a replay is
    /// refused) and tells the programmer; a token that does not hold is a 400 and ends nothing.
    @Test func aBackChannelLogoutFromTheProviderEndsItsSessions() async throws {
        try await Self.running { wire, fake in
            let auth = try await Self.signedIn(wire, fake, deviceID: "oidc-bcl-1")
            let path = "/idp/\(Self.providerID)/backchannel-logout"
            func post(_ token: String) async throws -> Reply { try await wire.form(.post, path, [("logout_token", token)]) }
            let spoiled: [(String, String)] = [
                ("another audience", try fake.logoutToken { $0["aud"] = "someone-else" }),
                ("another issuer", try fake.logoutToken { $0["iss"] = "https://evil.example" }),
                ("a nonce", try fake.logoutToken { $0["nonce"] = "n" }),
                ("no event", try fake.logoutToken { $0["events"] = ["other": [String: String]()] }),
                ("an old iat", try fake.logoutToken { $0["iat"] = Int(fake.clock.now().timeIntervalSince1970) - 600 }),
                ("an expired token", try fake.logoutToken { $0["exp"] = Int(fake.clock.now().timeIntervalSince1970) - 1 }),
                ("no jti", try fake.logoutToken { $0["jti"] = nil }),
                ("neither sid nor sub", try fake.logoutToken(sid: nil)),
                ("another typ", try fake.logoutToken(typ: "at+jwt")),
                ("a bad signature", String(try fake.logoutToken().dropLast(4)) + "AAAA"),
                ("not a JWT", "not-a-token"),
            ]
            for (what, token) in spoiled {
                let refused = try await post(token)
                #expect(refused.status == .badRequest, "\(what): \(refused.status) \(refused.body)")
                #expect(refused.json["error"] as? String == "invalid_request", "\(what)")
            }
            #expect(try await wire.form(.post, path, []).status == .badRequest)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("oidc-bcl-1"), headers: auth).status == .ok)

            let token = try fake.logoutToken(sid: "sid-1")
            let accepted = try await post(token)
            #expect(accepted.status == .ok, "\(accepted.body)")
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("oidc-bcl-1"), headers: auth).status == .forbidden)
            #expect(try await post(token).status == .badRequest) // the same jti again
            #expect(try await Self.eventually { fake.received.count == 1 })
            // By `sub` alone, with nothing left to end: still 200.
            #expect(try await post(try fake.logoutToken(sid: nil, sub: "upstream-user-1")).status == .ok)
        }
    }

    /// Each way a session of a tenant with a back-channel URI ends (v1 logout, REST v2 logout, an
    /// administrator's revoke, the provider's back-channel) tells the programmer once; a session
    /// that expires and is purged does not.
    @Test func everyLogoutKindTellsTheProgrammerButExpiryDoesNot() async throws {
        try await Self.running { wire, fake in
            // v1, at a directory provider: the programmer hears of sessions of every provider.
            let v1 = try await wire.signedIn(deviceID: "bc-v1")
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("bc-v1"), headers: v1).status == .noContent)
            #expect(try await Self.eventually { fake.received.count == 1 })
            // REST v2 logout of a profile.
            let tv = try await wire.v2(answers: V2Answers()).device("bc-v2")
            try await tv.signIn("Cablevision", username: "cv-full")
            #expect(try await tv.get("/api/v2/REF30/logout?redirectUrl=https%3A%2F%2Fadobe.com%2Fbye").status == .ok)
            #expect(try await Self.eventually { fake.received.count == 2 })
            // An administrator's revoke (sign out everywhere).
            _ = try await wire.signedIn(deviceID: "bc-admin")
            _ = try await wire.services.revoke(SessionSelector(tenantID: "REF30", .device("bc-admin")))
            #expect(try await Self.eventually { fake.received.count == 3 })
            // The provider's back-channel.
            _ = try await Self.signedIn(wire, fake, deviceID: "bc-oidc")
            #expect(try await wire.form(.post, "/idp/\(Self.providerID)/backchannel-logout", [("logout_token", try fake.logoutToken())]).status == .ok)
            #expect(try await Self.eventually { fake.received.count == 4 })
            var subjects: [String] = []
            for token in fake.received { subjects.append(try await Self.verifiedProgrammerToken(token, wire: wire).sub.value) }
            #expect(subjects == ["cv-user-full", "cv-user-full", "cv-user-full", "upstream-user-1"])
            // Meeting USG: a token deleted; OneAccess: a session logged out. Each to its own tenant.
            let usg = try await MeetingUSGTests.signIn(wire)
            #expect(try await MeetingUSGTests.delete(wire, token: try #require(usg["accessToken"] as? String)).status == .ok)
            #expect(try await Self.eventually { fake.received.count == 5 })
            _ = try await Self.verifiedProgrammerToken(fake.received[4], wire: wire, tenant: "meeting-demo")
            let sessionToken = try await OneAccessSDKTests.sessionToken(wire)
            let signedOut = try await OneAccessSDKTests.logout(wire, headers: try await OneAccessSDKTests.signed(wire, token: sessionToken))
            #expect(signedOut.status == .ok)
            #expect(try await Self.eventually { fake.received.count == 6 })
            _ = try await Self.verifiedProgrammerToken(fake.received[5], wire: wire, tenant: "sdk-demo")

            // Expiry: the purge removes the session, and nobody is told.
            _ = try await wire.signedIn(deviceID: "bc-expired")
            wire.clock.advance(by: 8 * 24 * 3600 + 24 * 3600 + 60)
            _ = try await wire.store.purgeExpired(now: wire.clock.now(), grace: 24 * 3600)
            #expect(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "bc-expired")) == nil)
            try await Task.sleep(for: .seconds(2))
            #expect(fake.received.count == 6)
        }
    }

    /// REST v2 logout's url goes through the provider's end_session_endpoint with the session's
    /// id_token as the hint, and comes back to the checked redirectUrl through Tessera's return page.
    @Test func aV2LogoutSendsTheBrowserThroughTheProvidersEndSession() async throws {
        try await Self.running { wire, fake in
            let tv = try await wire.v2(answers: V2Answers()).device("oidc-v2-out")
            let session = try await tv.post("/api/v2/REF30/sessions", form: [
                ("mvpd", Self.providerID), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com/done")])
            let browser = Browser(wire)
            let start = try await browser.get(try #require(session.json["url"] as? String))
            let toProvider = try await browser.get(try #require(start.header("Location")))
            let confirm = try await browser.get(String(try fake.visit(try #require(toProvider.header("Location"))).dropFirst("http://localhost".count)))
            try #require(try await browser.submit(confirm, [("decision", "confirm")]).status == .seeOther)

            let logout = try await tv.get("/api/v2/REF30/logout/\(Self.providerID)?redirectUrl=https%3A%2F%2Fadobe.com%2Fbye")
            #expect(logout.status == .ok, "\(logout.body)")
            let entry = try #require((logout.json["logouts"] as? [String: [String: Any]])?[Self.providerID])
            #expect(entry["actionName"] as? String == "logout")
            let url = try #require(entry["url"] as? String)
            #expect(url.hasPrefix("/idp/\(Self.providerID)/logout?requestor_id=REF30&redirect_url=https%3A%2F%2Fadobe.com%2Fbye&hint="))
            #expect(try await wire.liveSessions([.providerProfile]) == 0)

            let toEndSession = try await browser.get(url)
            #expect(toEndSession.status == .found)
            let (hint, clientID, back) = try fake.endSession(try #require(toEndSession.header("Location")))
            #expect(clientID == FakeOpenIDProvider.clientID)
            // The hint is the id_token the provider issued for this login (its sid).
            let payload = try #require(hint.flatMap { Data(lenientBase64: $0.split(separator: ".")[1]) })
            #expect((try JSONSerialization.jsonObject(with: payload) as? [String: Any])?["sid"] as? String == "sid-1")
            let returned = try #require(back)
            #expect(returned.hasPrefix("http://localhost/idp/\(Self.providerID)/logged-out?state="))
            let landed = try await browser.get(String(returned.dropFirst("http://localhost".count)))
            #expect(landed.status == .seeOther)
            #expect(landed.header("Location") == "https://adobe.com/bye")

            // A return state Tessera did not seal sends nobody anywhere.
            let forged = try await browser.get("/idp/\(Self.providerID)/logged-out?state=AAAA")
            #expect(forged.status == .ok && forged.header("Location") == nil)
            // Without a hint (another browser, a link): the provider is asked without one.
            let bare = try await browser.get("/idp/\(Self.providerID)/logout?requestor_id=REF30&redirect_url=https%3A%2F%2Fadobe.com%2Fbye")
            #expect(try fake.endSession(try #require(bare.header("Location"))).hint == nil)
            // A redirect outside the tenant's domains is refused before the provider is involved.
            let foreign = try await browser.get("/idp/\(Self.providerID)/logout?requestor_id=REF30&redirect_url=https%3A%2F%2Fevil.example%2F")
            #expect(foreign.status == .badRequest && foreign.header("Location") == nil)
        }
    }
}
