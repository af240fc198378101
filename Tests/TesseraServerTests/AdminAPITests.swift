import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

/// The operator's API: a subscriber's sessions listed and ended everywhere, a client revoked,
/// behind the admin token.
@Suite struct AdminAPITests {
    static let token = "admin-token-for-the-tests-0123456789"
    static let configuration: TesseraConfiguration = {
        var configuration = Fixture.configuration
        try! configuration.setAdminToken(token)
        return configuration
    }()
    static let admin: HTTPFields = [.authorization: "Bearer \(token)"]
    static let sessionsOfFull = "/admin/v1/tenants/REF30/subjects/cv-user-full/sessions"

    @Test func aSubscriberIsListedAndSignedOutEverywhereAndNobodyElseIs() async throws {
        try await Harness(configuration: Self.configuration).run { wire in
            let auth = try await wire.signedIn(deviceID: "tv")
            _ = try await wire.signedIn(deviceID: "phone")
            _ = try await wire.signedIn(deviceID: "kitchen", username: "cv-basic")
            for device in ["tv", "phone", "kitchen"] {
                #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(device), headers: auth).status == .ok)
            }
            #expect(try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("tv", extra: [("resource", "REF30")]), headers: auth).status == .ok)

            let list = try await wire.send(.get, Self.sessionsOfFull, headers: Self.admin)
            #expect(list.status == .ok)
            #expect(list.header("Cache-Control") == "no-store")
            let sessions = try #require(list.json["sessions"] as? [[String: Any]])
            #expect(Set(sessions.compactMap { $0["device"] as? String }) == ["tv", "phone"])
            #expect(sessions.allSatisfy { $0["kind"] as? String == "device" && $0["provider"] as? String == "Cablevision" })
            #expect(sessions.allSatisfy { $0["created"] is String && $0["last_used"] is String && $0["expires"] is String })

            let revoked = try await wire.send(.delete, Self.sessionsOfFull, headers: Self.admin)
            #expect(revoked.status == .ok)
            #expect(revoked.json["revoked"] as? Int == 2)
            let steps = try #require(revoked.json["sessions"] as? [[String: Any]])
            // Cablevision has a logout page of its own: each ended session says to open it.
            #expect(steps.allSatisfy { $0["follow_up"] as? String == "provider_logout" })
            #expect(steps.allSatisfy { ($0["provider_logout_url"] as? String)?.hasSuffix("/idp/Cablevision/logout") == true })
            for device in ["tv", "phone"] {
                #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(device), headers: auth).status == .forbidden)
                #expect(try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery(device, extra: [("resource", "REF30")]), headers: auth).status == .forbidden)
            }
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("kitchen"), headers: auth).status == .ok)
            // Nothing left: the list is empty, a second revoke ends nothing, and no decision is left behind.
            #expect((try await wire.send(.get, Self.sessionsOfFull, headers: Self.admin).json["sessions"] as? [Any])?.isEmpty == true)
            #expect(try await wire.send(.delete, Self.sessionsOfFull, headers: Self.admin).json["revoked"] as? Int == 0)
            #expect(try await wire.store.sessions(SessionSelector(tenantID: "REF30", .subject(userID: "cv-user-full"))).isEmpty)
        }
    }

    @Test func anotherTenantsSubjectIsNotReachedFromThisTenant() async throws {
        try await Harness(configuration: Self.configuration).run { wire in
            let auth = try await wire.signedIn(deviceID: "tv")
            let foreign = try await wire.send(.delete, "/admin/v1/tenants/OTHER40/subjects/cv-user-full/sessions", headers: Self.admin)
            #expect(foreign.status == .ok)
            #expect(foreign.json["revoked"] as? Int == 0)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv"), headers: auth).status == .ok)
            let unknown = try await wire.send(.get, "/admin/v1/tenants/NOPE/subjects/cv-user-full/sessions", headers: Self.admin)
            #expect(unknown.status == .notFound)
            #expect(unknown.json["error"] as? String == "unknown_tenant")
        }
    }

    @Test func aMissingOrWrongTokenIs401AndChangesNothing() async throws {
        try await Harness(configuration: Self.configuration).run { wire in
            let auth = try await wire.signedIn(deviceID: "tv")
            let refusals: [HTTPFields] = [
                [:], [.authorization: "Bearer wrong-token-0123456789"], [.authorization: "Bearer \(Self.token)x"],
                [.authorization: "Basic \(Data("admin:\(Self.token)".utf8).base64EncodedString())"], [.authorization: "Bearer "],
                [.authorization: "Bearer \(String(repeating: "a", count: 5000))"],
            ]
            for headers in refusals {
                for method in [HTTPRequest.Method.get, .delete] {
                    let reply = try await wire.send(method, Self.sessionsOfFull, headers: headers)
                    #expect(reply.status == .unauthorized)
                    #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
                    #expect(reply.json["error"] as? String == "unauthorized")
                }
            }
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv"), headers: auth).status == .ok)
        }
    }

    @Test func withoutATokenConfiguredTheAdminAPIIsNotThere() async throws {
        try await Harness().run { (wire: Wire) async throws in
            #expect(try await wire.send(.get, Self.sessionsOfFull, headers: Self.admin).status == .notFound)
            #expect(try await wire.send(.delete, Self.sessionsOfFull, headers: Self.admin).status == .notFound)
        }
    }

    @Test func aRevokedClientsBearerIsRefusedAtOnce() async throws {
        try await Harness(configuration: Self.configuration).run { wire in
            let auth = try await wire.bearer()
            #expect(try await wire.send(.get, "/api/v1/config/REF30", headers: auth).status == .ok)
            let client = try #require(Self.subject(of: auth))
            // Another tenant cannot revoke it; an unknown client is 404.
            #expect(try await wire.send(.delete, "/admin/v1/tenants/OTHER40/clients/\(client)", headers: Self.admin).status == .notFound)
            #expect(try await wire.send(.get, "/api/v1/config/REF30", headers: auth).status == .ok)
            let revoked = try await wire.send(.delete, "/admin/v1/tenants/REF30/clients/\(client)", headers: Self.admin)
            #expect(revoked.status == .noContent)
            let refused = try await wire.send(.get, "/api/v1/config/REF30", headers: auth)
            #expect(refused.status == .unauthorized)
            #expect(try await wire.store.client(id: client) == nil)
            let again = try await wire.send(.delete, "/admin/v1/tenants/REF30/clients/\(client)", headers: Self.admin)
            #expect(again.status == .notFound)
            #expect(again.json["error"] as? String == "unknown_client")
        }
    }

    @Test func lastUsedIsKeptCoarselyAndNeverByACachedRead() async throws {
        try await Harness(configuration: Self.configuration).run { wire in
            let auth = try await wire.signedIn(deviceID: "tv")
            let created = try #require(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "tv")))
            #expect(created.lastUsedAt == created.createdAt)
            // Reads within the minute write nothing.
            for _ in 0..<5 { #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv"), headers: auth).status == .ok) }
            #expect(wire.services.hot.takeUses().isEmpty)
            wire.clock.advance(by: 90)
            for _ in 0..<5 { #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv"), headers: auth).status == .ok) }
            await wire.services.recordSessionUses()
            let used = try #require(try await wire.store.session(device: DeviceKey(tenantID: "REF30", deviceID: "tv")))
            #expect(used.lastUsedAt == wire.clock.now())
            let listed = try await wire.send(.get, Self.sessionsOfFull, headers: Self.admin)
            #expect((listed.json["sessions"] as? [[String: Any]])?.first?["last_used"] as? String == used.lastUsedAt.formatted(.iso8601))
        }
    }

    /// The client id a bearer header's JWT names.
    static func subject(of auth: HTTPFields) -> String? {
        guard let token = auth[.authorization]?.dropFirst("Bearer ".count) else { return nil }
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload), let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return claims["sub"] as? String
    }
}
