import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// `tessera admin …` against a real `tessera serve --demo`, whose admin token is in the
/// credentials file it wrote.
@Suite(.serialized) struct AdminCommandTests {
    /// Runs the program with `arguments`; returns its exit status and standard output.
    static func tessera(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
        let (status, output) = try await ChildProcess.run([TesseraProcess.executable.path] + arguments, environment: environment)
        return (status, String(decoding: output, as: UTF8.self))
    }

    /// A `tessera serve --demo`, a client connected to it, and the admin token it wrote.
    static func demoServer(_ name: String) async throws -> (server: TesseraProcess, client: TestClient, token: String, directory: String) {
        let directory = Instances.freshDirectory(name)
        let server = try await TesseraProcess.launch(dataDirectory: directory, database: TestStore.freshPostgresURL())
        let credentials = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/demo-credentials.json"))) as? [String: Any]
        guard let token = credentials?["admin_token"] as? String else {
            server.kill9()
            throw TesseraProcessError(output: "no admin token in the credentials file")
        }
        let client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        return (server, client, token, directory)
    }

    @Test(.timeLimit(.minutes(3))) func theOperatorListsAndRevokesASubscribersSessions() async throws {
        let (server, client, token, directory) = try await Self.demoServer("admin-cli")
        defer { server.kill9() }
        defer { Task { try? await client.shutdown() } }
        let auth = try await Instances.bearer(client, dataDirectory: directory)
        var form = auth
        form[.contentType] = "application/x-www-form-urlencoded"
        let login = try await Instances.call(client, .post, "/api/v1/authenticate/freepreview", headers: form,
                                             body: "requestor=REF30&mso_id=TempPass_5mins&deviceId=cli-tv")
        try #require(login.status == .noContent)
        let subject = try #require(Instances.json(try await Instances.call(client, .get, "/api/v1/tokens/authn?requestor=REF30&deviceId=cli-tv", headers: auth))["userId"] as? String)
        let target = ["--url", "http://127.0.0.1:\(server.port)", "--tenant", "REF30", "--subject", subject]

        let listed = try await Self.tessera(["admin", "sessions", "list"] + target, environment: ["TESSERA_ADMIN_TOKEN": token])
        #expect(listed.status == 0)
        let sessions = (try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [String: Any])?["sessions"] as? [[String: Any]]
        #expect(sessions?.map { $0["device"] as? String } == ["cli-tv"])
        #expect(sessions?.first?["provider"] as? String == "TempPass_5mins")

        let refused = try await Self.tessera(["admin", "sessions", "revoke"] + target, environment: ["TESSERA_ADMIN_TOKEN": "not-the-admin-token-at-all"])
        #expect(refused.status != 0)
        #expect(try await Instances.call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=cli-tv", headers: auth).status == .ok)

        let revoked = try await Self.tessera(["admin", "sessions", "revoke"] + target, environment: ["TESSERA_ADMIN_TOKEN": token])
        #expect(revoked.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(revoked.output.utf8)) as? [String: Any])?["revoked"] as? Int == 1)
        #expect(try await Instances.call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=cli-tv", headers: auth).status == .forbidden)
    }

    /// `tessera admin keys rotate`: the application answers a new public key at once; an unknown
    /// application and a wrong token are refused and change nothing.
    @Test(.timeLimit(.minutes(3))) func theOperatorRotatesAnApplicationKey() async throws {
        let (server, client, token, _) = try await Self.demoServer("admin-keys")
        defer { server.kill9() }
        defer { Task { try? await client.shutdown() } }
        func publicKey() async throws -> String? {
            Instances.json(try await Instances.call(client, .get, "/api/v2/sdk/public-key", headers: OneAccessSDKTests.headers()))["public_key"] as? String
        }
        let before = try #require(try await publicKey())
        let url = ["--url", "http://127.0.0.1:\(server.port)", "--tenant", "sdk-demo"]
        #expect(try await Self.tessera(["admin", "keys", "rotate", "--client", "no-such-app"] + url, environment: ["TESSERA_ADMIN_TOKEN": token]).status != 0)
        #expect(try await Self.tessera(["admin", "keys", "rotate", "--client", OneAccessSDKTests.clientID] + url,
                                 environment: ["TESSERA_ADMIN_TOKEN": "not-the-admin-token-at-all"]).status != 0)
        #expect(try await publicKey() == before)
        let rotated = try await Self.tessera(["admin", "keys", "rotate", "--client", OneAccessSDKTests.clientID] + url, environment: ["TESSERA_ADMIN_TOKEN": token])
        #expect(rotated.status == 0)
        let answer = try JSONSerialization.jsonObject(with: Data(rotated.output.utf8)) as? [String: Any]
        let after = try #require(answer?["public_key"] as? String)
        #expect(after != before)
        #expect(try await publicKey() == after)
        #expect(answer?["previous_key_decrypts_until"] is String)
    }
}
