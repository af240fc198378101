import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Seed 000 (啟動註銷 / Initiate logout): `DELETE <sp_fqdn>/api/v1/logout` with requestor,
/// deviceId, device_info / X-Device-Info and the deprecated deviceType, deviceUser, appId
/// answers 204 with no body, removes the AuthN and AuthZ tokens, and does not call the MVPD.
@Suite struct LogoutGoldenTests {
    static let helpURL = TesseraConfiguration.defaultHelpURL

    /// Signs a device in and returns the bearer header.
    func signedIn(_ wire: Wire, deviceID: String, deviceUser: String = "jd") async throws -> HTTPFields {
        let auth = try await wire.bearer()
        let code = try await wire.registrationCode(auth, deviceID: deviceID, extra: [("deviceUser", deviceUser), ("deviceType", "Roku"), ("appId", "ref-app")])
        try await wire.browserLogin(code: code)
        try await wire.store.upsert(Decision(
            sessionID: try #require(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: deviceID))).id,
            resource: "REF30", providerID: "Cablevision", expiresAt: wire.clock.now().addingTimeInterval(3600)))
        return auth
    }

    @Test(arguments: [
        ("XML by default", "/api/v1/logout", [String: String]()),
        ("Accept JSON", "/api/v1/logout", ["Accept": "application/json"]),
        ("Accept XML", "/api/v1/logout", ["Accept": "application/xml"]),
        (".json suffix", "/api/v1/logout.json", [:]),
        (".xml suffix", "/api/v1/logout.xml", [:]),
    ])
    func logoutAnswers204WithNoBody(name: String, path: String, extra: [String: String]) async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signedIn(wire, deviceID: "seed-000-device")
            #expect(try await harness.count("session") == 1)
            #expect(try await harness.count("decision") == 1)
            var headers = auth
            headers[HTTPField.Name("X-Device-Info")!] = Fixture.deviceInfo
            for (k, v) in extra { headers[HTTPField.Name(k)!] = v }
            let query = Wire.query([("requestor", "REF30"), ("deviceId", "seed-000-device"), ("deviceType", "Roku"),
                                    ("deviceUser", "jd"), ("appId", "ref-app")])
            let reply = try await wire.send(.delete, path + query, headers: headers)
            #expect(reply.status == .noContent, "\(name)")
            #expect(reply.body.isEmpty)
            #expect(reply.header("Content-Type") == nil)
            #expect(reply.header("Content-Length") == nil || reply.header("Content-Length") == "0")
        }
        #expect(try await harness.count("session") == 0)
        #expect(try await harness.count("decision") == 0)
    }

    @Test func logoutAlsoAnswersGETAndDeviceInfoAsAParameter() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signedIn(wire, deviceID: "get-device")
            let reply = try await wire.send(.get, "/api/v1/logout" + Wire.query([("requestor", "REF30"), ("deviceId", "get-device"), ("device_info", Fixture.deviceInfo)]),
                                            headers: auth)
            #expect(reply.status == .noContent)
            #expect(reply.body.isEmpty)
        }
        #expect(try await harness.count("session") == 0)
    }

    @Test func afterLogoutTheTokensAnswerInXMLExactly() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signedIn(wire, deviceID: "golden-xml")
            _ = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("golden-xml"), headers: wire.deviceHeaders(auth, json: false))
            let header = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("golden-xml"), headers: wire.deviceHeaders(auth, json: false))
            #expect(check.status == .forbidden)
            #expect(check.header("Content-Type") == "application/xml;charset=UTF-8")
            #expect(check.normalizedBody == header + "<error><action>authentication</action><status>403</status><code>authentication_session_missing</code>"
                + "<message>Authentication token expired</message><helpUrl>\(Self.helpURL)</helpUrl><trace>TRACE</trace></error>")
            let authn = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("golden-xml"), headers: wire.deviceHeaders(auth, json: false))
            #expect(authn.status == .notFound)
            #expect(authn.normalizedBody == header + "<error><action>authentication</action><status>404</status><code>authentication_session_missing</code>"
                + "<message>Not Found</message><helpUrl>\(Self.helpURL)</helpUrl><trace>TRACE</trace></error>")
            let authz = try await wire.send(.get, "/api/v1/tokens/authz" + wire.deviceQuery("golden-xml", extra: [("resource", "REF30")]),
                                            headers: wire.deviceHeaders(auth, json: false))
            #expect(authz.status == .preconditionFailed)
            #expect(authz.normalizedBody == header + "<error><action>authentication</action><status>412</status><code>authentication_session_missing</code>"
                + "<message>User not authenticated</message><helpUrl>\(Self.helpURL)</helpUrl><trace>TRACE</trace></error>")
        }
    }

    @Test func afterLogoutTheTokensAnswerInJSONExactly() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signedIn(wire, deviceID: "golden-json")
            // Before logout, the authorization is there.
            let before = try await wire.send(.get, "/api/v1/tokens/authz.json" + wire.deviceQuery("golden-json", extra: [("resource", "REF30")]), headers: auth)
            #expect(before.status == .ok)
            #expect(before.json["resource"] as? String == "REF30")
            #expect(before.json["expires"] is String)
            _ = try await wire.send(.delete, "/api/v1/logout.json" + wire.deviceQuery("golden-json"), headers: wire.deviceHeaders(auth))
            for (path, status, message, extra) in [
                ("/api/v1/checkauthn.json", 403, "Authentication token expired", [(String, String)]()),
                ("/api/v1/tokens/authn", 404, "Not Found", []),
                ("/api/v1/tokens/authz", 412, "User not authenticated", [("resource", "REF30")]),
            ] {
                let reply = try await wire.send(.get, path + wire.deviceQuery("golden-json", extra: extra), headers: wire.deviceHeaders(auth))
                #expect(reply.status.code == status)
                #expect(reply.header("Content-Type") == "application/json;charset=UTF-8")
                let body = reply.json
                #expect(Set(body.keys) == ["action", "status", "code", "message", "details", "helpUrl", "trace"])
                #expect(body["action"] as? String == "authentication")
                #expect(body["status"] as? Int == status)
                #expect(body["code"] as? String == "authentication_session_missing")
                #expect(body["message"] as? String == message)
                #expect(body["details"] is NSNull)
                #expect(body["helpUrl"] as? String == Self.helpURL)
                #expect(body["trace"] as? String == reply.header("X-Request-Id"))
            }
        }
    }

    @Test func logoutOfADeviceThatNeverSignedInIs204AndTouchesNoOtherDevice() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signedIn(wire, deviceID: "kept-device")
            let reply = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("unknown-device"), headers: wire.deviceHeaders(auth))
            #expect(reply.status == .noContent)
            // The same deviceId under another requestor is another device.
            let otherAuth = try await wire.bearer(tenant: "OTHER40")
            let other = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("kept-device", requestor: "OTHER40"), headers: wire.deviceHeaders(otherAuth))
            #expect(other.status == .noContent)
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("kept-device"), headers: wire.deviceHeaders(auth))
            #expect(check.status == .ok)
        }
        #expect(try await harness.count("session") == 1)
    }
}
