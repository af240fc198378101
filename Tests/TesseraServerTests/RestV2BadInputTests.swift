import Crypto
import _CryptoExtras
import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// REST v2 refuses every bad value with its enhanced error (status, code, action) and keeps
/// nothing of the refused call.
@Suite struct RestV2BadInputTests {
    static let create = "/api/v2/REF30/sessions"
    static let fullForm = [("mvpd", "Cablevision"), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com/done")]

    /// The error object at the top level of the answer.
    static func expectError(_ reply: Reply, _ status: HTTPResponse.Status, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(reply.json["code"] as? String == code, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(reply.json["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect(reply.json["action"] is String && reply.json["message"] is String && reply.json["helpUrl"] is String, sourceLocation: sourceLocation)
        #expect(reply.header("Content-Type")?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
    }

    /// Nothing was stored: no session of any kind, no pending login behind `code` if one is given.
    static func expectNothingStored(_ wire: Wire, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let counts = try await wire.store.sessionCounts(now: wire.clock.now())
        #expect(counts.values.reduce(0, +) == 0, "\(counts)", sourceLocation: sourceLocation)
    }

    @Test func malformedDeviceHeadersAreRefusedAndNothingIsStored() async throws {
        try await Harness().run { wire in
            let tv = try await wire.v2(answers: V2Answers())
            for identifier in ["fingerprint", "fingerprint !!!not-base64!!!", "token YmEyM2Q=", "fingerprint " + String(repeating: "QUFB", count: 400), ""] {
                var client = tv
                client.deviceIdentifier = identifier
                Self.expectError(try await client.post(Self.create, form: Self.fullForm), .badRequest, "invalid_header_device_identifier")
                Self.expectError(try await client.get("/api/v2/REF30/profiles"), .badRequest, "invalid_header_device_identifier")
            }
            for info in ["%%%", Data("not json".utf8).base64EncodedString(), Data("[1,2]".utf8).base64EncodedString(),
                         String(repeating: "e30=", count: 3000)] {
                Self.expectError(try await tv.with("X-Device-Info", info).post(Self.create, form: Self.fullForm), .badRequest, "invalid_header_device_info")
            }
            let tempPass = try await tv.with("AP-TempPass-Identity", "%%%not base64").post(Self.create, form: [("mvpd", "TempPass_promo")])
            Self.expectError(tempPass, .badRequest, "invalid_header_identity_for_temporary_access")
            try await Self.expectNothingStored(wire)
        }
    }

    @Test func singleSignOnTokensThatDoNotVerifyAreRefusedAndNothingIsStored() async throws {
        try await Harness().run { wire in
            let now = wire.clock.now()
            let tv = try await wire.v2(answers: V2Answers())
            let demoKey = try #require(Credentials.demoServiceTokenSigningKey())
            let publicPEM = try _RSA.Signing.PrivateKey(pemRepresentation: demoKey).publicKey.pemRepresentation
            let claims = SSOTokens.claims(subject: "household-1", now: now)
            let good = try await SSOTokens.serviceToken("household-1", now: now)
            let parts = good.split(separator: ".").map(String.init)
            let serviceTokens: [(String, String)] = [
                ("another key", try await SSOTokens.sign(claims, keyPEM: try SSOTokens.freshRSAKeyPEM())),
                ("alg none", try SSOTokens.forged(header: #"{"alg":"none","typ":"JWT"}"#, claims: claims, hmacSecret: nil)),
                ("HS256 with the public key", try SSOTokens.forged(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: claims, hmacSecret: Data(publicPEM.utf8))),
                ("altered claims", parts[0] + "." + SSOTokens.base64URL(Data(#"{"sub":"someone-else","aud":"Adobe","iss":"x","iat":1,"exp":9999999999}"#.utf8)) + "." + parts[2]),
                ("wrong audience", try await SSOTokens.sign(SSOTokens.claims(subject: "h", now: now, audience: "Elsewhere"), keyPEM: demoKey)),
                ("expired", try await SSOTokens.sign(SSOTokens.claims(subject: "h", now: now.addingTimeInterval(-7200)), keyPEM: demoKey)),
                ("unknown kid", try await SSOTokens.sign(claims, keyPEM: demoKey, kid: "not-a-configured-key")),
                ("no issuer", try await SSOTokens.sign(SSOTokens.claims(subject: "h", now: now, issuer: nil), keyPEM: demoKey)),
                ("not a JWS", "abc.def"),
            ]
            for (why, token) in serviceTokens {
                let client = tv.with("AD-Service-Token", token)
                let reply = try await client.post(Self.create, form: [("mvpd", "Spectrum"), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com")])
                Self.expectError(reply, .badRequest, "invalid_header_service_token")
                #expect(reply.status == .badRequest, "\(why)")
                Self.expectError(try await client.get("/api/v2/REF30/profiles"), .badRequest, "invalid_header_service_token")
            }
            // A service token is not a platform identity, and a platform token needs the platform's key.
            Self.expectError(try await tv.with("Adobe-Subject-Token", good).get("/api/v2/REF30/profiles"), .badRequest, "invalid_header_subject_token")
            let platformForged = try await SSOTokens.sign(SSOTokens.claims(subject: "h", now: now, audience: nil, issuer: "demo-platform"),
                                                          keyPEM: try SSOTokens.freshRSAKeyPEM())
            Self.expectError(try await tv.with("Adobe-Subject-Token", platformForged).get("/api/v2/REF30/profiles"), .badRequest, "invalid_header_subject_token")
            try await Self.expectNothingStored(wire)
            // The good token works, so the refusals above were the tokens'.
            #expect(try await tv.with("AD-Service-Token", good).get("/api/v2/REF30/profiles").status == .ok)
        }
    }

    @Test func redirectsAndDomainsOutsideTheTenantAreRefused() async throws {
        try await Harness().run { wire in
            let tv = try await wire.v2(answers: V2Answers())
            for redirect in ["https://evil.example/x", "https://adobe.com.evil.example/", "https://evil.example\\@adobe.com/", "javascript:alert(1)",
                             "https://user@evil.example/adobe.com"] {
                let reply = try await tv.post(Self.create, form: [("mvpd", "Cablevision"), ("domainName", "adobe.com"), ("redirectUrl", redirect)])
                Self.expectError(reply, .badRequest, "invalid_parameter_redirect_url")
                let out = try await tv.get("/api/v2/REF30/logout/Cablevision?redirectUrl=" + (redirect.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
                Self.expectError(out, .badRequest, "invalid_parameter_redirect_url")
            }
            Self.expectError(try await tv.post(Self.create, form: [("mvpd", "Cablevision"), ("domainName", "evil.example"), ("redirectUrl", "https://adobe.com")]),
                             .badRequest, "invalid_parameter_domain_name")
            Self.expectError(try await tv.post(Self.create, form: [("mvpd", "NoSuchProvider"), ("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com")]),
                             .badRequest, "invalid_integration")
            // A provider of another tenant is not this tenant's integration.
            Self.expectError(try await tv.get("/api/v2/REF30/profiles/NoSuchProvider"), .badRequest, "invalid_integration")
            try await Self.expectNothingStored(wire)
        }
    }

    @Test func expiredUsedAndForeignCodesAreRefused() async throws {
        try await Harness().run { wire in
            let tv = try await wire.v2(answers: V2Answers())
            let started = try await tv.post(Self.create, form: [("domainName", "adobe.com"), ("redirectUrl", "https://adobe.com")])
            let code = try #require(started.json["code"] as? String)

            // Another tenant's client does not find REF30's code, under either service provider.
            let other = V2Client(wire: wire, auth: try await wire.bearer(tenant: "OTHER40"), answers: V2Answers())
            Self.expectError(try await other.get("/api/v2/OTHER40/sessions/\(code)"), .badRequest, "invalid_parameter_code")
            Self.expectError(try await other.get("/api/v2/REF30/sessions/\(code)"), .unauthorized, "invalid_access_token_service_provider")
            Self.expectError(try await other.post("/api/v2/OTHER40/sessions/\(code)", form: [("mvpd", "Dish")]), .badRequest, "invalid_parameter_code")
            Self.expectError(try await tv.get("/api/v2/REF30/sessions/ZZZZZZZ"), .badRequest, "invalid_parameter_code")
            Self.expectError(try await tv.get("/api/v2/REF30/profiles/code/ZZZZZZZ"), .badRequest, "invalid_parameter_code")

            // Past its lifetime the code is gone: the session status, the resume and the browser's start all refuse it.
            wire.clock.advance(by: 3 * 3600)
            let expired = try await tv.get("/api/v2/REF30/sessions/\(code)")
            #expect(expired.status == .badRequest)
            #expect(["invalid_parameter_code", "invalid_authentication_session"].contains(expired.json["code"] as? String ?? ""), "\(expired.body)")
            #expect(try await tv.post("/api/v2/REF30/sessions/\(code)", form: [("mvpd", "Dish")]).status == .badRequest)
            #expect(try await Browser(wire).get("/api/v2/authenticate/REF30/\(code)").status != .found)
            try await Self.expectNothingStored(wire)
        }
    }

    @Test func bearersAcceptHeadersMethodsAndDecisionBodiesAreChecked() async throws {
        try await Harness().run { wire in
            let tv = try await wire.v2(answers: V2Answers())
            // No bearer, a made-up one, another tenant's.
            var anonymous = tv
            anonymous.extra = [:]
            for auth: HTTPFields in [[:], [.authorization: "Bearer not-a-token"], [.authorization: "Basic YTpi"]] {
                let client = V2Client(wire: wire, auth: auth, answers: V2Answers())
                let reply = try await client.get("/api/v2/REF30/profiles")
                Self.expectError(reply, .unauthorized, "invalid_access_token_client_application")
            }
            let foreign = V2Client(wire: wire, auth: try await wire.bearer(tenant: "OTHER40"), answers: V2Answers())
            Self.expectError(try await foreign.get("/api/v2/REF30/profiles"), .unauthorized, "invalid_access_token_service_provider")
            Self.expectError(try await tv.get("/api/v2/NOPE/configuration"), .badRequest, "invalid_parameter_service_provider")

            Self.expectError(try await tv.with("Accept", "text/html").get("/api/v2/REF30/profiles"), .notAcceptable, "invalid_header_accept")
            #expect(try await tv.with("Accept", "*/*").get("/api/v2/REF30/profiles").status == .ok)

            let wrongMethod = try await wire.send(.delete, "/api/v2/REF30/profiles", headers: tv.headers)
            Self.expectError(wrongMethod, .methodNotAllowed, "method_not_allowed")
            #expect(wrongMethod.header("Allow") == "GET, HEAD")

            // Decisions: no profile, a body that is not the documented JSON, too many resources.
            Self.expectError(try await tv.post("/api/v2/REF30/decisions/authorize/Cablevision", json: #"{"resources":["REF30"]}"#),
                             .forbidden, "authenticated_profile_missing")
            try await tv.signIn("Cablevision", username: "cv-full")
            for body in ["not json", #"{"resources":"REF30"}"#, #"{"resources":[]}"#, "{}"] {
                Self.expectError(try await tv.post("/api/v2/REF30/decisions/authorize/Cablevision", json: body), .badRequest, "invalid_parameter_resources")
            }
            Self.expectError(try await tv.post("/api/v2/REF30/decisions/authorize/Cablevision", json: #"{"resources":["REF30","TNT","CNN","A","B","C","D","E","F","G","H"]}"#),
                             .forbidden, "too_many_resources")
            // A resource the subscriber lacks is an item-level denial under 200.
            let denied = try await tv.post("/api/v2/REF30/decisions/authorize/Cablevision", json: #"{"resources":["HBO"]}"#)
            #expect(denied.status == .ok)
            let item = (denied.json["decisions"] as? [[String: Any]])?.first
            #expect(item?["authorized"] as? Bool == false)
            #expect((item?["error"] as? [String: Any])?["code"] as? String == "authorization_denied_by_mvpd")
        }
    }
}
