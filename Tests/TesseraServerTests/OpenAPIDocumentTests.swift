import Foundation
import Testing
@testable import TesseraServer

/// `GET /openapi.json`: Tessera's own OpenAPI 3.1 document, valid by `openapi-spec-validator`
/// (installed by .ci/run), naming every front door's operations. `.ci/fuzz` runs schemathesis
/// against it and the real server.
@Suite struct OpenAPIDocumentTests {

    @Test func theDocumentIsServedAndNamesEveryFrontDoor() async throws {
        try await Harness().run { wire in
            let reply = try await wire.send(.get, "/openapi.json")
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type") == "application/json")
            #expect(reply.json["openapi"] as? String == "3.1.0")
            let paths = try #require(reply.json["paths"] as? [String: Any])
            for path in ["/o/client/register", "/o/client/token", "/reggie/v1/{requestor}/regcode", "/api/v1/checkauthn", "/api/v1/authorize",
                         "/api/v1/logout", "/v1/usg/acs/auth/account", "/v1/usg/acs/token/validate", "/api/v2/sdk/login",
                         "/api/v2/sdk/logout", "/admin/v1/tenants/{tenant}/subjects/{subject}/sessions", "/metrics", "/readyz",
                         "/api/v2/{serviceProvider}/sessions", "/api/v2/{serviceProvider}/logout/{mvpd}", "/reset-tempass/v3/reset",
                         "/admin/v1/tenants/{tenant}/degradation"] {
                #expect(paths[path] != nil, "\(path) is not documented")
            }
            // Every operation names its answers, and a `default` for its front door's error body
            // unless it cannot fail.
            for (path, item) in paths {
                for (method, operation) in (item as? [String: Any] ?? [:]) where method != "parameters" {
                    let responses = (operation as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                    #expect(!responses.isEmpty, "\(method) \(path) has no responses")
                }
            }
        }
    }

    @Test(.enabled("needs openapi-spec-validator (.ci/run installs it)") { await MeetingSDKTests.python(imports: "openapi_spec_validator") })
    func theDocumentIsValidOpenAPI() async throws {
        try await Harness().run { wire in
            let reply = try await wire.send(.get, "/openapi.json")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-openapi-\(UUID()).json")
            try Data(reply.body.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let check = try await MeetingSDKTests.run(["python3", "-c", """
                import json, sys
                from openapi_spec_validator import validate
                validate(json.load(open(sys.argv[1])))
                print("valid")
                """, file.path])
            #expect(check.status == 0 && check.output.contains("valid"), "\(check.output)")
        }
    }

    /// REST v2 as Adobe's own document has it (Tests/clients/v2_document.py says how they are
    /// compared): every operation, parameter, request body and answer shape.
    @Test func restV2IsDescribedAsAdobesDocumentDescribesIt() async throws {
        try await Harness().run { wire in
            let reply = try await wire.send(.get, "/openapi.json")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-openapi-\(UUID()).json")
            try Data(reply.body.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            let check = try await MeetingSDKTests.run(["python3", root.appendingPathComponent("clients/v2_document.py").path, file.path,
                                                 root.appendingPathComponent("vendor/adobe-pass-restApiV2.json").path])
            #expect(check.status == 0 && check.output.contains("compared 13 operations, 0 differences"), "\(check.output)")
        }
    }
}
