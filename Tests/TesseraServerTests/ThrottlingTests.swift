import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// 1 request/s with a burst of 10 per client address; the 11th immediate request gets 429.
@Suite struct ThrottlingTests {
    func configuration(trusting proxies: [String]) throws -> TesseraConfiguration {
        var configuration = Fixture.configuration
        configuration.throttling = true
        configuration.trustedProxies = try TrustedProxies(proxies)
        return configuration
    }

    func checkauthn(_ wire: Wire, _ auth: HTTPFields, forwardedFor: String?) async throws -> Reply {
        var headers = auth
        if let forwardedFor { headers[HTTPField.Name("X-Forwarded-For")!] = forwardedFor }
        return try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("tv"), headers: headers)
    }

    @Test func theEleventhRequestFromOneAddressIs429AndAnotherAddressIsUnaffected() async throws {
        let harness = try Harness(configuration: try configuration(trusting: ["127.0.0.1", "::1"]))
        try await harness.run { wire in
            // Registration is throttled too; it comes from its own address here.
            var auth = try await wire.bearer()
            auth[.accept] = "application/json"
            for i in 1...10 {
                #expect(try await checkauthn(wire, auth, forwardedFor: "198.51.100.7").status == .forbidden, "request \(i)")
            }
            let limited = try await checkauthn(wire, auth, forwardedFor: "198.51.100.7")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.header("Content-Type") == "text/html")
            #expect(limited.header("Retry-After") == nil)
            #expect(limited.body.contains("429 Too Many Requests"))
            #expect(try await checkauthn(wire, auth, forwardedFor: "203.0.113.50").status == .forbidden)
            // One second later, one more request is allowed, and only one.
            wire.clock.advance(by: 1)
            #expect(try await checkauthn(wire, auth, forwardedFor: "198.51.100.7").status == .forbidden)
            #expect(try await checkauthn(wire, auth, forwardedFor: "198.51.100.7").status == .tooManyRequests)
            // Pages outside the list are not throttled.
            #expect(try await wire.send(.get, "/activate", headers: [HTTPField.Name("X-Forwarded-For")!: "198.51.100.7"]).status == .ok)
        }
    }

    @Test func aSpoofedForwardedForFromAnUntrustedPeerDoesNotChangeTheBucket() async throws {
        let harness = try Harness(configuration: try configuration(trusting: []))
        try await harness.run { wire in
            var auth = try await wire.bearer()
            auth[.accept] = "application/json"
            // The requestor's bucket for this peer: ten calls, whatever X-Forwarded-For claims.
            for i in 1...10 {
                #expect(try await checkauthn(wire, auth, forwardedFor: "192.0.2.\(i)").status == .forbidden, "request \(i)")
            }
            #expect(try await checkauthn(wire, auth, forwardedFor: "192.0.2.200").status == .tooManyRequests)
            #expect(try await checkauthn(wire, auth, forwardedFor: nil).status == .tooManyRequests)
        }
    }

    @Test func theBucketTableIsBounded() {
        let clock = ManualClock(Fixture.start)
        let buckets = TokenBuckets(capacity: 100, clock: clock)
        for i in 0..<1000 { _ = buckets.take("client-\(i)", policy: ThrottlePolicy()) }
        #expect(buckets.count <= 100)
        // An emptied bucket is kept while it matters.
        for _ in 0..<10 { _ = buckets.take("busy", policy: ThrottlePolicy()) }
        for i in 0..<200 { _ = buckets.take("other-\(i)", policy: ThrottlePolicy()) }
        #expect(!buckets.take("busy", policy: ThrottlePolicy()))
    }
}
