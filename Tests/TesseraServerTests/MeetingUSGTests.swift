import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// The Meeting USG token API (huawei.md part B), seed 004 at its centre: over a real server on
/// loopback, on SQLite or PostgreSQL as the run says.
@Suite struct MeetingUSGTests {
    static let account = ("meeting-user", "meeting-user-demo")
    static let appID = "demo-meeting-app-id"
    static let appKey = "demo-meeting-app-key-not-secret"

    static func basic(_ account: String, _ password: String) -> String {
        "Basic " + Data("\(account):\(password)".utf8).base64EncodedString()
    }

    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Signs the account in; returns the token object.
    static func signIn(_ wire: Wire, account: (String, String) = account, clientType: Int = 72,
                       headers extra: HTTPFields = [:]) async throws -> [String: Any] {
        var headers: HTTPFields = [.authorization: basic(account.0, account.1), .contentType: "application/json;charset=UTF-8"]
        for field in extra { headers[field.name] = field.value }
        let reply = try await wire.send(.post, "/v1/usg/acs/auth/account", headers: headers,
                                        body: json(["account": account.0, "clientType": clientType]))
        try #require(reply.status == .ok, "sign-in: \(reply.status) \(reply.body)")
        return reply.json
    }

    static func delete(_ wire: Wire, token: String, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers: HTTPFields = [HTTPField.Name("X-Access-Token")!: token]
        for field in extra { headers[field.name] = field.value }
        return try await wire.send(.delete, "/v1/usg/acs/token", headers: headers)
    }

    static func validate(_ wire: Wire, token: String, path: String = "/v1/usg/acs/token/validate", extra: [String: Any] = [:]) async throws -> Reply {
        try await wire.send(.post, path, headers: [.contentType: "application/json"],
                            body: json(["token": token, "needGenNewToken": false, "needAccountInfo": true].merging(extra) { $1 }))
    }

    static func refresh(_ wire: Wire, token: String) async throws -> Reply {
        try await wire.send(.put, "/v1/usg/acs/token", headers: [HTTPField.Name("X-Access-Token")!: token, .contentType: "application/json"])
    }

    /// Checks a USG error: status, code, the request id in the body and the header.
    static func expectError(_ reply: Reply, _ status: HTTPResponse.Status, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(reply.json["error_code"] as? String == code, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(!(reply.json["error_msg"] as? String ?? "").isEmpty, sourceLocation: sourceLocation)
        #expect(reply.json["request_id"] as? String == reply.header("X-Request-Id"), sourceLocation: sourceLocation)
        #expect(reply.header("X-Request-Id")?.isEmpty == false, sourceLocation: sourceLocation)
    }

    static func isHexID(_ text: String?) -> Bool {
        guard let text else { return false }
        return text.utf8.count == 32 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    // MARK: - Seed 004

    /// The seed's example request, headers as shown (Host, Connection, User-Agent), answers 200
    /// with `Content-Type: application/json;charset=UTF-8` and a 32-hex `X-Request-Id`; the token
    /// and its refresh token are gone from the store; a second delete and any later use are 401.
    @Test func seed004DeleteAnswers200AndTheTokenIsGone() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let token = try await Self.signIn(wire)
            let access = try #require(token["accessToken"] as? String)
            let refreshToken = try #require(token["refreshToken"] as? String)
            #expect(try await harness.count("session", where: "kind = 'access'") == 1)
            let reply = try await Self.delete(wire, token: access, headers: [
                .connection: "keep-alive", HTTPField.Name("Host")!: "api.meeting.huaweicloud.com",
                .userAgent: "Apache-HttpClient/4.5.3 (Java/1.8.0_191)"])
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type") == "application/json;charset=UTF-8")
            #expect(Self.isHexID(reply.header("X-Request-Id")), "\(reply.header("X-Request-Id") ?? "none")")
            #expect(try await harness.count("session", where: "kind = 'access'") == 0)

            Self.expectError(try await Self.delete(wire, token: access), .unauthorized, "USG.000000004")
            Self.expectError(try await Self.validate(wire, token: access), .unauthorized, "USG.000000004")
            Self.expectError(try await Self.refresh(wire, token: access), .unauthorized, "USG.000000004")
            Self.expectError(try await Self.refresh(wire, token: refreshToken), .unauthorized, "USG.000000004")
            #expect(try await harness.count("session") == 0)
        }
    }

    /// The seed's token text itself, never issued here, is an unknown token; so is the cURL form
    /// of the header (no space after the colon, which HTTP trims).
    @Test func seed004ExampleTokenIsUnknownHere() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            Self.expectError(try await Self.delete(wire, token: "stbo3vX1pyduWpSFsjMCmR93mJkfQGnohjvQ"), .unauthorized, "USG.000000004")
        }
    }

    @Test func requestIDsAreEchoedWhenWellFormedAndMadeOtherwise() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let echoed = try await Self.delete(wire, token: "unknown", headers: [HTTPField.Name("X-Request-ID")!: "3f2b-Trace_01.a"])
            #expect(echoed.header("X-Request-Id") == "3f2b-Trace_01.a")
            #expect(echoed.json["request_id"] as? String == "3f2b-Trace_01.a")
            for bad in ["has space", String(repeating: "a", count: 65), "quote\"d", "<script>"] {
                let made = try await Self.delete(wire, token: "unknown", headers: [HTTPField.Name("X-Request-ID")!: bad])
                #expect(Self.isHexID(made.header("X-Request-Id")), "\(bad)")
                #expect(made.json["request_id"] as? String == made.header("X-Request-Id"))
            }
            // Successful answers carry it too.
            let token = try await Self.signIn(wire, headers: [HTTPField.Name("X-Request-ID")!: "login-1"])
            #expect(token["accessToken"] != nil)
        }
    }

    @Test(arguments: [
        (nil as String?, false), ("zh-CN", false), ("en-US", true), ("en", true), ("en-GB,en;q=0.8", true), ("fr-FR", false), ("zh-CN,en;q=0.5", false),
    ])
    func acceptLanguageChoosesTheMessage(language: String?, english: Bool) async throws {
        let harness = try Harness()
        try await harness.run { wire in
            var headers: HTTPFields = [:]
            if let language { headers[.acceptLanguage] = language }
            let reply = try await Self.delete(wire, token: "unknown", headers: headers)
            Self.expectError(reply, .unauthorized, "USG.000000004")
            let message = reply.json["error_msg"] as? String ?? ""
            #expect(message == (english ? "The token is invalid or has expired." : "Token无效或已过期"), "\(language ?? "none")")
        }
    }

    // MARK: - Sign-in

    @Test func accountSignInAnswersTheTokenObject() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let token = try await Self.signIn(wire)
            let access = try #require(token["accessToken"] as? String)
            #expect(access.count == 40 && access.allSatisfy { $0.isLetter || $0.isNumber })
            #expect((token["refreshToken"] as? String)?.count == 40)
            #expect(token["refreshToken"] as? String != access)
            let now = Int64(wire.clock.now().timeIntervalSince1970)
            #expect(token["createTime"] as? Int64 == wire.clock.now().epochMilliseconds)
            #expect(token["expireTime"] as? Int64 == now + 86_400)
            #expect(token["validPeriod"] as? Int64 == 86_400)
            #expect(token["refreshExpireTime"] as? Int64 == now + 86_400)
            #expect(token["clientType"] as? Int == 72)
            #expect(token["tokenType"] as? Int == 0)
            #expect(token["tokenIp"] as? String == "127.0.0.1")
            let user = try #require(token["user"] as? [String: Any])
            #expect(user["userId"] as? String == "5f0c3b6a9e2d4c71a8b4e6f2d1c0a9b8")
            #expect(user["ucloginAccount"] as? String == "meeting-user")
            #expect(user["name"] as? String == "Meeting User")
            #expect(user["companyId"] as? String == "demo-corp")
            // Only digests are stored.
            #expect(try await harness.count("session", where: "kind = 'access' AND token_digest IS NOT NULL AND refresh_digest IS NOT NULL") == 1)
            let validated = try await Self.validate(wire, token: access)
            #expect(validated.status == .ok)
            #expect(validated.json["accessToken"] as? String == access)
            #expect(validated.json["refreshToken"] == nil)
            #expect((validated.json["user"] as? [String: Any])?["ucloginAccount"] as? String == "meeting-user")
            // The path Terraform uses.
            #expect(try await Self.validate(wire, token: access, path: "/v2/usg/acs/token/validate").status == .ok)
            let bare = try await Self.validate(wire, token: access, extra: ["needAccountInfo": false])
            #expect((bare.json["user"] as? [String: Any])?.keys.sorted() == ["userId"])
        }
    }

    @Test func createTokenTypeOneOnlyChecksTheCredentials() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let reply = try await wire.send(.post, "/v1/usg/acs/auth/account",
                                            headers: [.authorization: Self.basic("meeting-user", "meeting-user-demo"), .contentType: "application/json"],
                                            body: Self.json(["account": "meeting-user", "clientType": 72, "createTokenType": 1]))
            #expect(reply.status == .ok)
            #expect(reply.json["accessToken"] == nil)
            #expect((reply.json["user"] as? [String: Any])?["userId"] as? String == "5f0c3b6a9e2d4c71a8b4e6f2d1c0a9b8")
            #expect(try await harness.count("session") == 0)
        }
    }

    @Test func badSignInsAnswerTheirCodesAndStoreNothing() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            func post(_ authorization: String?, _ body: String) async throws -> Reply {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let authorization { headers[.authorization] = authorization }
                return try await wire.send(.post, "/v1/usg/acs/auth/account", headers: headers, body: body)
            }
            let body = Self.json(["account": "meeting-user", "clientType": 72])
            Self.expectError(try await post(nil, body), .badRequest, "USG.000000001")
            for malformed in ["Basic", "Basic !!!not-base64!!!", "Basic " + Data("no-colon".utf8).base64EncodedString(),
                              "Basic " + Data(":password".utf8).base64EncodedString(), "Bearer abc", "Basic " + Data([0xFF, 0x3A, 0x41]).base64EncodedString()] {
                Self.expectError(try await post(malformed, body), .badRequest, "USG.000000001")
            }
            Self.expectError(try await post(Self.basic("meeting-user", "wrong-password"), body), .unauthorized, "USG.206010000")
            Self.expectError(try await post(Self.basic("nobody", "meeting-user-demo"), Self.json(["account": "nobody"])), .unauthorized, "USG.206010000")
            // The body names another account than the Basic credentials.
            Self.expectError(try await post(Self.basic("meeting-user", "meeting-user-demo"), Self.json(["account": "meeting-will-lock"])),
                             .badRequest, "USG.000000001")
            for bad in [#"{"account":"meeting-user","clientType":"seventy"}"#, #"{"account":"meeting-user","clientType":-1}"#,
                        #"{"account":"meeting-user","clientType":true}"#, #"{"account":"meeting-user","createTokenType":7}"#,
                        "not json", #"["array"]"#, #"{"account":42}"#] {
                Self.expectError(try await post(Self.basic("meeting-user", "meeting-user-demo"), bad), .badRequest, "USG.000000001")
            }
            let huge = try await post(Self.basic("meeting-user", "meeting-user-demo"), #"{"account":"\#(String(repeating: "a", count: 20_000))"}"#)
            Self.expectError(huge, .badRequest, "USG.000000001")
            Self.expectError(try await post(Self.basic("meeting-disabled", "meeting-disabled-demo"), Self.json(["account": "meeting-disabled"])),
                             .preconditionFailed, "USG.206010007")
            #expect(try await harness.count("session") == 0)
        }
    }

    @Test func anAccountLocksAfterTheConfiguredFailures() async throws {
        var configuration = Fixture.configuration
        configuration.loginLimits.lockoutAttempts = 3
        configuration.loginLimits.addressFailures = 100
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            let body = Self.json(["account": "meeting-will-lock"])
            func attempt(_ password: String) async throws -> Reply {
                try await wire.send(.post, "/v1/usg/acs/auth/account", headers: [.authorization: Self.basic("meeting-will-lock", password),
                                                                                    .contentType: "application/json"], body: body)
            }
            Self.expectError(try await attempt("wrong-1"), .unauthorized, "USG.206010000")
            Self.expectError(try await attempt("wrong-2"), .unauthorized, "USG.206010000")
            Self.expectError(try await attempt("wrong-3"), HTTPResponse.Status(code: 423), "USG.412100010")
            // Locked: the right password too, until the lock ends.
            Self.expectError(try await attempt("meeting-will-lock-demo"), HTTPResponse.Status(code: 423), "USG.412100010")
            #expect(try await harness.count("session") == 0)
            wire.clock.advance(by: LoginLimits().lockoutDuration + 1)
            #expect(try await attempt("meeting-will-lock-demo").status == .ok)
        }
    }

    // MARK: - Refresh, limits, families

    /// A refresh gives a new pair in the same family; the old one lives on to its own expiry
    /// (the SDKs keep using it); a delete of any of them ends the family.
    @Test func refreshAddsAPairToTheFamilyAndADeleteEndsThemAll() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let first = try await Self.signIn(wire)
            let (access, refreshToken) = (try #require(first["accessToken"] as? String), try #require(first["refreshToken"] as? String))
            wire.clock.advance(by: 3600)
            // With the access token.
            let second = try await Self.refresh(wire, token: access)
            #expect(second.status == .ok)
            let access2 = try #require(second.json["accessToken"] as? String)
            #expect(access2 != access && second.json["refreshToken"] as? String != refreshToken)
            #expect(second.json["expireTime"] as? Int64 == Int64(wire.clock.now().timeIntervalSince1970) + 86_400)
            #expect(Self.isHexID(second.header("X-Request-Id")))
            let old = try await Self.validate(wire, token: access)
            #expect(old.status == .ok)
            let remaining: Int64 = 86_400 - 3600
            #expect((old.json["validPeriod"] as? NSNumber)?.int64Value == remaining)
            // With the refresh token.
            let third = try await Self.refresh(wire, token: refreshToken)
            #expect(third.status == .ok)
            let access3 = try #require(third.json["accessToken"] as? String)
            #expect(try await harness.count("session", where: "kind = 'access'") == 3)
            // An unrelated token of the same account is another family.
            let other = try #require(try await Self.signIn(wire)["accessToken"] as? String)
            #expect(try await Self.delete(wire, token: access2).status == .ok)
            for token in [access, access2, access3, refreshToken] {
                Self.expectError(try await Self.validate(wire, token: token), .unauthorized, "USG.000000004")
                Self.expectError(try await Self.refresh(wire, token: token), .unauthorized, "USG.000000004")
            }
            #expect(try await Self.validate(wire, token: other).status == .ok)
            #expect(try await harness.count("session", where: "kind = 'access'") == 1)
            Self.expectError(try await Self.refresh(wire, token: ""), .badRequest, "USG.000000001")
            Self.expectError(try await wire.send(.put, "/v1/usg/acs/token"), .badRequest, "USG.000000001")
            Self.expectError(try await wire.send(.delete, "/v1/usg/acs/token"), .badRequest, "USG.000000001")
        }
    }

    @Test func anExpiredTokenIsRefusedEverywhere() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let token = try await Self.signIn(wire)
            let access = try #require(token["accessToken"] as? String)
            #expect(try await Self.validate(wire, token: access).status == .ok)
            wire.clock.advance(by: 86_400)
            Self.expectError(try await Self.validate(wire, token: access), .unauthorized, "USG.000000004")
            Self.expectError(try await Self.refresh(wire, token: access), .unauthorized, "USG.000000004")
            Self.expectError(try await Self.delete(wire, token: access), .unauthorized, "USG.000000004")
        }
    }

    /// clientType 72 keeps 64 live tokens per user, the 65th sign-in ends the oldest; any
    /// other client type keeps one. (The 65 sign-ins are App ID ones: 65 password checks of
    /// PBKDF2 would take seconds of CPU from the tests running beside this one.)
    @Test func theSixtyFifthTokenEndsTheOldest() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            var tokens: [String] = []
            for _ in 0..<65 {
                let reply = try await Self.appAuth(wire, userID: "capped-user")
                tokens.append(try #require(reply.json["accessToken"] as? String, "\(reply.body)"))
                wire.clock.advance(by: 1)
            }
            #expect(try await harness.count("session", where: "kind = 'access'") == 64)
            Self.expectError(try await Self.validate(wire, token: tokens[0]), .unauthorized, "USG.000000004")
            #expect(try await Self.validate(wire, token: tokens[1]).status == .ok)
            #expect(try await Self.validate(wire, token: tokens[64]).status == .ok)

            let web1 = try #require(try await Self.signIn(wire, clientType: 0)["accessToken"] as? String)
            wire.clock.advance(by: 1)
            let web2 = try #require(try await Self.signIn(wire, clientType: 0)["accessToken"] as? String)
            Self.expectError(try await Self.validate(wire, token: web1), .unauthorized, "USG.000000004")
            let validated = try await Self.validate(wire, token: web2)
            #expect(validated.json["clientType"] as? Int == 0)
            // The API tokens are another client type's: untouched.
            #expect(try await harness.count("session", where: "kind = 'access'") == 65)
        }
    }

    @Test func needGenNewTokenIssuesAnotherToken() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let access = try #require(try await Self.signIn(wire)["accessToken"] as? String)
            let reply = try await Self.validate(wire, token: access, extra: ["needGenNewToken": true])
            #expect(reply.status == .ok)
            let fresh = try #require(reply.json["accessToken"] as? String)
            #expect(fresh != access)
            #expect(reply.json["refreshToken"] is String)
            #expect(try await Self.validate(wire, token: access).status == .ok)
            #expect(try await Self.validate(wire, token: fresh).status == .ok)
            // Families of their own: deleting one leaves the other.
            #expect(try await Self.delete(wire, token: fresh).status == .ok)
            #expect(try await Self.validate(wire, token: access).status == .ok)
            Self.expectError(try await wire.send(.post, "/v1/usg/acs/token/validate", headers: [.contentType: "application/json"], body: "{}"),
                             .badRequest, "USG.000000001")
            Self.expectError(try await Self.validate(wire, token: access, extra: ["needGenNewToken": "yes"]), .badRequest, "USG.000000001")
            Self.expectError(try await Self.validate(wire, token: String(repeating: "x", count: 600)), .unauthorized, "USG.000000004")
        }
    }

    // MARK: - App ID

    static func appAuth(_ wire: Wire, userID: String = "app-user-1", signedUserID: String? = nil, corpID: String? = nil,
                        expireTime: Int64? = nil, nonce: String = UUID().uuidString.replacingOccurrences(of: "-", with: ""),
                        key: String = appKey, uppercase: Bool = false, access: Bool = true) async throws -> Reply {
        let expires = expireTime ?? Int64(wire.clock.now().timeIntervalSince1970) + 600
        let data = ([appID] + (corpID.map { [$0] } ?? []) + [signedUserID ?? userID, String(expires), nonce]).joined(separator: ":")
        var signature = Data(HMAC<SHA256>.authenticationCode(for: Data(data.utf8), using: SymmetricKey(data: Data(key.utf8))))
            .map { String(format: "%02x", $0) }.joined()
        if uppercase { signature = signature.uppercased() }
        var authorization = "HMAC-SHA256 signature=\(signature)"
        if access { authorization += ",access=\(Data(appID.utf8).base64EncodedString())" }
        var body: [String: Any] = ["appId": appID, "clientType": 72, "expireTime": expires, "nonce": nonce, "userId": userID, "userName": "App User"]
        if let corpID { body["corpId"] = corpID }
        return try await wire.send(.post, "/v2/usg/acs/auth/appauth",
                                   headers: [.authorization: authorization, .contentType: "application/json", HTTPField.Name("X-Token-Type")!: "LongTicket"],
                                   body: json(body))
    }

    @Test func appIDSignInWithEveryAcceptedForm() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let plain = try await Self.appAuth(wire)
            #expect(plain.status == .ok, "\(plain.body)")
            let user = try #require(plain.json["user"] as? [String: Any])
            #expect(user["userId"] as? String == "app-user-1")
            #expect(user["ucloginAccount"] as? String == "Auto-app-user-1")
            #expect(user["appId"] as? String == Self.appID)
            #expect(try await Self.appAuth(wire, uppercase: true).status == .ok)
            #expect(try await Self.appAuth(wire, access: false).status == .ok)
            #expect(try await Self.appAuth(wire, corpID: "demo-corp").status == .ok)
            // The SDK's multi-tenant form signs an empty corpId: "appId::userId:…".
            #expect(try await Self.appAuth(wire, corpID: "").status == .ok)
            #expect(try await Self.appAuth(wire, expireTime: 0).status == .ok)
            // No user: the organisation's default administrator.
            let admin = try await Self.appAuth(wire, userID: "")
            #expect((admin.json["user"] as? [String: Any])?["userId"] as? String == "demo-corp-admin")
            #expect((admin.json["user"] as? [String: Any])?["adminType"] as? Int == 0)
            let access = try #require(plain.json["accessToken"] as? String)
            #expect(try await Self.validate(wire, token: access).status == .ok)
            #expect(try await Self.delete(wire, token: access).status == .ok)
            #expect(try await harness.count("session", where: "kind = 'access'") == 6)
        }
    }

    @Test func badAppIDSignInsAnswerTheirCodesAndStoreNothing() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            Self.expectError(try await Self.appAuth(wire, key: "another-key-of-enough-length"), .unauthorized, "USG.206010025")
            Self.expectError(try await Self.appAuth(wire, signedUserID: "someone-else"), .unauthorized, "USG.206010025")
            let past = Int64(wire.clock.now().timeIntervalSince1970) - 1
            Self.expectError(try await Self.appAuth(wire, expireTime: past), .unauthorized, "USG.206010057")
            Self.expectError(try await Self.appAuth(wire, corpID: "another-corp"), .forbidden, "USG.000000003")
            Self.expectError(try await Self.appAuth(wire, nonce: "short"), .badRequest, "USG.000000001")
            let nonce = String(repeating: "n", count: 32)
            #expect(try await Self.appAuth(wire, nonce: nonce).status == .ok)
            Self.expectError(try await Self.appAuth(wire, nonce: nonce), .unauthorized, "USG.206010025")
            #expect(try await harness.count("session") == 1)
            for header in ["HMAC-SHA256", "HMAC-SHA256 signature=zz", "HMAC-SHA256 signature=\(String(repeating: "g", count: 64))", "Basic abc",
                           "HMAC-SHA256 signature=\(String(repeating: "a", count: 64)),access=%%%"] {
                let reply = try await wire.send(.post, "/v2/usg/acs/auth/appauth", headers: [.authorization: header, .contentType: "application/json"],
                                                body: Self.json(["appId": Self.appID, "expireTime": 0, "nonce": UUID().uuidString + "abcd"]))
                Self.expectError(reply, .badRequest, "USG.000000001")
            }
            let wrongApp = try await wire.send(.post, "/v2/usg/acs/auth/appauth",
                                               headers: [.authorization: "HMAC-SHA256 signature=\(String(repeating: "a", count: 64))", .contentType: "application/json"],
                                               body: Self.json(["appId": "unknown-app", "expireTime": 0, "nonce": String(repeating: "m", count: 40)]))
            Self.expectError(wrongApp, .unauthorized, "USG.206010025")
            #expect(try await harness.count("session") == 1)
        }
    }

    /// Over the tenant's throttle (per client address), 429 `USG.100000429` in the USG shape,
    /// with its request id: the status Huawei's SDK core knows as flow control.
    @Test func throttlingAnswers429InTheUSGShape() async throws {
        var configuration = try Fixture.configuration(changingTenants: { tenants in
            for index in tenants.indices where tenants[index].id == "meeting-demo" { tenants[index].policies.throttle = ThrottlePolicy(rate: 1, burst: 3) }
        })
        configuration.throttling = true
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            var statuses: [HTTPResponse.Status] = []
            var last: Reply?
            for _ in 0..<6 {
                let reply = try await Self.delete(wire, token: "unknown", headers: [.acceptLanguage: "en-US"])
                statuses.append(reply.status)
                last = reply
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == .unauthorized }, "\(statuses)")
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            let throttled = try #require(last)
            Self.expectError(throttled, .tooManyRequests, "USG.100000429")
            #expect(throttled.json["error_msg"] as? String == "Server flow control. Try again later.")
        }
    }

    // MARK: - Tenants

    /// A tenant that names its hosts answers only them; a token of one tenant is unknown to the
    /// other.
    @Test func aTokenOfAnotherCorporationIsUnknown() async throws {
        let configuration = try Fixture.configuration(changingTenants: { tenants in
            tenants.append(Tenant(id: "MEET2", name: "Second corporation", domains: ["second.test"], providerIDs: ["Dish"],
                                  accessTokens: AccessTokenPolicy(providerID: "Dish", hosts: ["usg.second.test"], organizationID: "second-corp")))
        })
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            // The test client names "localhost"; this one names the host it is given.
            let raw = TestClient(host: "127.0.0.1", port: try #require(wire.client.port))
            raw.connect()
            defer { Task { try? await raw.shutdown() } }
            func send(_ method: HTTPRequest.Method, _ uri: String, host: String, headers: HTTPFields, body: String = "") async throws -> Reply {
                let response = try await raw.execute(.init(uri, method: method, authority: host, headers: headers, body: ByteBuffer(string: body)))
                return Reply(status: response.status, headers: response.headers, body: response.body.map { String(buffer: $0) } ?? "")
            }
            let signIn = try await send(.post, "/v1/usg/acs/auth/account", host: "usg.second.test:443",
                                        headers: [.authorization: Self.basic("dish-full", "dish-full-demo"), .contentType: "application/json"],
                                        body: Self.json(["account": "dish-full"]))
            #expect(signIn.status == .ok, "\(signIn.body)")
            let secondToken = try #require(signIn.json["accessToken"] as? String)
            let first = try #require(try await Self.signIn(wire)["accessToken"] as? String)
            // The first corporation's account is unknown on the second's host, and the reverse.
            let foreign = try await send(.post, "/v1/usg/acs/auth/account", host: "usg.second.test",
                                         headers: [.authorization: Self.basic("meeting-user", "meeting-user-demo")], body: "{}")
            Self.expectError(foreign, .unauthorized, "USG.206010000")
            let accessToken = HTTPField.Name("X-Access-Token")!
            Self.expectError(try await send(.delete, "/v1/usg/acs/token", host: "usg.second.test", headers: [accessToken: first]),
                             .unauthorized, "USG.000000004")
            Self.expectError(try await Self.delete(wire, token: secondToken), .unauthorized, "USG.000000004")
            #expect(try await harness.count("session", where: "kind = 'access'") == 2)
            let upper = try await send(.delete, "/v1/usg/acs/token", host: "USG.Second.Test", headers: [accessToken: secondToken])
            #expect(upper.status == .ok, "\(upper.body)")
            #expect(try await harness.count("session", where: "kind = 'access'") == 1)
        }
    }
}
