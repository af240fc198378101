import Dispatch
import Foundation
import HTTPTypes
import Synchronization
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

@Suite struct TrustedProxyTests {
    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let proxies = try TrustedProxies(["10.0.0.0/8", "::1", "192.168.1.7"])
        #expect(proxies.clientAddress(peer: "203.0.113.9", forwardedFor: "1.2.3.4") == "203.0.113.9")
        #expect(proxies.clientAddress(peer: "10.1.2.3", forwardedFor: "1.2.3.4") == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "10.1.2.3", forwardedFor: "6.6.6.6, 1.2.3.4, 10.9.9.9") == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "::1", forwardedFor: "2001:db8::5") == "2001:db8::5")
        #expect(proxies.clientAddress(peer: "192.168.1.7", forwardedFor: "garbage") == "192.168.1.7")
        #expect(proxies.clientAddress(peer: "192.168.1.8", forwardedFor: "1.2.3.4") == "192.168.1.8")
        #expect(proxies.clientAddress(peer: nil, forwardedFor: "1.2.3.4") == "unknown")
        #expect(throws: ConfigurationError.self) { try TrustedProxies(["not-an-ip"]) }
        #expect(throws: ConfigurationError.self) { try TrustedProxies(["10.0.0.0/33"]) }
    }

    @Test func theLimiterIsBoundedAndForgets() {
        let clock = ManualClock(Fixture.start)
        let limiter = AttemptLimiter(limit: 2, window: 60, capacity: 10, clock: clock)
        limiter.recordFailure("a")
        limiter.recordFailure("a")
        #expect(!limiter.allows("a"))
        #expect(limiter.allows("b"))
        for i in 0..<50 { limiter.recordFailure("k\(i)") }
        clock.advance(by: 61)
        #expect(limiter.allows("a"))
    }
}

@Suite struct HeaderValueTests {
    /// `value(_:)` answers what HTTPTypes' subscript answers, for every count of fields.
    @Test func aHeaderValueIsWhatTheSubscriptGives() throws {
        let custom = try #require(HTTPField.Name("X-Custom"))
        let cases: [[HTTPField]] = [
            [],
            [HTTPField(name: .accept, value: "application/json")],
            [HTTPField(name: .userAgent, value: "tv"), HTTPField(name: .accept, value: "a/b"), HTTPField(name: .accept, value: "c/d")],
            [HTTPField(name: .cookie, value: "a=1"), HTTPField(name: .cookie, value: "b=2")],
            [HTTPField(name: .authorization, value: "Bearer x"), HTTPField(name: .authorization, value: "Bearer y")],
            [HTTPField(name: custom, value: ""), HTTPField(name: .accept, value: "x")],
        ]
        for fields in cases {
            let headers = HTTPFields(fields)
            for name in [HTTPField.Name.accept, .cookie, .authorization, .userAgent, custom, .deviceInfo] {
                #expect(headers.value(name) == headers[name], "\(name) in \(fields)")
            }
        }
        #expect(HTTPFields([HTTPField(name: .accept, value: "a/b"), HTTPField(name: .accept, value: "c/d")]).value(.accept) == "a/b, c/d")
        #expect(HTTPFields([HTTPField(name: .forwardedFor, value: "1.2.3.4")]).value(HTTPField.Name("x-forwarded-for")!) == "1.2.3.4")
    }
}

@Suite struct RequestParameterTests {
    /// Below and past the point where names are indexed: every name found, the first of a
    /// repeated name kept, absent names absent.
    @Test func parametersAreFoundWithFewAndWithMany() {
        for count in [1, 3, RequestParameters.scanLimit, RequestParameters.scanLimit + 1, 200] {
            let text = (0..<count).map { "p\($0)=v\($0)" } + (0..<count).map { "p\($0)=again" }
            let parameters = RequestParameters(form: text.joined(separator: "&"))
            for i in 0..<count { #expect(parameters["p\(i)"] == "v\(i)", "p\(i) of \(count)") }
            #expect(parameters["p\(count)"] == nil)
            #expect(parameters["P0"] == nil)
        }
        let decoded = RequestParameters(form: "device%5Fid=a+b%21&empty=&flag")
        #expect(decoded["device_id"] == "a b!")
        #expect(decoded["empty"] == "")
        #expect(decoded["flag"] == "")
    }
}

@Suite struct LineLogHandlerTests {
    /// The request id kept beside the other metadata reads back like any other key.
    @Test func theRequestIDIsMetadataLikeAnyOther() {
        var handler = LineLogHandler(label: "test")
        handler[metadataKey: "hb.request.id"] = "r1"
        handler[metadataKey: "tenant"] = "REF30"
        #expect(handler[metadataKey: "hb.request.id"] == "r1")
        #expect(handler.metadata == ["hb.request.id": "r1", "tenant": "REF30"])
        handler.metadata = ["hb.request.id": "r2", "other": "x"]
        #expect(handler[metadataKey: "hb.request.id"] == "r2")
        #expect(handler[metadataKey: "tenant"] == nil)
        #expect(handler.metadata == ["hb.request.id": "r2", "other": "x"])
        handler[metadataKey: "hb.request.id"] = nil
        #expect(handler.metadata == ["other": "x"])
    }
}

@Suite struct SessionRuleTests {
    @Test func deviceUserMustMatchTheRegistrationCodes() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "shared-tv", extra: [("deviceUser", "ann")])
            try await wire.browserLogin(code: code)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("shared-tv"), headers: auth).status == .ok)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("shared-tv", extra: [("deviceUser", "ann")]), headers: auth).status == .ok)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("shared-tv", extra: [("deviceUser", "bob")]), headers: auth).status == .forbidden)
            #expect(try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("shared-tv", extra: [("deviceUser", "bob")]), headers: auth).status == .notFound)
        }
    }

    @Test func anExpiredAuthenticationAnswers410AndThe403OfCheckauthn() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            var auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "old-tv")
            try await wire.browserLogin(code: code)
            wire.clock.advance(by: 604_801)
            auth = wire.deviceHeaders(try await wire.bearer()) // the old bearer expired after 6 h
            let authn = try await wire.send(.get, "/api/v1/tokens/authn" + wire.deviceQuery("old-tv"), headers: auth)
            #expect(authn.status == .gone)
            #expect(authn.json["code"] as? String == "authentication_session_expired")
            let check = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("old-tv"), headers: auth)
            #expect(check.status == .forbidden)
            #expect(check.json["code"] as? String == "authentication_session_expired")
        }
    }

    @Test func theBackgroundPurgeRemovesExpiredCodes() async throws {
        let harness = try Harness(purgeInterval: .milliseconds(50))
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            _ = try await wire.registrationCode(auth, deviceID: "tv", extra: [("ttl", "5")])
            _ = try await wire.registrationCode(auth, deviceID: "tv2")
            #expect(try await harness.count("pending_login") == 2)
            wire.clock.advance(by: 6)
            for _ in 0..<100 where try await harness.count("pending_login") != 1 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(try await harness.count("pending_login") == 1)
        }
    }

    @Test func requireDeviceInfoPolicy() async throws {
        var tenant = try #require(Fixture.configuration.directory.tenant("REF30"))
        tenant.policies.requireDeviceInfo = true
        let directory = try Directory(tenants: [tenant], providers: Array(Fixture.configuration.directory.providers.values))
        var configuration = TesseraConfiguration(directory: directory, publicBaseURL: nil, trustedProxies: try TrustedProxies([]),
                                                 helpURL: "https://help.test/", throttling: false, knownPasswords: [:])
        configuration.keySealing = Fixture.configuration.keySealing
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            var auth = try await wire.bearer()
            auth[.accept] = "application/json"
            let missing = try await wire.form(.post, "/reggie/v1/REF30/regcode", [("deviceId", "d")], headers: auth)
            #expect(missing.status == .badRequest)
            #expect(missing.json["code"] as? String == "invalid_device_info")
            #expect(missing.json["helpUrl"] as? String == "https://help.test/")
            let given = try await wire.form(.post, "/reggie/v1/REF30/regcode", [("deviceId", "d"), ("device_info", Fixture.deviceInfo)], headers: auth)
            #expect(given.status == .created)
        }
    }
}

@Suite struct SigningLaneTests {
    struct Refused: Error, Equatable { let index: Int }

    /// Each caller gets its own result, or its own error.
    @Test func everyCallerResumesWithItsOwnOutcome() async throws {
        let lanes = SigningLanes(count: 3)
        let outcomes = await withTaskGroup(of: (Int, Result<String, Refused>).self) { group in
            for index in 0..<300 {
                group.addTask {
                    do {
                        return (index, .success(try await lanes.run {
                            if index % 7 == 0 { throw Refused(index: index) }
                            return "token \(index)"
                        }))
                    } catch {
                        return (index, .failure(error as! Refused))
                    }
                }
            }
            var all: [Int: Result<String, Refused>] = [:]
            for await (index, outcome) in group { all[index] = outcome }
            return all
        }
        #expect(outcomes.count == 300)
        for (index, outcome) in outcomes {
            switch outcome {
            case .success(let token): #expect(index % 7 != 0 && token == "token \(index)")
            case .failure(let refused): #expect(refused == Refused(index: index))
            }
        }
    }

    /// Lanes are taken in turn: while one is busy, the next call runs on another.
    @Test func aBusyLaneDoesNotHoldUpTheNextCall() async throws {
        let lanes = SigningLanes(count: 2)
        let started = Atomic<Bool>(false)
        let ran = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        let busy = Task {
            try await lanes.run {
                started.store(true, ordering: .sequentiallyConsistent)
                release.wait()
                return "busy"
            }
        }
        while !started.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(5)) }
        let next = Task { try await lanes.run { ran.store(true, ordering: .sequentiallyConsistent); return "next" } }
        let deadline = ContinuousClock.now + .seconds(5)
        while !ran.load(ordering: .sequentiallyConsistent), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let nextRan = ran.load(ordering: .sequentiallyConsistent)
        #expect(nextRan, "the next call waited for the busy lane")
        release.signal()
        #expect(try await busy.value == "busy")
        #expect(try await next.value == "next")
    }
}
