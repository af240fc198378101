import _CryptoExtras
import Crypto
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
        // A line the services write while a request runs carries that request's id.
        #expect(lines.contains { $0.contains("event=credential-refused") && $0.contains("request=\(refused.headers[HTTPField.Name("X-Request-Id")!] ?? "?")") },
                "\(lines.filter { $0.contains("credential-refused") })")
        #expect(lines.contains { $0.contains("notice") && $0.contains("event=form-refused") && $0.contains("client=127.0.0.1") })
        // Nothing secret is written: not the bearer, not the code in the path, not the password.
        let output = server.output
        #expect(!output.contains(forged))
        #expect(!output.contains("Zm9yZ2VkLXNpZ25hdHVyZQ"))
        #expect(!output.contains(secretCode))
        #expect(!output.contains("hunter2"))
    }

    /// Every answer of every front door carries `X-Request-Id`: the client's when it is well
    /// formed (any case of the header's name), else 32 new hex characters; v1's error `trace` and
    /// USG's `request_id` are the same id. With `--log-format json` each line is a JSON object
    /// with the request id, front door, route, status and duration.
    @Test(.timeLimit(.minutes(2))) func everyAnswerCarriesTheRequestIDAndJSONLinesCarryIt() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-log-json-\(UUID())").path
        let server = try await TesseraProcess.launch(dataDirectory: dataDirectory, arguments: ["--log-format", "json"])
        defer { server.kill9() }
        let client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        defer { Task { try? await client.shutdown() } }
        let named = HTTPField.Name("X-Request-ID")!
        let calls: [(HTTPRequest.Method, String, HTTPFields)] = [
            (.get, "/healthz", [:]), (.get, "/api/v1/checkauthn?requestor=REF30&deviceId=tv", [:]), (.get, "/no/such/path", [:]),
            (.get, "/api/v2/sdk/server-date", OneAccessSDKTests.headers()), (.delete, "/v1/usg/acs/token", [:]),
            (.post, "/o/client/register", [.contentType: "application/json"]), (.get, "/activate", [:]),
        ]
        var ids: [String] = []
        for (method, path, headers) in calls {
            var sent = headers
            sent[named] = "client-id-\(ids.count)"
            let echoed = try await client.execute(.init(path, method: method, headers: sent))
            #expect(echoed.headers[named] == "client-id-\(ids.count)", "\(path)")
            var malformed = headers
            malformed[named] = "bad id with spaces"
            let fresh = try await client.execute(.init(path, method: method, headers: malformed))
            let id = try #require(fresh.headers[named], "\(path)")
            #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(path): \(id)")
            ids.append(id)
            if path.hasPrefix("/api/v1/") {
                let body = (try? JSONSerialization.jsonObject(with: Data(buffer: fresh.body ?? ByteBuffer()))) as? [String: Any]
                #expect(body?["trace"] as? String == id || String(buffer: fresh.body ?? ByteBuffer()).contains(id), "\(path)")
            }
            if path.hasPrefix("/v1/usg/") {
                let body = (try? JSONSerialization.jsonObject(with: Data(buffer: fresh.body ?? ByteBuffer()))) as? [String: Any]
                #expect(body?["request_id"] as? String == id)
            }
        }
        #expect(Set(ids).count == ids.count)
        try await Task.sleep(for: .milliseconds(200))
        let objects = server.output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: String]
        }
        let requests = objects.filter { $0["message"] == "request" }
        #expect(requests.count >= calls.count * 2, "\(server.output.suffix(2000))")
        let sdk = try #require(requests.first { $0["request"] == ids[3] })
        #expect(sdk["door"] == "oneaccess-sdk" && sdk["route"] == "/api/v2/sdk/server-date" && sdk["status"] == "200" && sdk["ms"] != nil
                && sdk["level"] == "info" && sdk["time"] != nil)
        #expect(requests.first { $0["request"] == ids[4] }?["door"] == "meeting-usg")
        #expect(requests.first { $0["request"] == ids[0] }?["door"] == "health")
    }

    /// At `trace`, the most the program writes, a run through every dialect's secrets (DCR client
    /// secret and access token, passwords, OneAccess session and id tokens and X-signatures,
    /// Meeting access and refresh tokens and App ID signatures) leaves none of them in the log.
    @Test(.timeLimit(.minutes(3))) func noSecretOfAnyDialectReachesTheLogAtTrace() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-log-trace-\(UUID())").path
        let server = try await TesseraProcess.launch(dataDirectory: dataDirectory, arguments: ["--log-level", "trace"])
        defer { server.kill9() }
        let client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        defer { Task { try? await client.shutdown() } }
        var secrets: [String] = ["sdk-user-demo", "meeting-user-demo", "demo-meeting-app-key-not-secret", "wrong-password-secret"]
        func json(_ response: TestClient.Response) -> [String: Any] { Instances.json(response) }

        // DCR and v1.
        let credentials = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/demo-credentials.json"))) as? [String: Any]
        let statement = try #require(((credentials?["tenants"] as? [[String: Any]])?.first?["software_statements"] as? [[String: Any]])?.first?["software_statement"] as? String)
        let registered = json(try await Instances.call(client, .post, "/o/client/register", headers: [.contentType: "application/json"],
                                                       body: #"{"software_statement":"\#(statement)"}"#))
        let secret = try #require(registered["client_secret"] as? String)
        let token = json(try await Instances.call(client, .post, "/o/client/token", headers: [.contentType: "application/x-www-form-urlencoded"],
                                                  body: "client_id=\(registered["client_id"] as? String ?? "")&client_secret=\(secret)&grant_type=client_credentials"))
        let access = try #require(token["access_token"] as? String)
        secrets += [statement, secret, access]
        _ = try await Instances.call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=tv", headers: [.authorization: "Bearer \(access)"])

        // OneAccess: a wrong password, a login, a refresh and a logout.
        var sdk = OneAccessSDKTests.headers()
        sdk[.contentType] = "application/json"
        _ = try await Instances.call(client, .post, "/api/v2/sdk/login", headers: sdk, body: #"{"user_name":"sdk-user","password":"wrong-password-secret"}"#)
        let login = json(try await Instances.call(client, .post, "/api/v2/sdk/login", headers: sdk, body: #"{"user_name":"sdk-user","password":"sdk-user-demo"}"#))
        let session = try #require(login["session_token"] as? String)
        secrets += [session, try #require(login["id_token"] as? String)]
        let publicKey = try #require(json(try await Instances.call(client, .get, "/api/v2/sdk/public-key", headers: sdk))["public_key"] as? String)
        let der = try #require(Data(base64Encoded: publicKey))
        let key = try _RSA.Encryption.PublicKey(derRepresentation: der)
        for (path, method, nonce) in [("/api/v2/sdk/session-token/refresh-id-token", HTTPRequest.Method.post, "n1"), ("/api/v2/sdk/logout", .get, "n2")] {
            let stamp = try #require(json(try await Instances.call(client, .get, "/api/v2/sdk/server-date", headers: sdk))["timestamp"] as? String)
            var signed = sdk
            let signature = try OneAccessSDKTests.signature(token: session, timestamp: stamp, nonce: nonce, key: key)
            signed[HTTPField.Name("X-signature")!] = signature
            secrets.append(signature)
            let answer = try await Instances.call(client, method, path, headers: signed)
            #expect(answer.status == .ok, "\(path)")
            if let idToken = json(answer)["id_token"] as? String { secrets.append(idToken) }
        }

        // Meeting USG: an account login, an App ID login, validate, refresh, delete.
        let basic = "Basic " + Data("meeting-user:meeting-user-demo".utf8).base64EncodedString()
        let pair = json(try await Instances.call(client, .post, "/v1/usg/acs/auth/account", headers: [.authorization: basic, .contentType: "application/json"],
                                                 body: #"{"account":"meeting-user","clientType":72}"#))
        let usgToken = try #require(pair["accessToken"] as? String)
        secrets += [usgToken, try #require(pair["refreshToken"] as? String), basic]
        let nonce = String(repeating: "7", count: 32)
        let signed = "demo-meeting-app-id:user-1:0:\(nonce)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signed.utf8), using: SymmetricKey(data: Data("demo-meeting-app-key-not-secret".utf8)))
        let hex = mac.map { String(format: "%02x", $0) }.joined()
        let keyed = json(try await Instances.call(client, .post, "/v2/usg/acs/auth/appauth",
                                                  headers: [.authorization: "HMAC-SHA256 signature=\(hex)", .contentType: "application/json"],
                                                  body: #"{"appId":"demo-meeting-app-id","clientType":72,"expireTime":0,"nonce":"\#(nonce)","userId":"user-1"}"#))
        secrets += [hex, try #require(keyed["accessToken"] as? String)]
        let accessHeader = HTTPField.Name("X-Access-Token")!
        _ = try await Instances.call(client, .post, "/v1/usg/acs/token/validate", headers: [.contentType: "application/json"],
                                     body: #"{"token":"\#(usgToken)","needGenNewToken":false,"needAccountInfo":true}"#)
        let refreshed = json(try await Instances.call(client, .put, "/v1/usg/acs/token", headers: [accessHeader: usgToken]))
        secrets += [try #require(refreshed["accessToken"] as? String)]
        _ = try await Instances.call(client, .delete, "/v1/usg/acs/token", headers: [accessHeader: usgToken])

        try await Task.sleep(for: .milliseconds(300))
        let output = server.output
        #expect(output.contains("route=/api/v2/sdk/logout"), "the log was written at all")
        for secret in secrets {
            #expect(!output.contains(secret), "a secret in the log: \(secret.prefix(12))…")
        }
    }
}
