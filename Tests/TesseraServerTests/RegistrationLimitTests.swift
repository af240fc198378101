import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore

/// DCR registrations were unlimited rows: now capped per software statement and address, and
/// clients that never get an access token are purged.
@Suite struct RegistrationLimitTests {
    @Test func registrationsPerStatementAndAddressAreCapped() async throws {
        var configuration = Fixture.configuration
        configuration.registrationsPerAddress = 3
        configuration.trustedProxies = try TrustedProxies(["127.0.0.1", "::1"])
        let harness = try Harness(configuration: configuration)
        try await harness.run { wire in
            func register(tenant: String = "REF30", from address: String) async throws -> Reply {
                let statement = try await wire.softwareStatement(tenant: tenant)
                return try await wire.send(.post, "/o/client/register", headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: address],
                                           body: #"{"software_statement":"\#(statement)"}"#)
            }
            for _ in 0..<3 { #expect(try await register(from: "198.51.100.1").status == .created) }
            let refused = try await register(from: "198.51.100.1")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.json["error"] as? String == "invalid_request")
            #expect(try await register(from: "198.51.100.2").status == .created)
            #expect(try await register(tenant: "OTHER40", from: "198.51.100.1").status == .created)
            wire.clock.advance(by: 3601)
            #expect(try await register(from: "198.51.100.1").status == .created)
        }
        #expect(try await harness.count("registered_client") == 6)
    }

    @Test func aClientThatNeverGotATokenIsPurgedAfterADay() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let bearer = try await wire.bearer() // registered and used
            let statement = try await wire.softwareStatement()
            let unused = try await wire.send(.post, "/o/client/register", headers: [.contentType: "application/json"],
                                             body: #"{"software_statement":"\#(statement)"}"#)
            let unusedID = try #require(unused.json["client_id"] as? String)
            wire.clock.advance(by: unusedClientLifetime + 1)
            _ = try await wire.store.purgeExpired(now: wire.clock.now(), grace: 86_400)
            #expect(try await wire.store.client(id: unusedID) == nil)
            let usedID = try BearerStrictnessTests.clientID(of: bearer)
            #expect(try await wire.store.client(id: usedID) != nil)
            // Its credentials are gone with it.
            let token = try await wire.form(.post, "/o/client/token", [("client_id", unusedID), ("client_secret", unused.json["client_secret"] as? String ?? ""),
                                                                        ("grant_type", "client_credentials")])
            #expect(token.json["error"] as? String == "invalid_client")
        }
        #expect(try await harness.count("registered_client") == 1)
    }
}
