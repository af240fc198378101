import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import NIOCore
import Testing
import TesseraCore
@testable import TesseraServices

/// The programmer's back-channel is durable: with its endpoint down, logouts wait in the store's
/// outbox; Tessera killed with SIGKILL meanwhile and started again delivers every one once the
/// endpoint is back, each a valid signed logout token, each session's once (again only after an answer was lost).
@Suite(.serialized) struct BackchannelDurabilityTests {
    @Test(.timeLimit(.minutes(5))) func everyLogoutTokenArrivesAfterTheEndpointWasDownAndTesseraWasKilled() async throws {
        let fake = try FakeOpenIDProvider(clock: ManualClock())
        fake.setReceiverDown(true)
        try await fake.run { issuer in
            let directory = Instances.freshDirectory("backchannel")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let demo = try TesseraConfiguration.demoYAML()
            let marker = "  - requestor: REF30\n"
            try #require(demo.contains(marker))
            let yaml = demo.replacingOccurrences(of: marker, with: marker + "    backchannel_logout_uri: \(issuer)/programmer/logout\n")
            let path = directory + "/tessera.yaml"
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            let database = TestStore.freshPostgresURL()
            let first = try await TesseraProcess.launch(dataDirectory: directory, database: database, config: path)
            let devices = 5
            do {
                let client = TestClient(host: "127.0.0.1", port: first.port)
                client.connect()
                let auth = try await Instances.bearer(client, dataDirectory: directory, credentials: "credentials.json")
                var form = auth
                form[.contentType] = "application/x-www-form-urlencoded"
                for device in 0..<devices {
                    let login = try await Instances.call(client, .post, "/api/v1/authenticate/freepreview", headers: form,
                                                         body: "requestor=REF30&mso_id=TempPass_5mins&deviceId=bc-\(device)")
                    try #require(login.status == .noContent)
                    let logout = try await Instances.call(client, .delete, "/api/v1/logout?requestor=REF30&deviceId=bc-\(device)", headers: auth)
                    try #require(logout.status == .noContent)
                }
                // Each was tried and refused at least once; then the process dies without a word.
                #expect(try await OpenIDConnectTests.eventually(30) { fake.receiverCalls >= devices })
                try? await client.shutdown()
            }
            await first.killed()
            #expect(fake.received.isEmpty)

            fake.setReceiverDown(false)
            let second = try await TesseraProcess.launch(dataDirectory: directory, database: database, config: path)
            defer { second.kill9() }
            // A delivery the killed process had claimed waits for its lease (a minute) to end.
            #expect(try await OpenIDConnectTests.eventually(100) { fake.received.count >= devices })
            try await Task.sleep(for: .seconds(2))
            // At least once: a token whose 2xx answer is lost or late (over the 10 s bound) is sent
            // again, with the same `sid`, which receivers deduplicate (6 tokens for 5 logouts were
            // seen once with this test beside the whole suite on two cores). Every session's
            // token arrives, and a repeat for each would be deliveries not being recorded.
            #expect(fake.received.count >= devices && fake.received.count < 2 * devices, "each logout once, or again after a lost answer")

            // Each a logout token signed with the key Tessera publishes.
            let client = TestClient(host: "127.0.0.1", port: second.port)
            client.connect()
            let jwks = try await Instances.call(client, .get, "/o/client/jwks")
            let keys = JWTKeyCollection()
            try await keys.add(jwksJSON: String(buffer: try #require(jwks.body)))
            var sessions = Set<String>()
            for token in fake.received {
                let claims = try await keys.verify(token, as: TokenAuthority.LogoutTokenClaims.self)
                #expect(claims.aud.value == ["REF30"] && claims.mvpd == "TempPass_5mins")
                #expect(claims.events.keys.sorted() == [TokenAuthority.LogoutTokenClaims.event])
                sessions.insert(claims.sid)
            }
            #expect(sessions.count == devices)
            try? await client.shutdown()
        }
    }
}
