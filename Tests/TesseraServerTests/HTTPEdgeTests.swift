import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// The HTTP edge every front door shares: 405 with `Allow`, HEAD like GET, 413 for bodies over
/// the limit, and no caching of anything that carries a token.
@Suite struct HTTPEdgeTests {
    @Test func aWrongMethodIs405WithAllowInTheDialectsShape() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let v1 = try await wire.send(.post, "/api/v1/checkauthn.json" + wire.deviceQuery("tv"), headers: auth)
            #expect(v1.status == .methodNotAllowed)
            #expect(v1.header("Allow") == "GET, HEAD")
            #expect(v1.json["status"] as? Int == 405)
            #expect(v1.json["code"] as? String == "internal_error")
            #expect(v1.json["action"] as? String == "none")
            #expect(v1.json["trace"] as? String == v1.header("X-Request-Id"))
            let xml = try await wire.send(.put, "/reggie/v1/REF30/regcode", headers: [.accept: "application/xml"])
            #expect(xml.status == .methodNotAllowed)
            #expect(xml.header("Allow") == "POST")
            #expect(xml.body.contains("<status>405</status>"))
            let logout = try await wire.send(.put, "/api/v1/logout" + wire.deviceQuery("tv"), headers: auth)
            #expect(logout.header("Allow") == "GET, HEAD, DELETE")
            let dcr = try await wire.send(.get, "/o/client/register")
            #expect(dcr.status == .methodNotAllowed)
            #expect(dcr.header("Allow") == "POST")
            #expect(dcr.json["error"] as? String == "invalid_request")
            let page = try await wire.send(.delete, "/activate")
            #expect(page.status == .methodNotAllowed)
            #expect(page.header("Allow") == "GET, HEAD, POST")
            let health = try await wire.send(.post, "/healthz")
            #expect(health.status == .methodNotAllowed)
            #expect(health.header("Allow") == "GET, HEAD")
            // A path nobody has is still 404.
            #expect(try await wire.send(.get, "/api/v1/nothing-here").status == .notFound)
            #expect(try await wire.send(.post, "/nothing-here").status == .notFound)
            // A route's own 404 is not turned into a 405.
            let noCode = try await wire.send(.get, "/reggie/v1/REF30/regcode/AAAAAAA.json", headers: auth)
            #expect(noCode.status == .notFound)
            #expect(noCode.json["code"] as? String == "invalid_parameter_code")
        }
    }

    @Test func headAnswersLikeGetWithoutABody() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "head-tv")
            let get = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("head-tv"), headers: auth)
            let head = try await wire.send(.head, "/api/v1/checkauthn" + wire.deviceQuery("head-tv"), headers: auth)
            #expect(get.status == .ok)
            #expect(head.status == .ok)
            #expect(head.body.isEmpty)
            #expect(head.header("Content-Type") == get.header("Content-Type"))
            let missing = try await wire.send(.head, "/api/v1/checkauthn" + wire.deviceQuery("no-such-tv"), headers: auth)
            #expect(missing.status == .forbidden)
            #expect(missing.body.isEmpty)
            let health = try await wire.send(.head, "/healthz")
            #expect(health.status == .ok)
            #expect(health.body.isEmpty)
        }
    }

    @Test func tokenBearingAnswersAreNotCached() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "store-tv")
            let q = wire.deviceQuery("store-tv", extra: [("resource", "REF30")])
            for path in ["/api/v1/checkauthn", "/api/v1/tokens/authn", "/api/v1/authorize", "/api/v1/tokens/authz", "/api/v1/mediatoken",
                         "/api/v1/tokens/media", "/api/v1/tokens/usermetadata", "/api/v1/preauthorize"] {
                let reply = try await wire.send(.get, path + q, headers: auth)
                #expect(reply.status == .ok, "\(path): \(reply.status)")
                #expect(reply.header("Cache-Control") == "no-store", "\(path)")
            }
            let error = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("other-tv"), headers: auth)
            #expect(error.status == .notFound)
            #expect(error.header("Cache-Control") == "no-store")
            let code = try await wire.send(.post, "/reggie/v1/REF30/regcode?deviceId=tv-2", headers: auth)
            #expect(code.status == .created)
            #expect(code.header("Cache-Control") == "no-store")
        }
    }

    @Test func aBodyOverTheLimitIs413InEachDialect() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let huge = String(repeating: "x", count: 70_000)
            let dcr = try await wire.send(.post, "/o/client/register", headers: [.contentType: "application/json"],
                                          body: #"{"software_statement":""# + huge + #""}"#)
            #expect(dcr.status == .contentTooLarge)
            #expect(dcr.json["error"] as? String == "invalid_request")
            let token = try await wire.form(.post, "/o/client/token", [("client_id", huge)])
            #expect(token.status == .contentTooLarge)
            let page = try await wire.form(.post, "/activate", [("code", huge)])
            #expect(page.status == .contentTooLarge)
            #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        }
        #expect(try await harness.count("registered_client") == 0)
    }

    /// `/readyz` answers 200 while the store answers, and 503 (for a load balancer to take the
    /// instance out) once it does not; `/healthz` stays 200, the process being alive.
    @Test func readinessFollowsTheStore() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            // On PostgreSQL an instance is ready once it hears the others (its LISTEN took effect
            // and its lease is renewed): on two busy cores that can take seconds after the start,
            // and a load balancer polls for it, as this does.
            #expect(try await OpenIDConnectTests.eventually(30) { try await wire.send(.get, "/readyz").status == .ok })
            let ready = try await wire.send(.get, "/readyz")
            #expect(ready.status == .ok && ready.body == "ready")
            #expect(ready.header("Cache-Control") == "no-store")
            try await harness.execute(harness.configuration.databaseURL == nil ? "DROP TABLE session" : "DROP TABLE session CASCADE")
            let broken = try await wire.send(.get, "/readyz")
            #expect(broken.status == .serviceUnavailable && broken.body == "not ready")
            #expect(try await wire.send(.get, "/healthz").status == .ok)
        }
    }
}
