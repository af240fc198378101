import Foundation
import GRDB
import Testing
import TesseraCore
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

/// Writes that share a transaction keep the guarantees of one transaction each.
@Suite struct GroupCommitTests {
    let now = Date(epochMilliseconds: 1_800_000_000_000)

    func makeStore() throws -> (SQLiteStore, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-group-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try SQLiteStore(path: dir + "/t.sqlite"), dir + "/t.sqlite")
    }

    func client(_ id: String) -> RegisteredClient {
        RegisteredClient(id: id, tenantID: "REF30", softwareID: "s", secretDigest: SecretDigest(of: id), redirectURIs: [], issuedAt: now)
    }

    @Test func aFailingWriteTakesNothingElseWithIt() async throws {
        let (store, path) = try makeStore()
        try await store.insert(client("taken"))
        // 200 concurrent inserts, every fifth a duplicate of "taken": those fail alone.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask { (try? await store.insert(client(i % 5 == 0 ? "taken" : "c\(i)"))) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { !$0 }.count == 40)
        let rows = try await DatabaseQueue(path: path, configuration: SQLiteStore.sideConfiguration).read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registered_client") }
        #expect(rows == 161)
        for i in 0..<200 where i % 5 != 0 { #expect(try await store.client(id: "c\(i)") != nil) }
    }

    /// A write that throws after some of its statements ran leaves none of them behind, and the
    /// writes that shared its transaction are stored.
    @Test func aWriteThatThrowsHalfwayLeavesNothingBehind() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-group-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: dir + "/t.sqlite")
        try await pool.write { db in try db.execute(sql: "CREATE TABLE t (k TEXT PRIMARY KEY)") }
        let commits = GroupCommit(pool: pool)
        struct Halfway: Error {}
        let stored = await withTaskGroup(of: (Int, Bool).self) { group in
            for i in 0..<200 {
                group.addTask {
                    do {
                        try await commits.write { db in
                            try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: ["a\(i)"])
                            if i % 7 == 0 { throw Halfway() }
                            try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: ["b\(i)"])
                        }
                        return (i, true)
                    } catch {
                        return (i, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        for i in 0..<200 { #expect(stored[i] == (i % 7 != 0), "write \(i)") }
        let keys = try await pool.read { db in try Set(String.fetchAll(db, sql: "SELECT k FROM t")) }
        let expected = Set((0..<200).filter { $0 % 7 != 0 }.flatMap { ["a\($0)", "b\($0)"] })
        #expect(keys == expected)
    }

    @Test func concurrentClaimsOfOneNonceSucceedOnce() async throws {
        let (store, _) = try makeStore()
        let wins = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask { (try? await store.claimNonce(tenantID: "REF30", nonce: "n-1", expiresAt: now.addingTimeInterval(60))) ?? false }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
    }

    @Test func aWriteIsReadableOnceAnswered() async throws {
        let (store, _) = try makeStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let device = DeviceKey(tenantID: "REF30", deviceID: "d\(i)")
                    let session = Session(id: UUID(), device: device, subject: Subject(userID: "u", providerID: "Dish"), deviceUser: nil,
                                          createdAt: now, expiresAt: now.addingTimeInterval(60))
                    try await store.startSession(session)
                    #expect(try await store.session(device: device) == session)
                    #expect(try await store.revokeSessions(.deviceLogin(device)).count == 1)
                    #expect(try await store.session(device: device) == nil)
                }
            }
            try await group.waitForAll()
        }
    }

    /// The trial is looked up and made in the same transaction as the session: starts of one new
    /// device that arrive together share one trial, and the device ends with one session.
    @Test func startsOfOneNewDeviceMakeOneTrial() async throws {
        let (store, path) = try makeStore()
        let request = TemporaryAccessRequest(tenantID: "REF30", providerID: "TP", deviceID: "new", identityDigest: nil, duration: 300)
        let trials = try await withThrowingTaskGroup(of: UUID?.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    let start = try await store.startTemporaryAccessSession(request, now: now) { trial in
                        Session(id: UUID(), device: DeviceKey(tenantID: "REF30", deviceID: "new"), subject: Subject(userID: trial.id.uuidString, providerID: "TP"),
                                deviceUser: nil, createdAt: now, expiresAt: now.addingTimeInterval(300))
                    }
                    guard case .started(_, let trial) = start else { return nil }
                    return trial.id
                }
            }
            return try await group.reduce(into: [UUID?]()) { $0.append($1) }
        }
        #expect(trials.count == 50)
        #expect(Set(trials).count == 1)
        #expect(trials.first! != nil)
        let (trialRows, sessionRows) = try await DatabaseQueue(path: path, configuration: SQLiteStore.sideConfiguration).read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM temporary_access"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM session"))
        }
        #expect(trialRows == 1)
        #expect(sessionRows == 1)
        #expect(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: "new"))?.subject.userID == trials.first!!.uuidString)
    }

    @Test func aNewerSchemaIsRefusedAndMigratingAgainChangesNothing() throws {
        let (_, path) = try makeStore()
        _ = try SQLiteStore(path: path)  // idempotent
        try DatabaseQueue(path: path, configuration: SQLiteStore.sideConfiguration).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')")
        }
        #expect(throws: StoreError.self) { try SQLiteStore(path: path) }
    }

    /// A database of the schema before first tokens were kept: its clients carry over as used,
    /// and the purge deletes none of them.
    @Test func clientsOfAnOlderSchemaCarryOverAsUsed() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-upgrade-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/t.sqlite"
        let issued = Date(epochMilliseconds: 1_700_000_000_000)
        let old = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(old, upTo: "v3: expiry indexes for the purge")
        try await old.write { db in
            try db.execute(sql: "INSERT INTO registered_client (id, tenant_id, software_id, secret_digest, redirect_uris, issued_at) VALUES ('old', 'REF30', 's', x'00', '[]', ?)",
                           arguments: [issued.epochMilliseconds])
        }
        try old.close()
        let store = try SQLiteStore(path: path)
        #expect(try await store.client(id: "old")?.firstTokenAt == issued)
        #expect(try await store.purgeExpired(now: issued.addingTimeInterval(365 * 86_400), grace: 0) == 0)
        #expect(try await store.client(id: "old") != nil)
    }

    /// Under writes that never pause, the WAL still starts over and stays near its mark. Without
    /// the writer's own checkpoints it held every page written (here over 16 MB).
    @Test func theWALStartsOverUnderWritesThatNeverPause() async throws {
        let path = try Self.walTestDatabase()
        let frames = 64
        let store = try SQLiteStore(path: path, walCheckpointFrames: frames)
        let count = 2_000
        // A row over a page.
        let failures = await insertClients(store, writers: 16, each: count / 16, uriLength: 4000)
        #expect(failures == 0)
        let walBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? -1
        #expect(walBytes >= 0 && walBytes <= 8 * frames * 4096, "WAL is \(walBytes) bytes")
        #expect(try await Self.registeredClients(path) == count)
    }

    /// A new database file's path in a folder of its own.
    static func walTestDatabase() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-wal-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/t.sqlite"
    }

    /// `writers` concurrent tasks insert `each` clients apiece, each client with one redirect URI
    /// of `uriLength` characters and an id of its own; returns how many inserts failed.
    func insertClients(_ store: SQLiteStore, writers: Int, each: Int, uriLength: Int) async -> Int {
        let long = "https://example.com/" + String(repeating: "x", count: uriLength)
        return await withTaskGroup(of: Int.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var failed = 0
                    for i in 0..<each {
                        var client = client("c\(writer)-\(i)")
                        client.redirectURIs = [long]
                        if (try? await store.insert(client)) == nil { failed += 1 }
                    }
                    return failed
                }
            }
            return await group.reduce(0, +)
        }
    }

    /// Rows of `registered_client`, read through a connection of its own.
    static func registeredClients(_ path: String) async throws -> Int? {
        try await DatabaseQueue(path: path, configuration: SQLiteStore.sideConfiguration).read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registered_client")
        }
    }

    /// The writer finishes the side checkpointer's copy between batches: with the writer's own
    /// checkpoint inside a commit out of reach, the WAL still starts over again and again under
    /// writes that never pause, and its file never holds more than a small part of what was
    /// written (without ``WALRestart`` it held all of it).
    @Test func theWriterFinishesTheSideCheckpointBetweenBatches() async throws {
        let path = try Self.walTestDatabase()
        let store = try SQLiteStore(path: path, walCheckpointFrames: 10_000_000, walRestartFrames: 128)
        let writers = 16, perWriter = 800
        let failures = await insertClients(store, writers: writers, each: perWriter, uriLength: 1500)
        #expect(failures == 0)
        await store.close()
        let walBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? -1
        // Each insert writes at least two 2 KB pages into the WAL (its row overflows one page; the
        // indexes), 52 MB in all; without the writer's part, the WAL held all of it (73 MB); with it,
        // about what lands between two side checkpoints (5 to 8 MB here).
        let written = writers * perWriter * 2 * SQLiteStore.pageSize
        #expect(walBytes >= 0 && walBytes < written / 2, "WAL is \(walBytes) bytes after \(written) or more written")
        #expect(try await Self.registeredClients(path) == writers * perWriter)
    }
}
