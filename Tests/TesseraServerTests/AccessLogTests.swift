import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The record of who tried what: one line per request at info, security events at notice,
/// and never a code, token or password in either.
@Suite(.serialized) struct AccessLogTests {
    @Test(.timeLimit(.minutes(2))) func everyRequestHasALineAndNoSecretIsWritten() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-log-\(UUID())").path
        let server = try await TesseraProcess.launch(dataDirectory: dataDirectory)
        defer { server.kill9() }
        let client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        defer { Task { try? await client.shutdown() } }
        let forged = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLW5vcGUifQ.eyJyZXF1ZXN0b3IiOiJSRUYzMCJ9.Zm9yZ2VkLXNpZ25hdHVyZQ"
        let secretCode = "SECRETC"
        _ = try await client.execute(.init("/healthz", method: .get))
        let refused = try await client.execute(.init("/api/v1/checkauthn?requestor=REF30&deviceId=tv", method: .get,
                                                      headers: [.authorization: "Bearer \(forged)"]))
        #expect(refused.status == .unauthorized)
        _ = try await client.execute(.init("/reggie/v1/REF30/regcode/\(secretCode)", method: .get, headers: [.authorization: "Bearer \(forged)"]))
        _ = try await client.execute(.init("/idp/Dish/login", method: .post,
                                           headers: [.contentType: "application/x-www-form-urlencoded", .origin: "https://evil.example"],
                                           body: ByteBuffer(string: "state=x&username=dish-full&password=hunter2-secret")))
        _ = try await client.execute(.init("/activate", method: .post,
                                           headers: [.contentType: "application/x-www-form-urlencoded", .origin: "https://evil.example"],
                                           body: ByteBuffer(string: "requestor=REF30&code=ABCDEFG&provider=Dish")))
        try await Task.sleep(for: .milliseconds(200))
        let lines = server.output.split(separator: "\n").map(String.init)
        let requests = lines.filter { $0.contains(" info tessera: request ") }
        #expect(requests.count >= 4, "\(requests)")
        let health = try #require(requests.first { $0.contains("route=/healthz") })
        #expect(health.contains("status=200") && health.contains("method=GET") && health.contains("client=127.0.0.1") && health.contains("ms="))
        let check = try #require(requests.first { $0.contains("route=/api/v1/checkauthn ") })
        #expect(check.contains("status=401") && check.contains("tenant=REF30"), "\(check)")
        #expect(check.contains("request=\(refused.headers[HTTPField.Name("X-Request-Id")!] ?? "?")"))
        #expect(requests.contains { $0.contains("route=/reggie/v1/{requestor}/regcode/{code}") }, "\(requests)")
        #expect(lines.contains { $0.contains("notice") && $0.contains("event=credential-refused") && $0.contains("tenant=REF30") })
        #expect(lines.contains { $0.contains("notice") && $0.contains("event=form-refused") && $0.contains("client=127.0.0.1") })
        // Nothing secret is written: not the bearer, not the code in the path, not the password.
        let output = server.output
        #expect(!output.contains(forged))
        #expect(!output.contains("Zm9yZ2VkLXNpZ25hdHVyZQ"))
        #expect(!output.contains(secretCode))
        #expect(!output.contains("hunter2"))
    }
}
