import Foundation
import Testing

/// Huawei's official Meeting SDK for Python (`huaweicloudsdkmeeting`, unmodified) against the
/// real `tessera` program serving HTTPS with a throwaway certificate, which SIGHUP replaces.
///
/// `.ci/run` installs the SDK and sets TESSERA_REQUIRE_REAL_CLIENTS, so that on CI a missing
/// SDK fails this suite instead of skipping it.
@Suite(.serialized) struct MeetingSDKTests {
    static let required = ProcessInfo.processInfo.environment["TESSERA_REQUIRE_REAL_CLIENTS"] == "1"

    /// Whether python3 imports `module`; always true when real clients are required, so that a
    /// missing one fails its test instead of skipping it.
    static func python(imports module: String) async -> Bool {
        if required { return true }
        return (try? await run(["python3", "-c", "import \(module)"]).status) == 0
    }

    /// Runs a command to its end; its output and error output together.
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) async throws -> (status: Int32, output: String) {
        let (status, output) = try await ChildProcess.run(arguments, input: input, withErrors: true)
        return (status, String(decoding: output, as: UTF8.self))
    }

    /// A self-signed certificate for 127.0.0.1 whose subject names `name`.
    static func makeCertificate(_ name: String, in directory: String) async throws {
        let made = try await run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=\(name)",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        try #require(made.status == 0, "\(made.output)")
    }

    /// The subject of the certificate the server presents now.
    static func servedSubject(port: Int) async throws -> String {
        let handshake = try await run(["openssl", "s_client", "-connect", "127.0.0.1:\(port)"], input: "")
        let subject = try await run(["sh", "-c", "openssl x509 -noout -subject"], input: handshake.output)
        return subject.output
    }

    @Test(.enabled("needs huaweicloudsdkmeeting (.ci/run installs it)") { await python(imports: "huaweicloudsdkmeeting.v1") }, .timeLimit(.minutes(5)))
    func theOfficialSDKSignsInValidatesRefreshesAndDeletesOverTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-sdk-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.makeCertificate("tessera-first", in: directory)
        let server = try await TesseraProcess.launch(dataDirectory: directory + "/data",
                                                     arguments: ["--tls-cert", directory + "/cert.pem", "--tls-key", directory + "/key.pem"])
        defer { server.kill9() }

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/meeting_sdk.py").path
        let sdk = try await Self.run(["python3", script, "https://127.0.0.1:\(server.port)", "meeting-user", "meeting-user-demo",
                                "demo-meeting-app-id", "demo-meeting-app-key-not-secret"])
        #expect(sdk.status == 0, "\(sdk.output)")
        #expect(sdk.output.contains("all steps held"), "\(sdk.output)")
        #expect(!sdk.output.contains("FAIL"), "\(sdk.output)")

        // Plain HTTP is not served on the TLS port.
        let plain = try await Self.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(server.port)/healthz"])
        #expect(plain.output != "200")

        // SIGHUP: the new pair serves new connections; a pair that does not load leaves it in use.
        #expect(try await Self.servedSubject(port: server.port).contains("tessera-first"))
        try await Self.makeCertificate("tessera-second", in: directory)
        server.process.send(SIGHUP)
        var subject = ""
        for _ in 0..<100 {
            subject = try await Self.servedSubject(port: server.port)
            if subject.contains("tessera-second") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(subject.contains("tessera-second"), "\(subject)")
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: directory + "/cert.pem"))
        server.process.send(SIGHUP)
        for _ in 0..<100 where !server.output.contains("not reloaded") { try await Task.sleep(for: .milliseconds(50)) }
        #expect(server.output.contains("TLS certificate and key not reloaded"), "\(server.output)")
        #expect(try await Self.servedSubject(port: server.port).contains("tessera-second"))
        #expect(server.process.isRunning)
    }
}
