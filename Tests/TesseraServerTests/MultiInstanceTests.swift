import _CryptoExtras
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
import TesseraCore

/// Two (or one, restarted) real `tessera` processes, talked to over loopback HTTP.
struct Instances {
    static func call(_ client: TestClient, _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: String? = nil) async throws -> TestClient.Response {
        try await client.execute(.init(uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }))
    }

    static func json(_ response: TestClient.Response) -> [String: Any] {
        guard let body = response.body else { return [:] }
        return ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]) ?? [:]
    }

    /// Registers through DCR with the software statement the program wrote; returns JSON headers with the bearer.
    static func bearer(_ client: TestClient, dataDirectory: String, credentials file: String = "demo-credentials.json") async throws -> HTTPFields {
        let credentials = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/" + file))) as? [String: Any]
        let statement = try #require(((credentials?["tenants"] as? [[String: Any]])?.first?["software_statements"] as? [[String: Any]])?.first?["software_statement"] as? String)
        let registered = json(try await call(client, .post, "/o/client/register", headers: [.contentType: "application/json"], body: #"{"software_statement":"\#(statement)"}"#))
        let token = try await call(client, .post, "/o/client/token", headers: [.contentType: "application/x-www-form-urlencoded"],
                                   body: "client_id=\(registered["client_id"] as? String ?? "")&client_secret=\(registered["client_secret"] as? String ?? "")&grant_type=client_credentials")
        let access = try #require(json(token)["access_token"] as? String)
        return [.authorization: "Bearer \(access)", .accept: "application/json"]
    }

    /// Two instances on a fresh schema of the test database, each with a connected client; the
    /// caller kills both (`kill9`) when done.
    static func pair(_ name: String, environment: [String: String] = [:]) async throws
        -> (a: TesseraProcess, b: TesseraProcess, clientA: TestClient, clientB: TestClient) {
        let database = try #require(TestStore.freshPostgresURL())
        let a = try await TesseraProcess.launch(dataDirectory: freshDirectory(name + "-a"), database: database, arguments: patient,
                                                environment: environment)
        let b: TesseraProcess
        do {
            b = try await TesseraProcess.launch(dataDirectory: freshDirectory(name + "-b"), database: database, arguments: patient,
                                                environment: environment)
        } catch {
            a.kill9()
            throw error
        }
        let clientA = TestClient(host: "127.0.0.1", port: a.port)
        let clientB = TestClient(host: "127.0.0.1", port: b.port)
        for client in [clientA, clientB] { client.connect() }
        return (a, b, clientA, clientB)
    }

    /// A `tessera serve --demo` (on the test database when the run is on PostgreSQL) with `count`
    /// devices `<name>-0…` signed in through TempPass; the bearer that did it.
    static func signedInDevices(_ name: String, count: Int) async throws
        -> (server: TesseraProcess, directory: String, database: String?, auth: HTTPFields) {
        let directory = freshDirectory(name)
        let database = TestStore.freshPostgresURL()
        let server = try await TesseraProcess.launch(dataDirectory: directory, database: database)
        let client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        defer { Task { try? await client.shutdown() } }
        let auth = try await bearer(client, dataDirectory: directory)
        var form = auth
        form[.contentType] = "application/x-www-form-urlencoded"
        for device in 0..<count {
            let login = try await call(client, .post, "/api/v1/authenticate/freepreview", headers: form,
                                       body: "requestor=REF30&mso_id=TempPass_5mins&deviceId=\(name)-\(device)")
            try #require(login.status == .noContent)
        }
        return (server, directory, database, auth)
    }

    /// These tests hold connections that may sit unused while the other instance starts or the
    /// machine is busy with the rest of the suite: the 30 s idle bound (tested on its own in
    /// ConnectionLimitTests) would close them under a loaded CI run.
    static let patient = ["--idle-timeout", "600"]

    static func freshDirectory(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(name)-\(UUID())").path
    }
}

/// Several instances on one PostgreSQL database: a logout answered by one is refused by the
/// other on the very next request, whatever either held in memory.
@Suite(.serialized, .enabled(if: TestStore.postgresURL != nil, "needs TESSERA_TEST_STORE=postgres and TESSERA_TEST_DATABASE_URL"))
struct MultiInstanceTests {
    @Test(.timeLimit(.minutes(15))) func aLogoutOnOneInstanceIsRefusedAtOnceByTheOther() async throws {
        let database = try #require(TestStore.freshPostgresURL())
        let (dirA, dirB) = (Instances.freshDirectory("a"), Instances.freshDirectory("b"))
        let a = try await TesseraProcess.launch(dataDirectory: dirA, database: database, arguments: Instances.patient)
        defer { a.kill9() }
        let b = try await TesseraProcess.launch(dataDirectory: dirB, database: database, arguments: Instances.patient)
        defer { b.kill9() }
        let clientA = TestClient(host: "127.0.0.1", port: a.port)
        let clientB = TestClient(host: "127.0.0.1", port: b.port)
        let readerA = TestClient(host: "127.0.0.1", port: a.port)
        let readerB = TestClient(host: "127.0.0.1", port: b.port)
        for client in [clientA, clientB, readerA, readerB] { client.connect() }
        // A bearer issued by A verifies on B: the signing keys are shared through the database.
        let auth = try await Instances.bearer(clientA, dataDirectory: dirA)
        var form = auth
        form[.contentType] = "application/x-www-form-urlencoded"
        #expect(try await Instances.call(clientB, .get, "/api/v1/config/REF30", headers: auth).status == .ok)

        let stale = Findings()
        let rounds = 1_000
        for round in 0..<rounds {
            // Even rounds: sign in and log out on B while A serves; odd rounds the other way round.
            let (signer, other, reader) = round % 2 == 0 ? (clientA, clientB, readerA) : (clientB, clientA, readerB)
            let (reading, readingName) = round % 2 == 0 ? (clientA, "A") : (clientB, "B")
            let device = "multi-\(round)"
            let query = "?requestor=REF30&deviceId=\(device)"
            let login = try await Instances.call(signer, .post, "/api/v1/authenticate/freepreview",
                                                 headers: form,
                                                 body: "requestor=REF30&mso_id=TempPass_5mins&deviceId=\(device)")
            try #require(login.status == .noContent, "round \(round): freepreview \(login.status)")
            // Authorized through the other instance; both instances now hold the session in memory.
            try #require(try await Instances.call(other, .get, "/api/v1/authorize\(query)&resource=REF30", headers: auth).status == .ok)
            try #require(try await Instances.call(reading, .get, "/api/v1/checkauthn\(query)", headers: auth).status == .ok)
            try #require(try await Instances.call(reading, .get, "/api/v1/authorize\(query)&resource=REF30", headers: auth).status == .ok)

            // Interleaved: reads of the same device on the reading instance while the logout runs.
            // A read sent after the logout's 204 arrived must be refused.
            let answered = Findings()
            let readers = Task { [reader] in
                for _ in 0..<20 {
                    let after = !answered.all.isEmpty
                    let reply = try await Instances.call(reader, .get, "/api/v1/checkauthn\(query)", headers: auth)
                    if after, reply.status == .ok { stale.add("round \(round): concurrent checkauthn on \(readingName)") }
                }
            }
            let logoutOn = round % 2 == 0 ? clientB : clientA
            let logout = try await Instances.call(logoutOn, .delete, "/api/v1/logout\(query)", headers: auth)
            answered.add("204")
            try #require(logout.status == .noContent, "round \(round): logout \(logout.status)")
            let check = try await Instances.call(reading, .get, "/api/v1/checkauthn\(query)", headers: auth)
            if check.status != .forbidden { stale.add("round \(round): checkauthn on \(readingName) answered \(check.status)") }
            let authorize = try await Instances.call(reading, .get, "/api/v1/authorize\(query)&resource=REF30", headers: auth)
            if authorize.status == .ok { stale.add("round \(round): authorize on \(readingName) answered 200") }
            let tokens = try await Instances.call(reading, .get, "/api/v1/tokens/authn\(query)", headers: auth)
            if tokens.status == .ok { stale.add("round \(round): tokens/authn on \(readingName) answered 200") }
            try await readers.value
        }
        #expect(stale.all == [], "stale acceptances")
        for client in [clientA, clientB, readerA, readerB] { try? await client.shutdown() }
    }
}

/// The admin API's revokes on one instance, refused at once by the other: a subscriber signed out
/// everywhere (two devices on one promotional trial), and a revoked client's bearer.
@Suite(.serialized, .enabled(if: TestStore.postgresURL != nil, "needs TESSERA_TEST_STORE=postgres and TESSERA_TEST_DATABASE_URL"))
struct MultiInstanceAdminTests {
    static let token = "multi-instance-admin-token-0123456789"

    @Test(.timeLimit(.minutes(15))) func aSignOutEverywhereAndAClientRevokeAreRefusedAtOnceByTheOtherInstance() async throws {
        let (a, b, clientA, clientB) = try await Instances.pair("admin", environment: ["TESSERA_ADMIN_TOKEN": Self.token])
        defer { a.kill9(); b.kill9() }
        let auth = try await Instances.bearer(clientA, dataDirectory: (a.logPath as NSString).deletingLastPathComponent)
        var form = auth
        form[.contentType] = "application/x-www-form-urlencoded"
        let admin: HTTPFields = [.authorization: "Bearer \(Self.token)"]
        let stale = Findings()
        for round in 0..<300 {
            let (revoker, reader, readerName) = round % 2 == 0 ? (clientA, clientB, "B") : (clientB, clientA, "A")
            let devices = ["tv-\(round)", "phone-\(round)"]
            let identity = #"{"email":"viewer-\#(round)@example.com"}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            for (index, device) in devices.enumerated() {
                let login = try await Instances.call(index == 0 ? clientA : clientB, .post, "/api/v1/authenticate/freepreview", headers: form,
                                                     body: "requestor=REF30&mso_id=TempPass_promo&deviceId=\(device)&generic_data=\(identity)")
                try #require(login.status == .noContent, "round \(round): freepreview \(login.status)")
            }
            let token = Instances.json(try await Instances.call(reader, .get, "/api/v1/tokens/authn?requestor=REF30&deviceId=\(devices[0])", headers: auth))
            let subject = try #require(token["userId"] as? String)
            for device in devices {
                try #require(try await Instances.call(reader, .get, "/api/v1/authorize?requestor=REF30&deviceId=\(device)&resource=REF30", headers: auth).status == .ok)
            }
            let revoked = try await Instances.call(revoker, .delete, "/admin/v1/tenants/REF30/subjects/\(subject)/sessions", headers: admin)
            try #require(revoked.status == .ok, "round \(round): revoke \(revoked.status)")
            if Instances.json(revoked)["revoked"] as? Int != 2 { stale.add("round \(round): revoked \(Instances.json(revoked)["revoked"] ?? "?")") }
            for device in devices {
                let check = try await Instances.call(reader, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=\(device)", headers: auth)
                if check.status != .forbidden { stale.add("round \(round): checkauthn of \(device) on \(readerName) answered \(check.status)") }
                let authorize = try await Instances.call(reader, .get, "/api/v1/authorize?requestor=REF30&deviceId=\(device)&resource=REF30", headers: auth)
                if authorize.status == .ok { stale.add("round \(round): authorize of \(device) on \(readerName) answered 200") }
            }
        }
        #expect(stale.all == [], "stale acceptances")
        // Both instances have verified the bearer (and hold it); revoked on A, B refuses it on the next call.
        for client in [clientA, clientB] { #expect(try await Instances.call(client, .get, "/api/v1/config/REF30", headers: auth).status == .ok) }
        let clientID = try #require(AdminAPITests.subject(of: auth))
        #expect(try await Instances.call(clientA, .delete, "/admin/v1/tenants/REF30/clients/\(clientID)", headers: admin).status == .noContent)
        for client in [clientB, clientA] { #expect(try await Instances.call(client, .get, "/api/v1/config/REF30", headers: auth).status == .unauthorized) }
        for client in [clientA, clientB] { try? await client.shutdown() }
    }

    /// Meeting USG: a token deleted on one instance is refused by validate on the other right
    /// after the 200, though the other had just validated it (and so held it in memory); its
    /// refreshed sibling (same family) with it.
    @Test(.timeLimit(.minutes(10))) func aTokenDeletedOnOneInstanceIsRefusedAtOnceByTheOther() async throws {
        let (a, b, clientA, clientB) = try await Instances.pair("usg")
        defer { a.kill9(); b.kill9() }
        let signIn: HTTPFields = [.authorization: "Basic " + Data("meeting-user:meeting-user-demo".utf8).base64EncodedString(),
                                  .contentType: "application/json"]
        let accessToken = HTTPField.Name("X-Access-Token")!
        func validate(_ client: TestClient, _ token: String) async throws -> TestClient.Response {
            try await Instances.call(client, .post, "/v1/usg/acs/token/validate", headers: [.contentType: "application/json"],
                                     body: #"{"token":"\#(token)","needGenNewToken":false,"needAccountInfo":false}"#)
        }
        let stale = Findings()
        for round in 0..<200 {
            let (deleter, other) = round % 2 == 0 ? (clientA, clientB) : (clientB, clientA)
            // Each round's delete ends its family, so the account's 64 tokens never run out.
            let login = try await Instances.call(other, .post, "/v1/usg/acs/auth/account", headers: signIn,
                                                 body: #"{"account":"meeting-user","clientType":72}"#)
            try #require(login.status == .ok, "round \(round): sign-in \(login.status)")
            let token = try #require(Instances.json(login)["accessToken"] as? String)
            let refreshed = try await Instances.call(deleter, .put, "/v1/usg/acs/token", headers: [accessToken: token])
            let sibling = try #require(Instances.json(refreshed)["accessToken"] as? String)
            try #require(try await validate(other, token).status == .ok)
            try #require(try await validate(other, sibling).status == .ok)
            let deleted = try await Instances.call(deleter, .delete, "/v1/usg/acs/token", headers: [accessToken: token])
            try #require(deleted.status == .ok, "round \(round): delete \(deleted.status)")
            for (name, value) in [("token", token), ("sibling", sibling)] {
                let after = try await validate(other, value)
                if after.status != .unauthorized { stale.add("round \(round): the \(name) validated \(after.status) after the delete") }
            }
        }
        #expect(stale.all.isEmpty, "\(stale.all.prefix(5))")
        for client in [clientA, clientB] { try? await client.shutdown() }
    }

    /// OneAccess: both instances answer the same application key; a session logged out on one is
    /// refused by the other right after the 200, though the other had just used it; a key rotated
    /// on one decrypts on the other at once.
    @Test(.timeLimit(.minutes(10))) func aUserSessionLoggedOutOnOneInstanceIsRefusedAtOnceByTheOther() async throws {
        let adminToken = "multi-instance-admin-token-not-secret"
        let (a, b, clientA, clientB) = try await Instances.pair("sdk", environment: ["TESSERA_ADMIN_TOKEN": adminToken])
        defer { a.kill9(); b.kill9() }
        let headers = OneAccessSDKTests.headers()
        func text(_ response: TestClient.Response, _ field: String) throws -> String {
            try #require(Instances.json(response)[field] as? String, "\(response.status) \(response.body.map { String(buffer: $0) } ?? "")")
        }
        func key(_ client: TestClient) async throws -> _RSA.Encryption.PublicKey {
            let der = try #require(Data(base64Encoded: try text(try await Instances.call(client, .get, "/api/v2/sdk/public-key", headers: headers), "public_key")))
            return try _RSA.Encryption.PublicKey(derRepresentation: der)
        }
        let (keyA, keyB) = (try await key(clientA), try await key(clientB))
        #expect(keyA.derRepresentation == keyB.derRepresentation)
        func proof(_ client: TestClient, token: String, key: _RSA.Encryption.PublicKey, nonce: String) async throws -> HTTPFields {
            var signed = headers
            let stamp = try text(try await Instances.call(client, .get, "/api/v2/sdk/server-date", headers: headers), "timestamp")
            signed[HTTPField.Name("X-signature")!] = try OneAccessSDKTests.signature(token: token, timestamp: stamp, nonce: nonce, key: key)
            return signed
        }
        var login = headers
        login[.contentType] = "application/json"
        let stale = Findings()
        for round in 0..<40 {
            let (ender, other) = round % 2 == 0 ? (clientA, clientB) : (clientB, clientA)
            let token = try text(try await Instances.call(other, .post, "/api/v2/sdk/login", headers: login,
                                                          body: #"{"user_name":"sdk-user","password":"sdk-user-demo"}"#), "session_token")
            let used = try await Instances.call(other, .post, "/api/v2/sdk/session-token/refresh-id-token",
                                                headers: try await proof(other, token: token, key: keyA, nonce: "r\(round)a"))
            try #require(used.status == .ok, "round \(round): refresh \(used.status)")
            let ended = try await Instances.call(ender, .get, "/api/v2/sdk/logout", headers: try await proof(ender, token: token, key: keyA, nonce: "r\(round)b"))
            try #require(ended.status == .ok, "round \(round): logout \(ended.status)")
            let after = try await Instances.call(other, .post, "/api/v2/sdk/session-token/refresh-id-token",
                                                 headers: try await proof(other, token: token, key: keyA, nonce: "r\(round)c"))
            if after.status != .badRequest { stale.add("round \(round): refreshed \(after.status) after the logout") }
        }
        #expect(stale.all.isEmpty, "\(stale.all.prefix(5))")

        // Rotated on A: B decrypts a proof under the new key at once. A proof under a foreign key
        // first makes B read its keys again, so that B's fallback (reading them again when a proof
        // does not open, at most once per interval) cannot be what lets the new key through: only
        // the rotation's announcement can.
        let foreign = try _RSA.Encryption.PrivateKey(keySize: .bits2048).publicKey
        let refused = try await Instances.call(clientB, .post, "/api/v2/sdk/session-token/refresh-id-token",
                                               headers: try await proof(clientB, token: "not-a-session", key: foreign, nonce: "foreign"))
        #expect(refused.status == .badRequest)
        let rotated = try await Instances.call(clientA, .post, "/admin/v1/tenants/sdk-demo/applications/\(OneAccessSDKTests.clientID)/keys",
                                               headers: [.authorization: "Bearer \(adminToken)"])
        let newKey = try _RSA.Encryption.PublicKey(derRepresentation: try #require(Data(base64Encoded: try text(rotated, "public_key"))))
        #expect(newKey.derRepresentation != keyA.derRepresentation)
        let token = try text(try await Instances.call(clientA, .post, "/api/v2/sdk/login", headers: login,
                                                      body: #"{"user_name":"sdk-user","password":"sdk-user-demo"}"#), "session_token")
        #expect(try await Instances.call(clientB, .post, "/api/v2/sdk/session-token/refresh-id-token",
                                         headers: try await proof(clientB, token: token, key: newKey, nonce: "new")).status == .ok)
        // Within the grace period the old key still decrypts there too.
        #expect(try await Instances.call(clientB, .post, "/api/v2/sdk/session-token/refresh-id-token",
                                         headers: try await proof(clientB, token: token, key: keyA, nonce: "old")).status == .ok)
        for client in [clientA, clientB] { try? await client.shutdown() }
    }
}

/// SIGTERM while logouts are in flight: the request each connection has in flight is answered,
/// every answered logout is in force after a restart, and the process exits 0 within the drain
/// deadline (on the store the tests run on).
@Suite(.serialized) struct GracefulShutdownTests {
    @Test(.timeLimit(.minutes(5))) func sigtermDrainsTheRequestsInFlightAndKeepsEveryAnsweredLogout() async throws {
        let devices = 200
        let prepared = try await Instances.signedInDevices("term", count: devices)
        var server = prepared.server
        let (directory, database, auth) = (prepared.directory, prepared.database, prepared.auth)
        var client: TestClient
        let answered = Findings(), cutOff = Findings(), unanswered = Findings()
        let signalled = Moment()
        let port = server.port
        let process = server.process
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    let lanes = TestClient(host: "127.0.0.1", port: port)
                    lanes.connect()
                    for device in stride(from: lane, to: devices, by: 8) {
                        let started = ContinuousClock.now
                        let reply: TestClient.Response
                        do { reply = try await Instances.call(lanes, .delete, "/api/v1/logout?requestor=REF30&deviceId=term-\(device)", headers: auth) } catch {
                            // A connection the server closed (cleanly, after answering what it had
                            // received) refuses the next write: the request never left, as with
                            // any keep-alive connection closing. Anything else (a reset, a request
                            // cut off in the middle) for a request sent before the signal is a
                            // request the drain dropped.
                            let closedCleanly = (error as? ChannelError) == .ioOnClosedChannel
                                || (error as? TestClient.Error).map { "\($0)" == "connectionClosing" } == true
                            if let at = signalled.value.withLock({ $0 }), started < at {
                                if closedCleanly { unanswered.add("\(device)") } else { cutOff.add("device \(device): \(error)") }
                            }
                            break
                        }
                        if reply.status == .noContent, answered.add("\(device)") == 60 {
                            signalled.value.withLock { $0 = ContinuousClock.now }
                            process.send(SIGTERM)
                        }
                    }
                    try? await lanes.shutdown()
                }
            }
            try await group.waitForAll()
        }
        // The drain is bounded: the process is gone within 15 s of the signal, with status 0.
        for _ in 0..<150 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "still running 15 s after SIGTERM")
        if !process.isRunning { #expect(await process.exitCode() == 0, "\(server.output.suffix(1500))") }
        #expect(cutOff.all.isEmpty, "requests in flight at the signal were cut off: \(cutOff.all.prefix(5))")
        let gone = Set(answered.all.compactMap(Int.init))
        #expect(gone.count >= 60)

        server = try await TesseraProcess.launch(dataDirectory: directory, database: database)
        defer { server.kill9() }
        client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        for device in gone.sorted() {
            let check = try await Instances.call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=term-\(device)", headers: auth)
            #expect(check.status == .forbidden, "device \(device) was logged out (204) before the shutdown")
        }
        // A logout whose connection the server closed as idle (the request crossing the close, as
        // on any keep-alive connection) was never taken: the device is still signed in.
        for device in unanswered.all.compactMap(Int.init) {
            let check = try await Instances.call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=term-\(device)", headers: auth)
            #expect(check.status == .ok, "device \(device): a logout that got no answer was carried out")
        }
        try? await client.shutdown()
    }
}

/// When something happened, for tasks that compare with it.
final class Moment: Sendable {
    let value = Mutex<ContinuousClock.Instant?>(nil)
}

/// kill -9 while logouts are in flight: every logout that was answered 204 is in force after the
/// restart (on the store the tests run on: SQLite, or PostgreSQL with TESSERA_TEST_STORE=postgres).
@Suite(.serialized) struct LogoutBurstCrashTests {
    @Test(.timeLimit(.minutes(10))) func everyAnsweredLogoutSurvivesAKillInTheMiddleOfABurst() async throws {
        let devices = 200
        let prepared = try await Instances.signedInDevices("burst", count: devices)
        var server = prepared.server
        let (directory, database, auth) = (prepared.directory, prepared.database, prepared.auth)
        var client: TestClient
        // 200 logouts on 8 connections; the process dies after the first 60 have been answered.
        let answered = Findings()
        let port = server.port
        let victim = server
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    let lanes = TestClient(host: "127.0.0.1", port: port)
                    lanes.connect()
                    for device in stride(from: lane, to: devices, by: 8) {
                        guard let reply = try? await Instances.call(lanes, .delete, "/api/v1/logout?requestor=REF30&deviceId=burst-\(device)", headers: auth)
                        else { break }
                        if reply.status == .noContent {
                            if answered.add("\(device)") == 60 { await victim.killed() }
                        }
                    }
                    try? await lanes.shutdown()
                }
            }
            try await group.waitForAll()
        }
        let gone = Set(answered.all.compactMap(Int.init))
        #expect(gone.count >= 60)
        #expect(gone.count < devices, "the kill came after every logout: nothing was in flight")

        server = try await TesseraProcess.launch(dataDirectory: directory, database: database)
        defer { server.kill9() }
        client = TestClient(host: "127.0.0.1", port: server.port)
        client.connect()
        var stillSignedIn = 0
        for device in 0..<devices {
            let check = try await Instances.call(client, .get, "/api/v1/checkauthn?requestor=REF30&deviceId=burst-\(device)", headers: auth)
            if gone.contains(device) {
                #expect(check.status == .forbidden, "device \(device) was logged out (204) before the kill")
            } else if check.status == .ok {
                stillSignedIn += 1
            }
        }
        // Logouts that never got their answer may or may not have committed; most never started.
        #expect(stillSignedIn > 0)
        try? await client.shutdown()
    }
}

/// Lines collected from concurrent tasks.
final class Findings: Sendable {
    private let lines = Mutex<[String]>([])

    @discardableResult
    func add(_ line: String) -> Int { lines.withLock { $0.append(line); return $0.count } }

    var all: [String] { lines.withLock { $0 } }
}
