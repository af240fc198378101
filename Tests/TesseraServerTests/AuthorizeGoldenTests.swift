import Foundation
import HTTPTypes
import Synchronization
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Seed 002 (啟動授權 / Initiate authorization): `GET <sp_fqdn>/api/v1/authorize` answers 200 with
/// `<authorization><expires/><mvpd/><requestor/><resource/></authorization>` (JSON: `expires` as an
/// epoch-ms string), and 403 "User not authorized" with the MVPD's details on a denial.
@Suite struct AuthorizeGoldenTests {
    /// Signed in, with only the bearer header: the seed's calls choose their own format.
    func signIn(_ wire: Wire, deviceID: String, provider: String = "Cablevision", username: String = "cv-full") async throws -> HTTPFields {
        var auth = try await wire.signedIn(deviceID: deviceID, provider: provider, username: username)
        auth[.accept] = nil
        auth[HTTPField.Name("X-Device-Info")!] = nil
        return auth
    }

    @Test func case1SuccessInXML() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signIn(wire, deviceID: "seed-002")
            var headers = auth
            headers[HTTPField.Name("X-Device-Info")!] = Fixture.deviceInfo
            let reply = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("seed-002", extra: [("resource", "REF30")]), headers: headers)
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type") == "application/xml;charset=UTF-8")
            let expires = Fixture.start.addingTimeInterval(86_400).epochMilliseconds
            #expect(reply.body == #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
                + "<authorization><expires>\(expires)</expires><mvpd>Cablevision</mvpd><requestor>REF30</requestor><resource>REF30</resource></authorization>")
        }
        #expect(try await harness.count("decision") == 1)
    }

    @Test func case1SuccessInJSON() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signIn(wire, deviceID: "seed-002-json")
            let reply = try await wire.send(.get, "/api/v1/authorize.json" + wire.deviceQuery("seed-002-json", extra: [("resource", "TNT")]), headers: auth)
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type") == "application/json;charset=UTF-8")
            let body = reply.json
            #expect(Set(body.keys) == ["mvpd", "resource", "requestor", "expires"])
            #expect(body["mvpd"] as? String == "Cablevision")
            #expect(body["resource"] as? String == "TNT")
            #expect(body["requestor"] as? String == "REF30")
            #expect(body["expires"] as? String == String(Fixture.start.addingTimeInterval(86_400).epochMilliseconds))
            // tokens/authz answers the same stored decision.
            let stored = try await wire.send(.get, "/api/v1/tokens/authz.json" + wire.deviceQuery("seed-002-json", extra: [("resource", "TNT")]), headers: auth)
            #expect(stored.status == .ok)
            #expect(NSDictionary(dictionary: stored.json) == NSDictionary(dictionary: body))
        }
    }

    @Test func proxyMvpdIsNamedWhenTheProviderSitsBehindOne() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signIn(wire, deviceID: "proxied", provider: "Spectrum", username: "spectrum-full")
            let reply = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("proxied", extra: [("resource", "CNN")]), headers: auth)
            #expect(reply.body.contains("<resource>CNN</resource><proxyMvpd>Charter_Proxy</proxyMvpd></authorization>"))
        }
    }

    @Test func case2DenialWithTheProvidersDetails() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signIn(wire, deviceID: "seed-002-deny")
            let reply = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("seed-002-deny", extra: [("resource", "ASFAFD")]), headers: auth)
            #expect(reply.status == .forbidden)
            let details = #"Your subscription package does not include the "ASFAFD" channel. Please go to http://www.ca.ble/upgrade in order to upgrade your subscription."#
            #expect(reply.normalizedBody == #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
                + "<error><action>none</action><status>403</status><code>authorization_denied_by_mvpd</code><message>User not authorized</message>"
                + "<details>\(details.replacingOccurrences(of: "\"", with: "&quot;"))</details><helpUrl>\(TesseraConfiguration.defaultHelpURL)</helpUrl><trace>TRACE</trace></error>")
            var json = auth
            json[.accept] = "application/json"
            let again = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("seed-002-deny", extra: [("resource", "ASFAFD")]), headers: json)
            #expect(again.json["status"] as? Int == 403)
            #expect(again.json["message"] as? String == "User not authorized")
            #expect(again.json["details"] as? String == details)
        }
        #expect(try await harness.count("decision") == 0)
    }

    @Test func aRatedItemAboveTheHouseholdLimitIsDeniedByParentalControls() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await signIn(wire, deviceID: "kids-tv", username: "cv-basic")
            var json = auth
            json[.accept] = "application/json"
            func mrss(_ rating: String) -> String {
                #"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>REF30</title><item><title>Ep 1</title><guid>ep1</guid><media:rating scheme="urn:v-chip">\#(rating)</media:rating></item></channel></rss>"#
            }
            let above = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("kids-tv", extra: [("resource", mrss("TV-14"))]), headers: json)
            #expect(above.status == .forbidden)
            #expect(above.json["code"] as? String == "authorization_denied_by_parental_controls")
            let within = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("kids-tv", extra: [("resource", mrss("TV-G"))]), headers: json)
            #expect(within.status == .ok)
            #expect(within.json["resource"] as? String == mrss("TV-G"))
            // The permit of one item is not a permit of a higher-rated item of the same channel.
            let stillAbove = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("kids-tv", extra: [("resource", mrss("TV-MA"))]), headers: json)
            #expect(stillAbove.status == .forbidden)
            // Not entitled to the channel at all.
            let tnt = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("kids-tv", extra: [("resource", "TNT")]), headers: json)
            #expect(tnt.json["code"] as? String == "authorization_denied_by_mvpd")
        }
    }

    @Test func repeatCallsWithinTheTTLDoNotAskTheProviderAgain() async throws {
        let counting = CountingProvider()
        let base = Fixture.configuration
        var tenant = try #require(base.directory.tenant("REF30"))
        tenant.providerIDs = ["Counting"]
        var configuration = base
        configuration.directory = try Directory(tenants: [tenant], providers: [counting])
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            let auth = try await wire.bearer()
            let code = try await wire.registrationCode(auth, deviceID: "cached")
            try await wire.browserLogin(code: code, provider: "Counting", username: "any", password: "any")
            for _ in 0..<3 {
                let reply = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("cached", extra: [("resource", "CNN")]), headers: auth)
                #expect(reply.status == .ok)
            }
            #expect(counting.calls.load(ordering: .relaxed) == 1)
            wire.clock.advance(by: 86_401)
            let auth2 = try await wire.bearer()
            _ = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("cached", extra: [("resource", "CNN")]), headers: auth2)
            #expect(counting.calls.load(ordering: .relaxed) == 2)
        }
    }
}

/// A provider that lets anyone in and counts the authorization questions it is asked.
final class CountingProvider: PasswordAuthenticating, EntitlementDeciding, Sendable {
    let id = "Counting"
    let displayName = "Counting"
    let logoURL: String? = nil
    let hasLogoutEndpoint = false
    let proxyProviderID: String? = nil
    let calls = Atomic<Int>(0)

    func authenticate(username: String, password: String) -> Subject? { Subject(userID: username, providerID: id) }
    func entitlement(for subject: Subject, resource: ResourceRequest) -> Entitlement {
        calls.add(1, ordering: .relaxed)
        return .permit
    }
    func metadata(for subject: Subject) -> [String: MetadataValue]? { nil }
}
