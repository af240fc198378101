import Foundation
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

@Suite struct BoundedCacheTests {
    @Test func staysWithinItsCapacity() {
        let cache = BoundedCache<Int, Int>(capacity: 1_000)
        for i in 0..<100_000 { cache.set(i, i) }
        #expect(cache.count <= 1_000)
        #expect(cache.value(for: 99_999) == 99_999)
    }

    @Test func keepsWhatIsReadOften() {
        let cache = BoundedCache<Int, Int>(capacity: 128, shardCount: 1)
        cache.set(-1, -1)
        for i in 0..<10_000 {
            cache.set(i, i)
            #expect(cache.value(for: -1) == -1)
        }
    }

    @Test func aFillAfterAnInvalidationIsVoid() {
        let cache = BoundedCache<String, Int>(capacity: 1_000)
        let ticket = cache.ticket(for: "device")   // a reader is about to read the store
        cache.invalidate("device")                  // meanwhile a logout commits
        cache.fill("device", 1, ticket: ticket)     // the reader's (stale) answer
        #expect(cache.value(for: "device") == nil)
        let fresh = cache.ticket(for: "device")
        cache.fill("device", 2, ticket: fresh)
        #expect(cache.value(for: "device") == 2)
        cache.invalidateAll()
        #expect(cache.value(for: "device") == nil)
    }

    @Test func capacityZeroTurnsItOff() {
        let cache = BoundedCache<Int, Int>(capacity: 0)
        cache.set(1, 1)
        cache.fill(1, 1, ticket: cache.ticket(for: 1))
        #expect(cache.value(for: 1) == nil)
    }
}

@Suite struct BearerHeaderTests {
    @Test func parsesTheScheme() {
        #expect(ClientlessV1.bearerToken("Bearer abc") == "abc")
        #expect(ClientlessV1.bearerToken("bearer   abc  ") == "abc")
        #expect(ClientlessV1.bearerToken("BEARER\u{20}abc") == "abc")
        #expect(ClientlessV1.bearerToken("Bearer ") == "")
        #expect(ClientlessV1.bearerToken("Basic abc") == nil)
        #expect(ClientlessV1.bearerToken("GET requestor_id=REF30") == nil)
        #expect(ClientlessV1.bearerToken("Bear") == nil)
    }
}

/// Reads served from memory never outlive a logout: once the 204 is out, the next request is
/// refused, however many reads raced with the logout.
@Suite struct CachedRevocationTests {
    @Test func theNextRequestAfterALogoutIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            for round in 0..<40 {
                let device = "race-\(round % 4)"
                let start = try await wire.form(.post, "/api/v1/authenticate/freepreview",
                                                [("requestor", "REF30"), ("deviceId", device), ("mso_id", "TempPass_promo"),
                                                 ("generic_data", #"{"email":"race\#(round)@example.com"}"#)], headers: auth)
                try #require(start.status == .noContent, "\(start.body)")
                let authorizeURI = "/api/v1/authorize" + wire.deviceQuery(device, extra: [("resource", "REF30")])
                #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(device), headers: auth).status == .ok)
                #expect(try await wire.send(.get, authorizeURI, headers: auth).status == .ok)
                // Readers keep the session and the decision hot while the logout runs.
                async let racing: Void = withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<6 {
                        group.addTask {
                            for _ in 0..<4 {
                                _ = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(device), headers: auth)
                                _ = try await wire.send(.get, authorizeURI, headers: auth)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let logout = try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery(device), headers: auth)
                #expect(logout.status == .noContent)
                let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery(device), headers: auth)
                #expect(check.status == .forbidden, "round \(round): checkauthn after logout answered \(check.status)")
                let authorize = try await wire.send(.get, authorizeURI, headers: auth)
                #expect(authorize.status == .forbidden, "round \(round): authorize after logout answered \(authorize.status)")
                try await racing
                // Whatever the readers saw, nothing brought the session back.
                #expect(try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery(device), headers: auth).status == .notFound)
                #expect(try await harness.count("session", where: "device_id = '\(device)'") == 0)
            }
        }
    }
}

/// The authN token is answered from its encoded form, kept by session id: a device signed in
/// again answers with its new session, in either format.
@Suite struct EncodedAuthenticationTests {
    @Test func aDeviceSignedInAgainAnswersWithItsNewSession() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "encoded-tv")
            let query = wire.deviceQuery("encoded-tv")
            let first = try await wire.send(.get, "/api/v1/tokens/authn" + query, headers: auth)
            try #require(first.status == .ok)
            #expect(first.json["mvpd"] as? String == "Cablevision")
            #expect(first.json["userId"] as? String == "cv-user-full")
            let again = try await wire.send(.get, "/api/v1/checkauthn" + query, headers: auth)
            #expect(again.status == .ok && again.body == first.body)
            #expect(again.header("Content-Type") == "application/json;charset=UTF-8")
            #expect(again.header("Cache-Control") == "no-store")

            #expect(try await wire.send(.delete, "/api/v1/logout" + query, headers: auth).status == .noContent)
            let temporary = try await wire.form(.post, "/api/v1/authenticate/freepreview",
                                                [("requestor", "REF30"), ("deviceId", "encoded-tv"), ("mso_id", "TempPass_promo"),
                                                 ("generic_data", #"{"email":"encoded@example.com"}"#)], headers: auth)
            try #require(temporary.status == .noContent, "\(temporary.body)")
            let second = try await wire.send(.get, "/api/v1/tokens/authn" + query, headers: auth)
            #expect(second.status == .ok)
            #expect(second.json["mvpd"] as? String == "TempPass_promo")
            #expect(second.json["userId"] as? String != "cv-user-full")
            var xmlHeaders = auth
            xmlHeaders[.accept] = "application/xml"
            let xml = try await wire.send(.get, "/api/v1/tokens/authn" + query, headers: xmlHeaders)
            #expect(xml.status == .ok && xml.body.contains("<mvpd>TempPass_promo</mvpd>"), "\(xml.body)")
        }
    }
}

@Suite struct CheapParsingTests {
    @Test func percentDecodingOnlyWhenNeeded() {
        #expect(RequestParameters.percentDecoded("deviceId") == "deviceId")
        #expect(RequestParameters.percentDecoded("device%49d") == "deviceId")
        #expect(RequestParameters.percentDecoded("a+b", plusIsSpace: true) == "a b")
        #expect(RequestParameters.percentDecoded("a+b") == "a+b")
        #expect(RequestParameters.percentDecoded("bad%zz") == nil)
        let form = RequestParameters(form: "device%49d=tv+1&resource=%3Crss%3E")
        #expect(form["deviceId"] == "tv 1")
        #expect(form["resource"] == "<rss>")
    }

    @Test func resourcesAreTrimmedOnlyWhenPadded() throws {
        #expect(try ResourceRequest(parsing: "REF30").raw == "REF30")
        #expect(try ResourceRequest(parsing: " REF30\n").raw == "REF30")
        #expect(throws: TesseraError.self) { try ResourceRequest(parsing: "  ") }
    }
}

@Suite struct AcceptHeaderTests {
    @Test func findsWordsIgnoringCase() {
        #expect(ClientlessV1.contains("Application/JSON; q=1", "application/json"))
        #expect(ClientlessV1.contains("text/html, application/xml", "xml"))
        #expect(!ClientlessV1.contains("application/jso", "application/json"))
        #expect(!ClientlessV1.contains("", "xml"))
        #expect(ClientlessV1.contains("xml", "xml"))
    }
}
