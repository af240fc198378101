import Foundation
import Testing

/// An independent client of the OneAccess user SDK API: `Tests/clients/oneaccess_sdk.py`, Python's
/// standard HTTP client and the `cryptography` package, against the real `tessera` program with
/// the demo tenant. It proves possession both ways Java clients encrypt (MGF1-SHA-256 and
/// MGF1-SHA-1) and verifies the id tokens against the JWKS with its own RSA code.
///
/// `.ci/run` installs `cryptography` and sets TESSERA_REQUIRE_REAL_CLIENTS, so that on CI a
/// missing package fails this suite instead of skipping it.
@Suite struct OneAccessClientTests {
    @Test(.enabled("needs the cryptography package (.ci/run installs it)") {
        await MeetingSDKTests.python(imports: "cryptography.hazmat.primitives.asymmetric.rsa")
    }, .timeLimit(.minutes(3)))
    func anIndependentClientSignsInRefreshesAndLogsOutWithBothMGF1Hashes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-oneaccess-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await TesseraProcess.launch(dataDirectory: directory)
        defer { server.kill9() }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/oneaccess_sdk.py").path
        let client = try await MeetingSDKTests.run(["python3", script, "http://127.0.0.1:\(server.port)", OneAccessSDKTests.clientID,
                                              OneAccessSDKTests.tenantID, "sdk-user", "sdk-user-demo"])
        #expect(client.status == 0, "\(client.output)")
        #expect(client.output.contains("all steps held"), "\(client.output)")
        #expect(client.output.contains("MGF1-SHA-1: GET logout"), "\(client.output)")

        // The credentials file names what a client developer needs, in snake_case.
        let credentials = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/demo-credentials.json"))) as? [String: Any]
        let tenants = credentials?["tenants"] as? [[String: Any]] ?? []
        let sdk = tenants.first { $0["requestor"] as? String == "sdk-demo" }?["user_sessions"] as? [String: Any]
        #expect(sdk?["client_ids"] as? [String] == [OneAccessSDKTests.clientID])
        #expect(sdk?["template_client_ids"] as? [String] == [OneAccessSDKTests.templateClientID])
        #expect(sdk?["tenant_id"] as? String == OneAccessSDKTests.tenantID)
        let meeting = tenants.first { $0["requestor"] as? String == "meeting-demo" }?["access_tokens"] as? [String: Any]
        #expect((meeting?["app_ids"] as? [[String: Any]])?.first?["app_id"] as? String == "demo-meeting-app-id")
    }
}
