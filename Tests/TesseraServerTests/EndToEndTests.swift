import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Steps 2-6 of the device login over HTTP against a real server on a loopback port.
@Suite struct EndToEndTests {
    @Test func deviceLoginThroughLogout() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            // 2. Dynamic Client Registration.
            let auth = try await wire.bearer()
            let jwks = try await wire.send(.get, "/o/client/jwks")
            #expect(jwks.status == .ok)
            #expect(Set((jwks.json["keys"] as? [[String: Any]] ?? []).compactMap { $0["alg"] as? String }) == ["RS256", "ES256"])

            // 3. A registration code, read back.
            let code = try await wire.registrationCode(auth, deviceID: "roku-1", extra: [("deviceUser", "ann")])
            let record = try await wire.send(.get, "/reggie/v1/REF30/regcode/\(code.lowercased())", headers: wire.deviceHeaders(auth))
            #expect(record.status == .ok)
            #expect(record.json["code"] as? String == code)
            #expect((record.json["info"] as? [String: Any])?["deviceId"] as? String == Data("roku-1".utf8).base64EncodedString())

            // 5 (before login). Not yet authenticated.
            let early = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("roku-1"), headers: wire.deviceHeaders(auth))
            #expect(early.status == .forbidden)

            // 4. The second screen: providers listed, browser login at Cablevision.
            let providers = try await wire.send(.get, "/api/v1/config/REF30.json", headers: auth)
            let list = (((providers.json["requestor"] as? [String: Any])?["mvpds"] as? [String: Any])?["mvpd"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(list == ["Cablevision", "Dish", "Spectrum", "Comcast_SSO", "ATTOTT", "TempPass_5mins", "TempPass_promo"])
            let browser = Browser(wire)
            let landed = try await wire.browserLogin(code: code, browser: browser)
            #expect(landed.status == .seeOther)
            #expect(landed.header("Location") == "https://www.adobe.com/activated")
            #expect(browser.cookies["tessera_idp"] != nil) // set with the confirmation page, once the password was right

            // 5. The device and the second screen see it.
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("roku-1"), headers: wire.deviceHeaders(auth))
            #expect(check.status == .ok)
            let byCode = try await wire.send(.get, "/api/v1/checkauthn/\(code)?requestor=REF30", headers: wire.deviceHeaders(auth))
            #expect(byCode.status == .ok)
            let authn = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("roku-1"), headers: wire.deviceHeaders(auth))
            #expect(authn.status == .ok)
            #expect(authn.json["userId"] as? String == "cv-user-full")
            #expect(authn.json["mvpd"] as? String == "Cablevision")
            #expect(authn.json["requestor"] as? String == "REF30")
            let expires = Fixture.start.addingTimeInterval(604_800).epochMilliseconds
            #expect(authn.json["expires"] as? String == String(expires))
            let older = try await wire.send(.get, "/api/v1/authenticate/\(code)?requestor=REF30", headers: wire.deviceHeaders(auth))
            #expect(older.status == .ok)
            #expect(older.json["userId"] as? String == "cv-user-full")
            // Another device of the same tenant is not signed in.
            let other = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("roku-2"), headers: wire.deviceHeaders(auth))
            #expect(other.status == .forbidden)

            // 6. Logout: 204, no body, and the device is as if it never signed in.
            let logout = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("roku-1"), headers: wire.deviceHeaders(auth))
            #expect(logout.status == .noContent)
            #expect(logout.body.isEmpty)
            try await expectSignedOut(wire, auth: auth, deviceID: "roku-1", code: code)
            try await expectSignedOut(wire, auth: auth, deviceID: "never-signed-in", code: nil)
        }
        #expect(try await harness.count("session") == 0)
        #expect(try await harness.count("decision") == 0)
    }

    /// What a device that never signed in gets, in both formats.
    func expectSignedOut(_ wire: Wire, auth: HTTPFields, deviceID: String, code: String?) async throws {
        for json in [true, false] {
            let headers = wire.deviceHeaders(auth, json: json)
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(deviceID), headers: headers)
            #expect(check.status == .forbidden)
            let authn = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery(deviceID), headers: headers)
            #expect(authn.status == .notFound)
            let authz = try await wire.send(.get, "/api/v1/tokens/authz" + wire.deviceQuery(deviceID, extra: [("resource", "CNN")]), headers: headers)
            #expect(authz.status == .preconditionFailed)
            if json {
                #expect(check.json["code"] as? String == "authentication_session_missing")
                #expect(authn.json["message"] as? String == "Not Found")
                #expect(authz.json["message"] as? String == "User not authenticated")
            } else {
                #expect(check.body.contains("<code>authentication_session_missing</code>"))
            }
            if let code {
                let byCode = try await wire.send(.get, "/api/v1/checkauthn/\(code)?requestor=REF30", headers: headers)
                #expect(byCode.status == .forbidden)
            }
        }
    }

    @Test func stateSurvivesARestartBetweenLoginAndLogout() async throws {
        let harness = try Harness()
        let saved = SavedAuth()
        try await harness.run { wire in
            let auth = try await wire.bearer()
            await saved.set(auth)
            let code = try await wire.registrationCode(auth, deviceID: "tv-restart")
            try await wire.browserLogin(code: code, provider: "Dish", username: "dish-basic", password: "dish-basic-demo")
        }
        // A new process over the same data folder: the session and the signing keys are still there.
        try await harness.run { wire in
            let auth = try #require(await saved.value)
            let authn = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("tv-restart"), headers: wire.deviceHeaders(auth))
            #expect(authn.status == .ok)
            #expect(authn.json["userId"] as? String == "dish-user-basic")
            let logout = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("tv-restart"), headers: wire.deviceHeaders(auth))
            #expect(logout.status == .noContent)
        }
        try await harness.run { wire in
            let auth = try #require(await saved.value)
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv-restart"), headers: wire.deviceHeaders(auth))
            #expect(check.status == .forbidden)
        }
    }

    @Test func activationPageAndProviderSession() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.bearer()
            let page = try await wire.send(.get, "/activate")
            #expect(page.status == .ok)
            #expect(page.body.contains("Activate Reference site"))
            #expect(page.body.contains("<option value=\"Comcast_SSO\">Xfinity (Comcast)</option>"))
            #expect(page.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)

            let code = try await wire.registrationCode(auth, deviceID: "tv-activate")
            let browser = Browser(wire)
            let form = try await browser.get("/activate?requestor=REF30")
            #expect(browser.cookies["tessera_browser"] != nil)
            let wrong = try await browser.submit(form, [("code", "ZZZZZZZ"), ("provider", "Spectrum")])
            #expect(wrong.status == .badRequest)
            #expect(wrong.body.contains("This code is not valid"))
            // Typed in lower case, with a hyphen.
            let typed = code.lowercased().prefix(3) + "-" + code.lowercased().dropFirst(3)
            let go = try await browser.submit(wrong, [("code", String(typed)), ("provider", "Spectrum")])
            #expect(go.status == .seeOther)
            let login = try #require(go.header("Location"))
            let loginPage = try await browser.get(login)
            let bad = try await browser.submit(loginPage, [("username", "spectrum-full"), ("password", "nope")])
            #expect(bad.status == .unauthorized)
            #expect(bad.body.contains("Wrong username or password."))
            let good = try await browser.submit(bad, [("username", "spectrum-full"), ("password", "spectrum-full-demo")])
            // Signed in at the provider; the device is not signed in until the subscriber confirms it.
            #expect(good.status == .ok)
            #expect(good.body.contains("Activate Reference site on this device?"))
            #expect(good.body.contains("Roku Ultra (Roku OS)"))
            #expect(good.body.contains("From network: this machine"))
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv-activate"), headers: wire.deviceHeaders(auth)).status == .forbidden)
            let confirmed = try await browser.submit(good, [("decision", "confirm")])
            #expect(confirmed.status == .seeOther)
            #expect(confirmed.header("Location") == "/activate/done?requestor=REF30")
            #expect(browser.cookies["tessera_idp"] != nil)
            let done = try await browser.get("/activate/done?requestor=REF30")
            #expect(done.body.contains("Reference site is activated"))
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv-activate"), headers: wire.deviceHeaders(auth)).status == .ok)

            // Logout at Tessera does not end the provider's browser session (seed 000): a second
            // device signs in there without a password, until the provider's own logout page;
            // the subscriber still confirms the device.
            let logout = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("tv-activate"), headers: wire.deviceHeaders(auth))
            #expect(logout.status == .noContent)
            let second = try await wire.registrationCode(auth, deviceID: "tv-second")
            let start = try await browser.get(wire.authenticateURI(code: second, provider: "Spectrum"))
            let ssoLocation = try #require(start.header("Location"))
            let sso = try await browser.get(ssoLocation)
            #expect(sso.status == .ok)
            #expect(!sso.body.contains("password"))
            let ssoConfirmed = try await browser.submit(sso, [("decision", "confirm")])
            #expect(ssoConfirmed.status == .seeOther)
            #expect(ssoConfirmed.header("Location") == "https://www.adobe.com/activated")
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv-second"), headers: wire.deviceHeaders(auth))
            #expect(check.status == .ok)
            // Dish has no logout endpoint; Cablevision has.
            #expect(try await wire.send(.get, "/idp/Dish/logout").status == .notFound)
            #expect(try await wire.send(.get, "/idp/Cablevision/logout").status == .ok)
        }
    }

    @Test func legacySignedRequests() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let now = wire.clock.now().epochMilliseconds
            func header(_ method: String, uri: String, nonce: String, time: Int64 = now, key: String = "ref30-demo-private-key-not-secret",
                        requestor: String = "REF30") -> HTTPFields {
                let signed = "\(method) requestor_id=\(requestor), nonce=\(nonce), signature_method=HMAC-SHA1, request_time=\(time), request_uri=\(uri)"
                let signature = LegacySignature.sign(signed, key: key)
                return [.authorization: "\(signed), public_key=ref30-demo-public-key, signature=\(signature)", .accept: "application/json"]
            }
            let created = try await wire.send(.post, "/reggie/v1/REF30/regcode" + Wire.query([("deviceId", "espn-1"), ("deviceType", "appletv"), ("ttl", "1800")]),
                                              headers: header("POST", uri: "/regcode", nonce: "n-1"))
            #expect(created.status == .created)
            let replay = try await wire.send(.post, "/reggie/v1/REF30/regcode?deviceId=espn-1", headers: header("POST", uri: "/regcode", nonce: "n-1"))
            #expect(replay.status == .unauthorized)
            #expect(replay.json["details"] as? String == "the nonce was used before")
            let stale = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=espn-1",
                                            headers: header("GET", uri: "/checkauthn", nonce: "n-2", time: now - 3_600_000))
            #expect(stale.status == .unauthorized)
            let seconds = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=espn-1",
                                              headers: header("GET", uri: "/checkauthn", nonce: "n-3", time: now / 1000))
            #expect(seconds.status == .unauthorized)
            let forged = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=espn-1",
                                             headers: header("GET", uri: "/checkauthn", nonce: "n-4", key: "guess"))
            #expect(forged.status == .unauthorized)
            let wrongMethod = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=espn-1",
                                                  headers: header("POST", uri: "/checkauthn", nonce: "n-5"))
            #expect(wrongMethod.status == .unauthorized)
            let ok = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=espn-1", headers: header("GET", uri: "/checkauthn", nonce: "n-6"))
            #expect(ok.status == .forbidden) // authenticated caller, device not signed in
            let logout = try await wire.send(.delete, "/api/v1/logout?requestor=REF30&deviceId=espn-1", headers: header("DELETE", uri: "/logout", nonce: "n-7"))
            #expect(logout.status == .noContent)
        }
    }
}

actor SavedAuth {
    var value: HTTPFields?
    func set(_ v: HTTPFields) { value = v }
}
