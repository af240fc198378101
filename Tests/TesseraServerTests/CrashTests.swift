import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TesseraCore

/// Runs the real `tessera` program as a child process, so it can be killed with SIGKILL.
/// Its output goes to a file beside its data (a pipe nobody drains would stall it once full).
final class TesseraProcess: Sendable {
    let process: ChildProcess
    let port: Int
    let logPath: String

    /// The `tessera` executable next to the test bundle (SwiftPM builds it with the tests).
    static var executable: URL {
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let besideTests = buildDirectory.appendingPathComponent("tessera")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/tessera")
    }

    private init(process: ChildProcess, port: Int, logPath: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
    }

    /// Starts the program and waits (without holding a thread) for the port it bound.
    /// `database`: a PostgreSQL URL to share; nil for the SQLite file in `dataDirectory`.
    /// `arguments` go after the usual ones; `descriptorLimit` lowers the program's `ulimit -n`.
    /// `config`: a YAML file to serve instead of the demo (with the shared key-encryption key).
    static func launch(dataDirectory: String, database: String? = nil, arguments: [String] = [],
                       descriptorLimit: Int? = nil, environment: [String: String] = [:], config: String? = nil) async throws -> TesseraProcess {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let logPath = dataDirectory + "/tessera-\(UUID().uuidString.prefix(8)).log"
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw TesseraProcessError(output: "cannot write \(logPath)")
        }
        let tesseraArguments = ["serve"] + (config.map { ["--config", $0] } ?? ["--demo"]) + ["--port", "0", "--data-dir", dataDirectory, "--log-level", "info", "--disable-throttling"]
            + (database.map { ["--database", $0] } ?? []) + arguments
        // Instances sharing a PostgreSQL database share its key-encryption key; `--demo` would make
        // one per data folder.
        let shared = database == nil && config == nil ? [:] : ["TESSERA_KEY_ENCRYPTION_KEY": Self.sharedKeyEncryptionKey]
        let process = if let descriptorLimit {
            try await ChildProcess.start("/bin/sh", ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", executable.path] + tesseraArguments,
                                         environment: shared.merging(environment) { $1 }, log: logPath)
        } else {
            try await ChildProcess.start(executable.path, tesseraArguments, environment: shared.merging(environment) { $1 }, log: logPath)
        }
        // Hummingbird logs the port it bound.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, process.isRunning, !Task.isCancelled {
            let seen = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = seen.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
               let port = Int(seen[range].split(separator: ":").last ?? "") {
                return TesseraProcess(process: process, port: port, logPath: logPath)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        process.send(SIGKILL)
        throw TesseraProcessError(output: (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    static let sharedKeyEncryptionKey = KeySealing.generateEncodedKey()

    /// What the program printed so far.
    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGKILL, without waiting for the end (its task reaps it): for `defer`.
    func kill9() {
        process.send(SIGKILL)
    }

    /// SIGKILL, and the end: the data folder and port are free again.
    func killed() async {
        process.send(SIGKILL)
        await process.exitCode()
    }
}

struct TesseraProcessError: Error { let output: String }

@Suite(.serialized) struct CrashTests {
    func call(_ client: TestClient, _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: String? = nil) async throws -> TestClient.Response {
        try await client.execute(.init(uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }))
    }

    func json(_ response: TestClient.Response) throws -> [String: Any] {
        guard let body = response.body else { return [:] }
        return (try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }

    @Test(.timeLimit(.minutes(10))) func aLogoutThatAnswered204SurvivesKill9() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-crash-\(UUID())").path
        var server = try await TesseraProcess.launch(dataDirectory: dataDirectory)
        // Its standard output goes to a file, as under systemd: the credentials' path is there
        // while it runs, not only once it stops.
        #expect(try await OpenIDConnectTests.eventually(10) { server.output.contains("credentials written to \(dataDirectory)/demo-credentials.json") })
        var client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        // Register through DCR with the software statement the program wrote.
        let credentials = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/demo-credentials.json"))) as? [String: Any]
        let statement = try #require(((credentials?["tenants"] as? [[String: Any]])?.first?["software_statements"] as? [[String: Any]])?.first?["software_statement"] as? String)
        let registered = try await call(client, .post, "/o/client/register", headers: [.contentType: "application/json"], body: #"{"software_statement":"\#(statement)"}"#)
        let clientJSON = try json(registered)
        let tokenReply = try await call(client, .post, "/o/client/token", headers: [.contentType: "application/x-www-form-urlencoded"],
                                        body: "client_id=\(clientJSON["client_id"] as? String ?? "")&client_secret=\(clientJSON["client_secret"] as? String ?? "")&grant_type=client_credentials")
        let token = try #require(try json(tokenReply)["access_token"] as? String)
        let auth: HTTPFields = [.authorization: "Bearer \(token)", .accept: "application/json"]

        // Sign in ten devices, then log out the first five; each logout answers 204 before the kill.
        for device in 0..<10 {
            let created = try await call(client, .post, "/reggie/v1/REF30/regcode?deviceId=crash-\(device)", headers: auth)
            let code = try #require(try json(created)["code"] as? String)
            let start = try await call(client, .get, "/api/v1/authenticate?reg_code=\(code)&requestor_id=REF30&mso_id=Dish&domain_name=adobe.com&redirect_url=https%3A%2F%2Fadobe.com%2F")
            let location = try #require(start.headers[.location])
            let current = client
            let browser = Browser(origin: nil) { method, uri, headers, body in
                let reply = try await call(current, method, uri, headers: headers, body: body)
                return Reply(status: reply.status, headers: reply.headers, body: reply.body.map { String(buffer: $0) } ?? "")
            }
            let loginPage = try await browser.get(location)
            let confirmation = try await browser.submit(loginPage, [("username", "dish-full"), ("password", "dish-full-demo")])
            let login = try await browser.submit(confirmation, [("decision", "confirm")])
            #expect(login.status == .seeOther)
        }
        for device in 0..<5 {
            let logout = try await call(client, .delete, "/api/v1/logout?requestor=REF30&deviceId=crash-\(device)", headers: auth)
            #expect(logout.status == .noContent)
        }
        try? await client.shutdown()
        await server.killed()

        server = try await TesseraProcess.launch(dataDirectory: dataDirectory)
        defer { server.kill9() }
        client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        for device in 0..<10 {
            let check = try await call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=crash-\(device)", headers: auth)
            #expect(check.status == (device < 5 ? .forbidden : .ok), "device \(device)")
        }
        try? await client.shutdown()
    }
}
