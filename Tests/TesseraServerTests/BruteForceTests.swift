import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Guessing from many addresses, and a household that mistypes behind one: limits per
/// subscriber and per tenant as well as per address (see `LoginLimits`).
@Suite struct BruteForceTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// Loopback is a trusted proxy, so that X-Forwarded-For names the client.
    static func harness() throws -> Harness {
        var configuration = Fixture.configuration
        configuration.trustedProxies = try TrustedProxies(["127.0.0.1", "::1"])
        return try Harness(configuration: configuration)
    }

    /// A browser at `address`.
    static func browser(_ wire: Wire, address: String) -> Browser {
        Browser { method, uri, headers, body in
            var headers = headers
            headers[forwardedFor] = address
            return try await wire.send(method, uri, headers: headers, body: body)
        }
    }

    /// A provider login page for a fresh attempt at `code`, opened from `address`.
    static func loginPage(_ wire: Wire, code: String, address: String) async throws -> (Browser, Reply) {
        let browser = browser(wire, address: address)
        let start = try await browser.get(wire.authenticateURI(code: code, provider: "Dish"))
        try #require(start.status == .found, "\(start.status) \(start.body)")
        return (browser, try await browser.get(try #require(start.header("Location"))))
    }

    @Test func wrongPasswordsFromManyAddressesLockTheSubscriberKnownOrNot() async throws {
        let harness = try Self.harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            // As seen: wrong passwords for one subscriber from many addresses, two per attempt.
            var answers: [HTTPResponse.Status] = []
            for address in 0..<15 {
                let (browser, page) = try await Self.loginPage(wire, code: code, address: "198.51.100.\(address)")
                for _ in 0..<2 { answers.append(try await browser.submit(page, [("username", "dish-full"), ("password", "guess")]).status) }
            }
            #expect(answers.prefix(9).allSatisfy { $0 == .unauthorized })
            #expect(answers[9] == .tooManyRequests) // the tenth locks the account
            #expect(answers.dropFirst(10).allSatisfy { $0 == .tooManyRequests })
            // The right password, from an address that never failed, is refused too.
            let (browser, page) = try await Self.loginPage(wire, code: code, address: "203.0.113.9")
            let right = try await browser.submit(page, [("username", "Dish-Full "), ("password", "dish-full-demo")])
            #expect(right.status == .tooManyRequests)
            #expect(right.body.contains("Too many failed sign-ins for this account. Try again after "))
            #expect(try await harness.count("provider_session") == 0)

            // A username nobody has locks the same way, with the same answer.
            var unknown: [HTTPResponse.Status] = []
            for address in 20..<25 {
                let (browser, page) = try await Self.loginPage(wire, code: code, address: "198.51.100.\(address)")
                for _ in 0..<2 { unknown.append(try await browser.submit(page, [("username", "nobody"), ("password", "guess")]).status) }
            }
            #expect(unknown == Array(repeating: .unauthorized, count: 9) + [.tooManyRequests])
            let (other, otherPage) = try await Self.loginPage(wire, code: code, address: "203.0.113.10")
            let lockedUnknown = try await other.submit(otherPage, [("username", "nobody"), ("password", "guess")])
            #expect(lockedUnknown.status == right.status)
            #expect(lockedUnknown.body.replacing(/after \d\d:\d\d UTC/, with: "") == right.body.replacing(/after \d\d:\d\d UTC/, with: ""))

            // Another subscriber of the same provider is not locked.
            let (third, thirdPage) = try await Self.loginPage(wire, code: code, address: "203.0.113.11")
            #expect(try await third.submit(thirdPage, [("username", "dish-basic"), ("password", "dish-basic-demo")]).status == .ok)

            // Past the unlock time the right password works again.
            wire.clock.advance(by: 901)
            let later = try await wire.registrationCode(auth, deviceID: "tv-2")
            let (again, againPage) = try await Self.loginPage(wire, code: later, address: "203.0.113.12")
            let confirmation = try await again.submit(againPage, [("username", "dish-full"), ("password", "dish-full-demo")])
            #expect(confirmation.status == .ok)
            #expect(try await again.submit(confirmation, [("decision", "confirm")]).status == .seeOther)
        }
    }

    @Test func wrongCodesFromManyAddressesSlowTheTenantDown() async throws {
        let harness = try Self.harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            var statuses: [HTTPResponse.Status: Int] = [:]
            // As seen: 1,000 wrong codes from 100 addresses, ten each.
            for attempt in 0..<1_000 {
                let wrong = String(format: "A%06d", attempt).replacingOccurrences(of: "0", with: "B").replacingOccurrences(of: "1", with: "C")
                let reply = try await wire.send(.get, wire.authenticateURI(code: wrong, provider: "Dish"),
                                                headers: [Self.forwardedFor: "198.51.\(attempt % 100).1", .accept: "application/json"])
                statuses[reply.status, default: 0] += 1
            }
            #expect(statuses[.badRequest] == 105) // the alarm at 100, then the guarded bucket's burst of 5
            #expect(statuses[.tooManyRequests] == 895)
            // Guarded: a valid code from a new address waits for the bucket too…
            let guarded = try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: [Self.forwardedFor: "203.0.113.1"])
            #expect(guarded.status == .tooManyRequests)
            // …which refills at one check a second.
            wire.clock.advance(by: 1)
            let valid = try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: [Self.forwardedFor: "203.0.113.1"])
            #expect(valid.status == .found)
            // Ten minutes after the last alarm the tenant is no longer guarded.
            wire.clock.advance(by: 601)
            for _ in 0..<10 {
                #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: [Self.forwardedFor: "203.0.113.2"]).status == .found)
            }
        }
    }

    @Test func aHouseholdThatMistypedIsNotLockedOutForMinutes() async throws {
        let harness = try Self.harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            let code = try await wire.registrationCode(auth, deviceID: "tv")
            let home: HTTPFields = [Self.forwardedFor: "192.0.2.77", .accept: "application/json"]
            // A few typos: the right code works at once.
            for typo in ["AAAAAAA", "BBBBBBB", "CCCCCCC"] {
                #expect(try await wire.send(.get, wire.authenticateURI(code: typo, provider: "Dish"), headers: home).status == .badRequest)
            }
            #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: home).status == .found)
            // Many: the address is slowed to one check per 30 s, not shut out for ten minutes.
            for typo in 0..<7 {
                #expect(try await wire.send(.get, wire.authenticateURI(code: "DDDDDD\(["D", "E", "F", "G", "H", "J", "K"][typo])", provider: "Dish"),
                                            headers: home).status == .badRequest)
            }
            #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: home).status == .tooManyRequests)
            // Another address of the same tenant is not held up by this one.
            #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: [Self.forwardedFor: "192.0.2.78"]).status == .found)
            wire.clock.advance(by: 31)
            #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: home).status == .found)
            #expect(try await wire.send(.get, wire.authenticateURI(code: code, provider: "Dish"), headers: home).status == .tooManyRequests)
        }
    }

    @Test func theLimitsComeFromTheYAML() throws {
        let yaml = try TesseraConfiguration.demoYAML().replacingOccurrences(of: "server:\n", with: """
            server:
              login_limits: {lockout_attempts: 3, lockout_duration: 60, code_failure_alarm: 20, address_backoff: 5}

            """)
        try #require(yaml.contains("login_limits"))
        let limits = try TesseraConfiguration.load(yaml: yaml).loginLimits
        #expect(limits.lockoutAttempts == 3)
        #expect(limits.lockoutDuration == 60)
        #expect(limits.codeFailureAlarm == 20)
        #expect(limits.addressBackoff == 5)
        #expect(limits.window == 600)
        #expect(throws: ConfigurationError.self) {
            try TesseraConfiguration.load(yaml: yaml.replacingOccurrences(of: "lockout_attempts: 3", with: "lockout_attempts: 0"))
        }
    }
}
