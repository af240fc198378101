import _CryptoExtras
import Foundation
import HTTPTypes
import JWTKit
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// The OneAccess user SDK API (huawei.md part A), seed 003 at its centre: over a real server on
/// loopback, on SQLite or PostgreSQL as the run says.
@Suite struct OneAccessSDKTests {
    static let clientID = "DRrYIqauawN0I8myTMoDTPys6ezGZxnm"
    static let templateClientID = "demo-isv-template-client"
    static let tenantID = "08f770f51f80d2f40f38c00cb199fd21"
    static let user = ("sdk-user", "sdk-user-demo")

    /// Seed 003's example headers (X-signature aside).
    static func headers(clientID: String = clientID, tenantID: String? = tenantID, language: String = "zh") -> HTTPFields {
        var headers: HTTPFields = [
            HTTPField.Name("X-operating-sys-version")!: "Android 10",
            HTTPField.Name("X-device-fingerprint")!: "156aysdna213sac",
            HTTPField.Name("X-device-ip")!: "10.10.10.1",
            HTTPField.Name("X-agent")!: "Mozilla/5.0 (Linux; Android 10; Redmi K30 Build/QKQ1.190825.002; wv) AppleWebKit/537.36",
            HTTPField.Name("X-L")!: language,
            HTTPField.Name("X-client-id")!: clientID,
        ]
        if let tenantID { headers[HTTPField.Name("X-tenant-id")!] = tenantID }
        return headers
    }

    static func signIn(_ wire: Wire, user: (String, String) = user, headers: HTTPFields = headers(),
                       path: String = "/api/v2/sdk/login") async throws -> Reply {
        var headers = headers
        headers[.contentType] = "application/json;charset=utf8"
        let body = try JSONSerialization.data(withJSONObject: ["user_name": user.0, "password": user.1])
        return try await wire.send(.post, path, headers: headers, body: String(decoding: body, as: UTF8.self))
    }

    static func sessionToken(_ wire: Wire, headers: HTTPFields = headers()) async throws -> String {
        let reply = try await signIn(wire, headers: headers)
        try #require(reply.status == .ok, "login: \(reply.status) \(reply.body)")
        return try #require(reply.json["session_token"] as? String)
    }

    /// The application's public key as `public-key` answers it.
    static func publicKey(_ wire: Wire, headers: HTTPFields = headers()) async throws -> _RSA.Encryption.PublicKey {
        let reply = try await wire.send(.get, "/api/v2/sdk/public-key", headers: headers)
        try #require(reply.status == .ok, "public-key: \(reply.body)")
        let text = try #require(reply.json["public_key"] as? String)
        let der = try #require(Data(base64Encoded: text))
        return try _RSA.Encryption.PublicKey(derRepresentation: der)
    }

    /// The server's timestamp as `server-date` answers it.
    static func serverTimestamp(_ wire: Wire, headers: HTTPFields = headers()) async throws -> String {
        let reply = try await wire.send(.get, "/api/v2/sdk/server-date", headers: headers)
        try #require(reply.status == .ok)
        return try #require(reply.json["timestamp"] as? String)
    }

    /// An X-signature as huawei.md A.6 builds it (BouncyCastle's OAEP: SHA-256, MGF1-SHA-256).
    static func signature(token: String, timestamp: String, nonce: String? = nil, key: _RSA.Encryption.PublicKey) throws -> String {
        let nonce = nonce ?? String(Int64(timestamp)!, radix: 16)
        let plaintext = "session_token=\(token)&timestamp=\(timestamp)&nonce=\(nonce)"
        return try key.encrypt(Data(plaintext.utf8), padding: .PKCS1_OAEP_SHA256).base64EncodedString()
    }

    static func signed(_ wire: Wire, token: String, headers: HTTPFields = headers(), nonce: String? = nil) async throws -> HTTPFields {
        var headers = headers
        headers[HTTPField.Name("X-signature")!] = try signature(token: token, timestamp: try await serverTimestamp(wire, headers: headers),
                                                                nonce: nonce, key: try await publicKey(wire, headers: headers))
        return headers
    }

    static func logout(_ wire: Wire, headers: HTTPFields) async throws -> Reply {
        try await wire.send(.get, "/api/v2/sdk/logout", headers: headers)
    }

    static func expectError(_ reply: Reply, _ code: String, status: HTTPResponse.Status = .badRequest, message: String? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(reply.json["error_code"] as? String == code, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(Set(reply.json.keys) == ["error_code", "error_msg"], "\(reply.body)", sourceLocation: sourceLocation)
        if let message { #expect(reply.json["error_msg"] as? String == message, sourceLocation: sourceLocation) }
    }

    // MARK: - Seed 003

    /// The seed's example request, headers as shown, with an X-signature made from the public
    /// key fetched over HTTP: 200, and the session is gone from the store; a second logout with
    /// a new signature is the seed's 400 `{error_code, error_msg}`.
    @Test func seed003LogoutAnswers200ThenTheSessionIsGone() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let token = try await Self.sessionToken(wire)
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)
            let reply = try await Self.logout(wire, headers: try await Self.signed(wire, token: token))
            #expect(reply.status == .ok, "\(reply.body)")
            #expect(reply.body == "\"success\"")
            #expect(reply.header("Content-Type") == "application/json;charset=UTF-8")
            #expect(try await harness.count("session", where: "kind = 'user'") == 0)

            let again = try await Self.logout(wire, headers: try await Self.signed(wire, token: token))
            Self.expectError(again, "SDK.COMMON.1005", message: "session_token已失效")
            let english = try await Self.logout(wire, headers: try await Self.signed(wire, token: token, headers: Self.headers(language: "en")))
            Self.expectError(english, "SDK.COMMON.1005", message: "The session_token has expired or is invalid.")
        }
    }

    // MARK: - Login and id tokens

    /// Login answers the documented fields; the id token is RS256, verifies against the JWKS
    /// Tessera serves, carries the documented claims with `api` as a JSON string; refresh gives a
    /// new one for the same user. `login/auth` answers the same way.
    @Test func loginAndRefreshGiveIDTokensVerifiableFromTheJWKS() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let reply = try await Self.signIn(wire)
            #expect(reply.status == .ok)
            #expect(reply.json["status"] as? String == "SUCCESS")
            #expect(reply.json["expire"] as? Int == 604_800)
            let token = try #require(reply.json["session_token"] as? String)
            #expect(token.count == 32 && token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
            let jwks = try await wire.send(.get, "/.well-known/jwks.json")
            let keys = JWTKeyCollection()
            try await keys.add(jwksJSON: jwks.body)
            let idToken = try #require(reply.json["id_token"] as? String)
            let claims = try await keys.verify(idToken, as: UserIDTokenClaims.self)
            #expect(claims.sub.value == "20210809000000001")
            #expect(claims.aud.value == [Self.clientID])
            #expect(claims.exp.value.timeIntervalSince(claims.iat.value) == 7200)
            #expect(claims.iat.value.timeIntervalSince(claims.nbf.value) == 120)
            let api = try #require(try JSONSerialization.jsonObject(with: Data(claims.api.utf8)) as? [String: String])
            #expect(api == ["name": "SDK User", "mobile": "+86-15900000000", "id": "20210809000000001", "userName": "sdk-user",
                            "email": "sdk-user@example.com"])

            wire.clock.advance(by: 60)
            let refreshed = try await wire.send(.post, "/api/v2/sdk/session-token/refresh-id-token", headers: try await Self.signed(wire, token: token))
            #expect(refreshed.status == .ok, "\(refreshed.body)")
            let refreshedToken = try #require(refreshed.json["id_token"] as? String)
            let again = try await keys.verify(refreshedToken, as: UserIDTokenClaims.self)
            #expect(again.sub.value == claims.sub.value && again.iat.value > claims.iat.value)
            // An id token is no bearer for the DCR-protected v1 API.
            let v1 = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("d1"),
                                         headers: [.authorization: "Bearer \(refreshed.json["id_token"] as? String ?? "")"])
            #expect(v1.status == .unauthorized)
            #expect(v1.body.contains("invalid_access_token_client_application"), "\(v1.body)")

            let auth = try await Self.signIn(wire, path: "/api/v2/sdk/login/auth")
            #expect(auth.status == .ok && auth.json["session_token"] as? String != token)
        }
    }

    /// server-date is epoch milliseconds as a string; public-key a bare base64 SPKI of a 2048-bit
    /// RSA key, one per application: the template application of another tenant has its own.
    @Test func serverDateAndPublicKeys() async throws {
        let harness = try Harness(configuration: try Self.configurationWithSecondISVTenant())
        try await harness.run { wire in
            let date = try await wire.send(.get, "/api/v2/sdk/server-date", headers: Self.headers())
            #expect(date.body == "{\"timestamp\":\"\(Fixture.start.epochMilliseconds)\"}")
            let regular = try await wire.send(.get, "/api/v2/sdk/public-key", headers: Self.headers())
            let text = try #require(regular.json["public_key"] as? String)
            #expect(!text.contains("\n") && !text.contains("BEGIN"))
            let der = try #require(Data(base64Encoded: text))
            let key = try _RSA.Encryption.PublicKey(derRepresentation: der)
            #expect(key.keySizeInBits == 2048)
            let template = try await wire.send(.get, "/api/v2/sdk/public-key", headers: Self.headers(clientID: Self.templateClientID))
            let otherTenant = try await wire.send(.get, "/api/v2/sdk/public-key",
                                                  headers: Self.headers(clientID: Self.templateClientID, tenantID: Self.secondTenantID))
            let keys = [regular, template, otherTenant].map { $0.json["public_key"] as? String }
            #expect(Set(keys.compactMap { $0 }).count == 3)
            // A template application is reached through X-tenant-id only.
            Self.expectError(try await wire.send(.get, "/api/v2/sdk/public-key", headers: Self.headers(clientID: Self.templateClientID, tenantID: nil)),
                             "SDK.COMMON.1012")
        }
    }

    static let secondTenantID = "1234567890abcdef1234567890abcdef"

    /// The fixture with a second tenant whose ISV template application has the demo's client id.
    static func configurationWithSecondISVTenant() throws -> TesseraConfiguration {
        try Fixture.configuration { tenants in
            var second = tenants.first { $0.id == "sdk-demo" }!
            second.id = "sdk-second"
            second.userSessions?.externalID = secondTenantID
            second.userSessions?.hosts = ["second.example"]
            second.userSessions?.applications = [SessionApplication(clientID: templateClientID, isTemplate: true)]
            tenants.append(second)
        }
    }

    // MARK: - Password expiry

    static func withStateToken(_ token: String, headers: HTTPFields = headers()) -> HTTPFields {
        var headers = headers
        headers[HTTPField.Name("X-state-token")!] = token
        headers[.contentType] = "application/json"
        return headers
    }

    static func update(_ wire: Wire, token: String, old: String, new: String, headers: HTTPFields = headers()) async throws -> Reply {
        let body = try JSONSerialization.data(withJSONObject: ["old_password": old, "new_password": new])
        return try await wire.send(.post, "/api/v2/sdk/pwd/update", headers: withStateToken(token, headers: headers),
                                   body: String(decoding: body, as: UTF8.self))
    }

    /// A password about to expire: PASSWORD_WARN with a state token and the policy in `data` (a
    /// JSON string), no session until pwd/skip-update, which works once. An expired one:
    /// PASSWORD_EXPIRED, no skipping; pwd/update checks the old password and the policy, then the
    /// new password is the one that signs in (the old one no longer does), and the state token is
    /// used up. Foreign, missing and late state tokens are refused; nothing is stored by a refusal.
    @Test func expiringAndExpiredPasswords() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let warned = try await Self.signIn(wire, user: ("sdk-password-expiring", "sdk-password-expiring-demo"))
            #expect(warned.status == .ok)
            #expect(warned.json["status"] as? String == "PASSWORD_WARN")
            #expect(warned.json["session_token"] == nil)
            let data = try #require(warned.json["data"] as? String)
            #expect(data == #"{"maxLength":32,"minLength":8,"regEx":"(?=.*[A-Za-z])(?=.*[0-9]).{8,32}"}"#)
            let warnToken = try #require(warned.json["state_token"] as? String)
            #expect(try await harness.count("session", where: "kind = 'user'") == 0)
            Self.expectError(try await wire.send(.get, "/api/v2/sdk/pwd/skip-update", headers: Self.headers()), "SDK.COMMON.1001",
                             message: "参数X-state-token不能为空")
            // Another application's call does not take it.
            Self.expectError(try await wire.send(.get, "/api/v2/sdk/pwd/skip-update",
                                                 headers: Self.withStateToken(warnToken, headers: Self.headers(clientID: Self.templateClientID))),
                             "SDK.COMMON.1005")
            let skipped = try await wire.send(.get, "/api/v2/sdk/pwd/skip-update", headers: Self.withStateToken(warnToken))
            #expect(skipped.status == .ok && skipped.json["status"] as? String == "SUCCESS" && skipped.json["session_token"] is String)
            Self.expectError(try await wire.send(.get, "/api/v2/sdk/pwd/skip-update", headers: Self.withStateToken(warnToken)), "SDK.COMMON.1005",
                             message: "X-state-token已失效")
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)

            let user = ("sdk-password-expired", "sdk-password-expired-demo")
            let stopped = try await Self.signIn(wire, user: user)
            #expect(stopped.json["status"] as? String == "PASSWORD_EXPIRED")
            let token = try #require(stopped.json["state_token"] as? String)
            Self.expectError(try await wire.send(.get, "/api/v2/sdk/pwd/skip-update", headers: Self.withStateToken(token)), "SDK.COMMON.1006")
            Self.expectError(try await Self.update(wire, token: token, old: "wrong-password", new: "Newpassw0rd"), "SDK.LOGIN.1005")
            Self.expectError(try await Self.update(wire, token: token, old: user.1, new: "short1", headers: Self.headers(language: "en")),
                             "SDK.COMMON.1006", message: "Parameter new_password is incorrect.")
            Self.expectError(try await Self.update(wire, token: token, old: user.1, new: "lettersonly"), "SDK.COMMON.1006")
            Self.expectError(try await Self.update(wire, token: "eyJhbGciOiJIUzI1NiJ9.e30.x", old: user.1, new: "Newpassw0rd"), "SDK.COMMON.1005")
            #expect(try await harness.count("password_change") == 0)
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)
            let changed = try await Self.update(wire, token: token, old: user.1, new: "Newpassw0rd")
            #expect(changed.status == .ok && changed.json["status"] as? String == "SUCCESS" && changed.json["session_token"] is String,
                    "\(changed.body)")
            #expect(try await harness.count("password_change") == 1)
            Self.expectError(try await Self.update(wire, token: token, old: "Newpassw0rd", new: "Other1passw0rd"), "SDK.COMMON.1005")
            Self.expectError(try await Self.signIn(wire, user: user), "SDK.LOGIN.1005")
            let after = try await Self.signIn(wire, user: (user.0, "Newpassw0rd"))
            #expect(after.json["status"] as? String == "SUCCESS")

            // A state token lasts ten minutes.
            let late = try #require(try await Self.signIn(wire, user: ("sdk-password-expiring", "sdk-password-expiring-demo")).json["state_token"] as? String)
            wire.clock.advance(by: 601)
            Self.expectError(try await wire.send(.get, "/api/v2/sdk/pwd/skip-update", headers: Self.withStateToken(late)), "SDK.COMMON.1005")
        }
    }

    // MARK: - Bad input

    /// Each mandatory header missing, and unknown applications and tenants: the documented codes,
    /// nothing stored.
    @Test func missingHeadersAndUnknownApplications() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            for name in ["X-operating-sys-version", "X-device-fingerprint", "X-agent"] {
                var headers = Self.headers()
                headers[HTTPField.Name(name)!] = nil
                Self.expectError(try await Self.signIn(wire, headers: headers), "SDK.COMMON.1003", message: "设备信息不完整")
                headers[HTTPField.Name(name)!] = "  "
                Self.expectError(try await wire.send(.get, "/api/v2/sdk/public-key", headers: headers), "SDK.COMMON.1003")
            }
            var headers = Self.headers(language: "en")
            headers[HTTPField.Name("X-client-id")!] = nil
            Self.expectError(try await Self.signIn(wire, headers: headers), "SDK.COMMON.1001", message: "Parameter X-client-id cannot be empty.")
            Self.expectError(try await Self.signIn(wire, headers: Self.headers(clientID: "no-such-application")), "SDK.COMMON.1012")
            Self.expectError(try await Self.signIn(wire, headers: Self.headers(tenantID: "ffffffffffffffffffffffffffffffff")), "SDK.COMMON.1012")
            // X-device-ip is optional.
            var withoutIP = Self.headers()
            withoutIP[HTTPField.Name("X-device-ip")!] = nil
            #expect(try await Self.signIn(wire, headers: withoutIP).status == .ok)
            // Bodies: missing fields, not JSON, too large.
            var json = Self.headers()
            json[.contentType] = "application/json"
            Self.expectError(try await wire.send(.post, "/api/v2/sdk/login", headers: json, body: #"{"password":"x"}"#), "SDK.COMMON.1001",
                             message: "参数user_name不能为空")
            Self.expectError(try await wire.send(.post, "/api/v2/sdk/login", headers: json, body: #"{"user_name":"sdk-user"}"#), "SDK.COMMON.1001")
            Self.expectError(try await wire.send(.post, "/api/v2/sdk/login", headers: json, body: "not json"), "SDK.COMMON.1007")
            Self.expectError(try await wire.send(.post, "/api/v2/sdk/login", headers: json, body: String(repeating: "a", count: 20_000)),
                             "SDK.COMMON.1007")
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)
        }
    }

    /// Wrong passwords count down the attempts left, then lock (the right password too) with the
    /// unlock time; after it, the user signs in. A disabled user is refused.
    @Test func wrongPasswordsCountDownThenLockUntilTheUnlockTime() async throws {
        var configuration = Fixture.configuration
        configuration.loginLimits.lockoutAttempts = 3
        configuration.loginLimits.lockoutDuration = 600
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            let user = "sdk-will-lock"
            Self.expectError(try await Self.signIn(wire, user: (user, "wrong")), "SDK.LOGIN.1005", message: "无效的用户名或密码。 剩余登录尝试次数:2")
            Self.expectError(try await Self.signIn(wire, user: (user, "wrong"), headers: Self.headers(language: "en")), "SDK.LOGIN.1005",
                             message: "Invalid username or password. Remaining attempts:1")
            Self.expectError(try await Self.signIn(wire, user: (user, "wrong")), "SDK.LOGIN.1003", message: "用户已被锁定,请10分0秒后重试")
            wire.clock.advance(by: 30)
            Self.expectError(try await Self.signIn(wire, user: (user, "sdk-will-lock-demo"), headers: Self.headers(language: "en")), "SDK.LOGIN.1003",
                             message: "The user is locked. Try again in 9 minutes 30 seconds.")
            wire.clock.advance(by: 571)
            #expect(try await Self.signIn(wire, user: (user, "sdk-will-lock-demo")).status == .ok)
            Self.expectError(try await Self.signIn(wire, user: ("sdk-disabled", "sdk-disabled-demo")), "SDK.LOGIN.1002")
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)
        }
    }

    /// Every way a proof can be wrong: missing, garbage, truncated, another application's key,
    /// replayed, stale, from the future, missing fields, another tenant's or a logged-out session.
    /// Each gets its code; the session stays, and no nonce is used up by a refused proof.
    @Test func badProofsAreRefusedAndLeaveNothingBehind() async throws {
        let harness = try Harness(configuration: try Self.configurationWithSecondISVTenant())
        try await harness.run { wire in
            let token = try await Self.sessionToken(wire)
            let key = try await Self.publicKey(wire)
            let now = String(Fixture.start.epochMilliseconds)
            func proof(_ signature: String) -> HTTPFields {
                var headers = Self.headers()
                headers[HTTPField.Name("X-signature")!] = signature
                return headers
            }
            let nonces = try await harness.count("nonce")
            Self.expectError(try await Self.logout(wire, headers: Self.headers()), "SDK.COMMON.1001", message: "参数X-signature不能为空")
            Self.expectError(try await Self.logout(wire, headers: proof("bm90IGEgY2lwaGVydGV4dA==")), "SDK.COMMON.1004", message: "签名解密错误")
            Self.expectError(try await Self.logout(wire, headers: proof("%%%not base64%%%")), "SDK.COMMON.1004")
            let good = try Self.signature(token: token, timestamp: now, key: key)
            Self.expectError(try await Self.logout(wire, headers: proof(String(good.dropLast(8)))), "SDK.COMMON.1004")
            Self.expectError(try await Self.logout(wire, headers: proof(String(repeating: "A", count: 5000))), "SDK.COMMON.1004")
            // Another application's key (the template application of the same tenant).
            let otherKey = try await Self.publicKey(wire, headers: Self.headers(clientID: Self.templateClientID))
            Self.expectError(try await Self.logout(wire, headers: proof(try Self.signature(token: token, timestamp: now, key: otherKey))),
                             "SDK.COMMON.1004")
            // Decrypts, but a field is missing or malformed.
            for text in ["session_token=\(token)&timestamp=\(now)", "session_token=\(token)&timestamp=12345&nonce=ab",
                         "session_token=\(token)&timestamp=\(now)&nonce=a&nonce=b", "garbage"] {
                let sealed = try key.encrypt(Data(text.utf8), padding: .PKCS1_OAEP_SHA256).base64EncodedString()
                Self.expectError(try await Self.logout(wire, headers: proof(sealed)), "SDK.COMMON.1002", message: "参数X-signature格式错误")
            }
            // Stale and future timestamps (more than 5 minutes off); 10-digit seconds are accepted.
            for offset in [-301_000, 301_000] as [Int64] {
                let stamp = String(Fixture.start.epochMilliseconds + offset)
                Self.expectError(try await Self.logout(wire, headers: proof(try Self.signature(token: token, timestamp: stamp, key: key))),
                                 "SDK.COMMON.1005", message: "timestamp已失效")
            }
            // Unknown tokens, and another tenant's session (same client id there is another application).
            Self.expectError(try await Self.logout(wire, headers: proof(try Self.signature(token: (token.first == "x" ? "y" : "x") + token.dropFirst(), timestamp: now, key: key))),
                             "SDK.COMMON.1005")
            let secondHeaders = Self.headers(clientID: Self.templateClientID, tenantID: Self.secondTenantID)
            let secondKey = try await Self.publicKey(wire, headers: secondHeaders)
            var foreign = secondHeaders
            foreign[HTTPField.Name("X-signature")!] = try Self.signature(token: token, timestamp: now, key: secondKey)
            Self.expectError(try await Self.logout(wire, headers: foreign), "SDK.COMMON.1005")
            #expect(try await harness.count("nonce") == nonces)
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)

            // A good proof works once: its replay is refused, though the session lives.
            let seconds = String(Fixture.start.epochMilliseconds / 1000)
            let once = proof(try Self.signature(token: token, timestamp: seconds, nonce: "n-1", key: key))
            #expect(try await wire.send(.post, "/api/v2/sdk/session-token/refresh-id-token", headers: once).status == .ok)
            Self.expectError(try await wire.send(.post, "/api/v2/sdk/session-token/refresh-id-token", headers: once), "SDK.COMMON.1006")
            Self.expectError(try await Self.logout(wire, headers: once), "SDK.COMMON.1006")
            #expect(try await harness.count("session", where: "kind = 'user'") == 1)

            // Logged out: any later proof for it is refused.
            #expect(try await Self.logout(wire, headers: proof(try Self.signature(token: token, timestamp: now, nonce: "n-2", key: key))).status == .ok)
            Self.expectError(try await wire.send(.post, "/api/v2/sdk/session-token/refresh-id-token",
                                                 headers: proof(try Self.signature(token: token, timestamp: now, nonce: "n-3", key: key))),
                             "SDK.COMMON.1005")
        }
    }

    /// An expired session is refused; so is a proof under a rotated-out key once its grace period
    /// is over (and accepted within it), while the new key works.
    @Test func expiredSessionsAndRotatedKeys() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let token = try await Self.sessionToken(wire)
            let oldKey = try await Self.publicKey(wire)
            let tenant = try #require(wire.services.directory.tenant("sdk-demo"))
            let rotated = try await wire.services.applicationKeys.rotate(tenantID: tenant.id, clientID: Self.clientID)
            let newKey = try await Self.publicKey(wire)
            #expect(newKey.derRepresentation == rotated.publicKeyDER && newKey.derRepresentation != oldKey.derRepresentation)
            func refresh(_ key: _RSA.Encryption.PublicKey, nonce: String) async throws -> Reply {
                var headers = Self.headers()
                headers[HTTPField.Name("X-signature")!] = try Self.signature(token: token, timestamp: try await Self.serverTimestamp(wire),
                                                                             nonce: nonce, key: key)
                return try await wire.send(.post, "/api/v2/sdk/session-token/refresh-id-token", headers: headers)
            }
            #expect(try await refresh(oldKey, nonce: "a").status == .ok)
            wire.clock.advance(by: UserSessionPolicy.defaultKeyGracePeriod + 1)
            Self.expectError(try await refresh(oldKey, nonce: "b"), "SDK.COMMON.1004")
            #expect(try await refresh(newKey, nonce: "c").status == .ok)
            wire.clock.advance(by: UserSessionPolicy.defaultSessionLifetime)
            Self.expectError(try await refresh(newKey, nonce: "d"), "SDK.COMMON.1005")
        }
    }

    /// The database holds no session token and no private key in the clear: the SQLite file
    /// (and its WAL) is searched for the token, the key's DER, and the DER's base64.
    @Test func aDumpHoldsNoSessionTokenAndNoPrivateKey() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let token = try await Self.sessionToken(wire)
            let tenant = try #require(wire.services.directory.tenant("sdk-demo"))
            let key = try await wire.services.applicationKeys.current(tenantID: tenant.id, clientID: Self.clientID)
            let dump = try await harness.dump()
            #expect(!dump.isEmpty)
            #expect(dump.range(of: Data(token.utf8)) == nil)
            // The DER ends with the private primes' CRT coefficient: secret bytes (its start is the
            // modulus, which the public key shares).
            #expect(!Harness.dump(dump, holds: key.privateKey.derRepresentation))
            // The public half is there, as it should be (raw, or in hex in pg_dump's bytea).
            #expect(Harness.dump(dump, holds: key.stored.publicKeyDER))
        }
    }

    /// A start with another key-encryption key than the one that sealed the application keys is
    /// refused, saying so, rather than failing at the first proof; without any, a configuration
    /// with user sessions does not start.
    @Test func aStartWithAnotherKeyEncryptionKeyIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { wire in _ = try await Self.publicKey(wire) }
        var options = ServerOptions(dataDirectory: harness.dataDirectory, configuration: harness.configuration)
        options.port = 0
        options.logLevel = .critical
        options.configuration.keySealing = try KeySealing(encoded: KeySealing.generateEncodedKey())
        do {
            _ = try await TesseraServerBuilder.build(options)
            Issue.record("a start with another key-encryption key was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("open with this key-encryption key"), "\(error)")
        }
        options.configuration.keySealing = nil
        do {
            _ = try await TesseraServerBuilder.build(options)
            Issue.record("a start without a key-encryption key was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("TESSERA_KEY_ENCRYPTION_KEY"), "\(error)")
        }
    }
}
