import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import TesseraCore
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

@Suite struct PostgresLocationTests {
    @Test func parsesWhatOperatorsWrite() throws {
        let location = try PostgresLocation(url: "postgres://app:p%40ss@db.internal:6543/tessera?sslmode=disable&pool_size=8&schema=tenant_a")
        #expect(location.host == "db.internal")
        #expect(location.port == 6543)
        #expect(location.username == "app")
        #expect(location.password == "p@ss")
        #expect(location.database == "tessera")
        #expect(location.tls == .disable)
        #expect(location.poolSize == 8)
        #expect(location.schema == "tenant_a")
        #expect(location.redacted == "postgres://app@db.internal:6543/tessera")
        let defaults = try PostgresLocation(url: "postgresql://app@localhost/tessera")
        #expect(defaults.port == 5432 && defaults.tls == .prefer && defaults.poolSize == 16 && defaults.schema == "public")
    }

    @Test(arguments: [
        "mysql://app@h/db", "postgres://h/db", "postgres://app@h/", "postgres://app@/db",
        "postgres://app@h/db?sslmode=maybe", "postgres://app@h/db?pool_size=0", "postgres://app@h/db?schema=Robert');DROP",
        "postgres://app@h/db?colour=blue",
    ])
    func refusesWhatItCannotUse(url: String) {
        #expect(throws: StoreError.self) { try PostgresLocation(url: url) }
    }
}

/// What only the shared store does: schema versions, and instances that keep each other current.
/// Closing a store waits for its pool's run() a bounded time (PostgresNIO's can fail to return).
@Suite struct BoundedCloseTests {
    @Test func aTaskThatEndsIsSeenToEndAndOneThatNeverDoesIsLeftAfterTheLimit() async throws {
        let quick = Task<Void, Never> {}
        #expect(await PostgresStore.awaitEnd(of: quick, within: .seconds(10)))

        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let stuck = Task<Void, Never> { await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } } }
        // Returning at all shows it: `stuck` ends only when released below. (No wall-clock bound:
        // with the whole suite starting beside it on two cores, a 300 ms timer was seen to fire after 19 s.)
        #expect(await !PostgresStore.awaitEnd(of: stuck, within: .milliseconds(300)))
        // Let it go, so nothing is left waiting once the test ends.
        while gate.withLock({ $0 == nil }) { try await Task.sleep(for: .milliseconds(10)) }
        gate.withLock { $0.take() }?.resume()
        await stuck.value
    }
}

@Suite(.enabled(if: Backend.postgresURL != nil, "needs TESSERA_TEST_DATABASE_URL"))
struct PostgresTests {
    let device = DeviceKey(tenantID: "REF30", deviceID: "dev-1")
    let now = Date(epochMilliseconds: 1_800_000_000_000)

    func session(_ device: DeviceKey) -> Session {
        Session(id: UUID(), device: device, subject: Subject(userID: "u1", providerID: "Dish"), deviceUser: nil,
                createdAt: now, expiresAt: now.addingTimeInterval(3600))
    }

    func withTwoInstances(_ body: (PostgresStore, PostgresStore) async throws -> Void) async throws {
        let location = try Backend.freshPostgresLocation()
        let a = try await PostgresStore.open(location)
        let b: PostgresStore
        do { b = try await PostgresStore.open(location) } catch { await Backend.drop(location.schema, with: a); throw error }
        do { try await body(a, b) } catch {
            await b.close()
            await Backend.drop(location.schema, with: a)
            throw error
        }
        await b.close()
        await Backend.drop(location.schema, with: a)
    }

    /// 1,000 rounds, each a revoke by one selector kind (in turn: device login, device,
    /// device and provider, token digest, refresh digest, family, subject, application, SSO key,
    /// session id) on instance A, and what instance B held in memory for it checked the moment A
    /// answered: B must have dropped every key of every ended session by then.
    @Test(.timeLimit(.minutes(10))) func everySelectorsRevokeIsForgottenByTheOtherInstanceBeforeItIsAnswered() async throws {
        try await withTwoInstances { a, b in
            // As B's caches hold them: each session under its keys; any of its keys named drops it
            // (a device login's entry goes with the decisions of the session it held).
            let held = Mutex<[Session]>([])
            b.onInvalidation { keys in
                held.withLock { held in
                    guard let keys else { return held.removeAll() }
                    let named = Set(keys)
                    held.removeAll { !named.isDisjoint(with: $0.memoryKeys) }
                }
            }
            let now = Date()
            var stale: [String] = []
            for round in 0..<1_000 {
                let device = "dev-\(round)", user = "user-\(round)", family = UUID(), application = "app-\(round)"
                let ssoKey = SSOKey.make(.serviceToken, "key-\(round)")
                let secret = Secret.generate()
                func make(_ kind: SessionKind, provider: String = "Dish") -> Session {
                    Session(id: UUID(), tenantID: "REF30", kind: kind, applicationID: kind == .deviceLogin ? nil : application,
                            subject: Subject(userID: user, providerID: provider), deviceID: kind == .accessToken || kind == .userSession ? nil : device,
                            ssoKey: kind == .ssoProfile ? ssoKey : nil,
                            tokenDigest: kind == .accessToken ? SecretDigest(of: secret) : kind == .userSession ? SecretDigest(of: secret + "u") : nil,
                            refreshDigest: kind == .accessToken ? SecretDigest(of: secret + "r") : nil, familyID: kind == .accessToken ? family : nil,
                            createdAt: now, expiresAt: now.addingTimeInterval(3600))
                }
                let sessions = [make(.deviceLogin), make(.providerProfile), make(.providerProfile, provider: "Cablevision"), make(.ssoProfile),
                                make(.accessToken), make(.userSession)]
                for session in sessions { try await a.startSession(session) }
                let selectors: [SessionSelector] = [
                    .deviceLogin(DeviceKey(tenantID: "REF30", deviceID: device)), SessionSelector(tenantID: "REF30", .device(device)),
                    SessionSelector(tenantID: "REF30", .deviceAndProvider(device, "Cablevision")),
                    SessionSelector(tenantID: "REF30", .tokenDigest(SecretDigest(of: secret + "u"))),
                    SessionSelector(tenantID: "REF30", .refreshDigest(SecretDigest(of: secret + "r"))), SessionSelector(tenantID: "REF30", .family(family)),
                    SessionSelector(tenantID: "REF30", .subject(userID: user)), SessionSelector(tenantID: "REF30", .application(application)),
                    SessionSelector(tenantID: "REF30", .ssoKey(ssoKey, providerID: nil)), SessionSelector(tenantID: "REF30", .id(sessions[1].id)),
                ]
                let selector = selectors[round % selectors.count]
                // B reads what the selector picks and holds it, as its caches would.
                let picked = try await b.sessions(selector)
                if picked.isEmpty { stale.append("round \(round): \(selector) picked nothing") }
                held.withLock { held in held = picked }
                let ended = try await a.revokeSessions(selector)
                let left = held.withLock { $0 }
                if Set(ended.map(\.id)) != Set(picked.map(\.id)) { stale.append("round \(round): ended \(ended.count) of \(picked.count)") }
                if !left.isEmpty { stale.append("round \(round): B still held \(left.map(\.kind)) after \(selector) was answered") }
                if !(try await b.sessions(selector)).isEmpty { stale.append("round \(round): B's store still finds \(selector)") }
                // What is left of the round goes, so that the next round starts clean.
                _ = try await a.revokeSessions(SessionSelector(tenantID: "REF30", .subject(userID: user)))
            }
            #expect(stale == [])
        }
    }

    @Test func migratingIsIdempotentAndANewerSchemaIsRefused() async throws {
        let location = try Backend.freshPostgresLocation()
        let first = try await PostgresStore.open(location)
        let second = try await PostgresStore.open(location)
        await second.close()
        let applied = try await first.client.query("SELECT count(*) FROM tessera_migration")
        for try await count in applied.decode(Int.self) { #expect(count == PostgresMigrations.all.count) }
        try await first.client.query("INSERT INTO tessera_migration (id) VALUES ('v99: from the future')")
        await #expect(throws: StoreError.self) { _ = try await PostgresStore.open(location) }
        await Backend.drop(location.schema, with: first)
    }

    /// Prepared statements keep their plan: planned on an empty database, a device's trial must
    /// still be found through the device's own index, not by reading the provider's trials.
    @Test func aDevicesTrialIsLookedUpByItsOwnIndexEvenAsPlannedOnAnEmptyDatabase() async throws {
        let location = try Backend.freshPostgresLocation()
        let store = try await PostgresStore.open(location)
        var plan: [String] = []
        try await store.client.withConnection { db in
            try await db.query("SET plan_cache_mode = force_generic_plan", logger: db.logger)
            try await db.query(PostgresQuery(unsafeSQL: "PREPARE trial(text, text, text) AS " + TrialOfDevice.sql), logger: db.logger)
            for try await line in try await db.query("EXPLAIN EXECUTE trial('REF30', 'TempPass', 'dev')", logger: db.logger).decode(String.self) {
                plan.append(line)
            }
        }
        let text = plan.joined(separator: "\n")
        #expect(text.contains("Index Cond: ((tenant_id = $1) AND (provider_id = $2) AND (device_id = $3))"), "\(text)")
        #expect(!text.contains("Filter"), "\(text)")
        await Backend.drop(location.schema, with: store)
    }

    /// A device's lock is the schema's: while a transaction in schema A holds device X, a login of
    /// X in schema B (another Tessera sharing the database) goes through at once.
    @Test(.timeLimit(.minutes(2))) func aDeviceLockedInOneSchemaDoesNotHoldUpTheSameDeviceInAnother() async throws {
        let first = try Backend.freshPostgresLocation()
        let second = try Backend.freshPostgresLocation()
        let a = try await PostgresStore.open(first)
        let b = try await PostgresStore.open(second)
        let holding = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await a.client.withTransaction(logger: Logger(label: "test")) { db in
                _ = try await db.execute(DeviceLock(device: device), logger: db.logger)
                holding.continuation.yield()
                for await _ in release.stream { break }
            }
        }
        for await _ in holding.stream { break }
        let started = ContinuousClock.now
        let login = Task { try await b.startSession(session(device)) }
        let waited = await PostgresStore.awaitEnd(of: Task { _ = try? await login.value }, within: .seconds(10))
        #expect(waited, "the login in the other schema waited for the lock")
        #expect(ContinuousClock.now - started < .seconds(10))
        release.continuation.yield()
        try await holder.value
        _ = try await login.value
        #expect(try await b.session(device: device) != nil)
        await Backend.drop(second.schema, with: b)
        await Backend.drop(first.schema, with: a)
    }

    @Test func bothInstancesTrustTheirMemoryOnceJoined() async throws {
        try await withTwoInstances { a, b in
            #expect(a.memoryIsCurrent)
            #expect(b.memoryIsCurrent)
            let live = try await a.client.query("SELECT count(*) FROM tessera_instance")
            for try await count in live.decode(Int.self) { #expect(count == 2) }
        }
    }

    @Test func aChangeReturnsOnlyAfterTheOtherInstanceForgotTheDevice() async throws {
        try await withTwoInstances { a, b in
            let heard = Mutex<[DeviceKey?]>([])
            b.onInvalidation { keys in heard.withLock { $0 += loginsNamed(keys) } }
            let mine = Mutex<[DeviceKey?]>([])
            a.onInvalidation { keys in mine.withLock { $0 += loginsNamed(keys) } }
            for round in 0..<50 {
                let device = DeviceKey(tenantID: "REF30", deviceID: "dev-\(round)")
                try await a.startSession(session(device))
                #expect(heard.withLock { $0.last } == device)
                #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
                #expect(heard.withLock { $0.last } == device)
                #expect(heard.withLock { $0.count } == 2 * (round + 1))
            }
            // Nothing changed: nobody is told. And an instance is never told of its own changes.
            #expect(try await a.revokeSessions(.deviceLogin(device)).count == 0)
            #expect(heard.withLock { $0.count } == 100)
            #expect(mine.withLock { $0.isEmpty })
        }
    }

    @Test func anInstanceThatDoesNotAnswerIsWaitedForUntilItsLeaseRunsOut() async throws {
        try await withTwoInstances { a, _ in
            try await a.startSession(session(device))
            // A lease held by nobody listening, 1.5 s from now on the database's clock.
            try await a.client.query("""
                INSERT INTO tessera_instance (id, lease_until) VALUES (\(UUID()), (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 1500)
                """)
            let started = ContinuousClock.now
            #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
            let waited = ContinuousClock.now - started
            #expect(waited > .milliseconds(700))
            #expect(waited < .seconds(4))
            // Once that lease has run out, nobody waits for it.
            try await a.startSession(session(device))
            let again = ContinuousClock.now
            #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
            #expect(ContinuousClock.now - again < .seconds(2))
        }
    }

    /// Once an instance has listened for a whole lease, it knows the live instances from their
    /// renewals: it waits for one heard renewing, not for a lease row nobody renews, and not for
    /// one that said it left.
    @Test func afterALeaseOfListeningTheInstancesHeardRenewingAreWaitedFor() async throws {
        try await withTwoInstances { a, _ in
            try await Task.sleep(for: .milliseconds(PeerInstances.lease + 300))
            let ghost = UUID()
            func say(_ message: PeerInstances.Message) async throws {
                let payload = String(decoding: try JSONEncoder().encode(message), as: UTF8.self)
                try await a.client.query("SELECT pg_notify(\(a.peers.channel), \(payload))")
            }
            try await a.startSession(session(device))
            // Heard renewing a 1.5 s lease, never acknowledging.
            try await say(.init(k: "b", from: ghost, n: 1, l: 1500))
            try await Task.sleep(for: .milliseconds(100))
            var started = ContinuousClock.now
            #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
            let waited = ContinuousClock.now - started
            #expect(waited > .milliseconds(1000))
            #expect(waited < .seconds(4))
            // A lease row that no renewal announced was never trusted by anyone listening.
            try await a.client.query("""
                INSERT INTO tessera_instance (id, lease_until) VALUES (\(UUID()), (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 60000)
                """)
            try await a.startSession(session(device))
            started = ContinuousClock.now
            #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
            #expect(ContinuousClock.now - started < .milliseconds(800))
            // Heard renewing a minute's lease, then leaving while a change waits for it.
            try await a.startSession(session(device))
            try await say(.init(k: "b", from: ghost, n: 2, l: 60_000))
            try await Task.sleep(for: .milliseconds(100))
            started = ContinuousClock.now
            let leaving = Task {
                try await Task.sleep(for: .milliseconds(300))
                try await say(.init(k: "l", from: ghost, n: 0))
            }
            #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
            try await leaving.value
            #expect(ContinuousClock.now - started > .milliseconds(250))
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }

    @Test func bothInstancesChangingOneDeviceAtOnceBothSucceedAndOneSessionRemains() async throws {
        try await withTwoInstances { a, b in
            let sessions = (0..<40).map { _ in session(device) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, s) in sessions.enumerated() {
                    let store = i % 2 == 0 ? a : b
                    group.addTask { try await store.startSession(s) }
                    if i % 4 == 3 { group.addTask { _ = try await store.revokeSessions(.deviceLogin(device)).count } }
                }
                try await group.waitForAll()
            }
            let rows = try await a.client.query("SELECT count(*) FROM session WHERE device_id = \(device.deviceID)")
            for try await count in rows.decode(Int.self) { #expect(count <= 1) }
            // Many logouts at once, of many devices, answer once both instances know.
            let devices = (0..<300).map { DeviceKey(tenantID: "REF30", deviceID: "many-\($0)") }
            for d in devices { try await a.startSession(session(d)) }
            let heard = Findings()
            b.onInvalidation { keys in for device in loginsNamed(keys) { heard.add(device?.deviceID ?? "*") } }
            let removed = try await withThrowingTaskGroup(of: Int.self) { group in
                for d in devices { group.addTask { try await a.revokeSessions(.deviceLogin(d)).count } }
                return try await group.reduce(0, +)
            }
            #expect(removed == 300)
            #expect(Set(heard.all).isSuperset(of: Set(devices.map(\.deviceID))))
        }
    }

    /// Another instance logs the device in again and again, each login's transaction held open
    /// for 100 ms (a raw transaction here, as slow as a batch may be). Every attempt of b's login used to meet one of them uncommitted and fail on the
    /// device's unique index once it committed; after five, the login failed. A retry now holds
    /// the device's lock first, and succeeds.
    @Test func aLoginSucceedsWhileAnotherInstanceKeepsLoggingTheDeviceIn() async throws {
        try await withTwoInstances { a, b in
            let logger = Logger(label: "other instance")
            let other = Task {
                for _ in 0..<8 {
                    try await a.client.withTransaction(logger: logger) { db in
                        // As the store's retries do: the lock, then a statement that sees all that committed.
                        _ = try await db.execute(DeviceLock(device: device), logger: logger)
                        _ = try await db.execute(ReplaceSession(session: session(device)), logger: logger)
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(40))
            let mine = session(device)
            try await b.startSession(mine)
            #expect(try await b.session(device: device)?.id != nil)
            try await other.value
            let rows = try await a.client.query("SELECT count(*) FROM session WHERE device_id = \(device.deviceID)")
            for try await count in rows.decode(Int.self) { #expect(count == 1) }
        }
    }

    @Test func instancesStartingTogetherSignWithTheSameKeys() async throws {
        try await withTwoInstances { a, b in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<10 {
                    let store = i % 2 == 0 ? a : b
                    group.addTask {
                        try await store.insertUnlessAlgorithmHasKey(StoredSigningKey(kid: "rs-\(i)", algorithm: "RS256", privateKey: .sealed(Data("box-\(i)".utf8)), createdAt: now))
                    }
                }
                try await group.waitForAll()
            }
            let keysA = try await a.signingKeys()
            #expect(keysA.count == 1)
            #expect(try await b.signingKeys() == keysA)
        }
    }

    @Test func aClosedInstanceIsNotWaitedFor() async throws {
        let location = try Backend.freshPostgresLocation()
        let a = try await PostgresStore.open(location)
        let b = try await PostgresStore.open(location)
        let leavingID = b.peers.id
        await b.close()
        // b renewed its lease every second until it closed: no renewal in flight may put the row
        // back after the close deleted it (one did on CI; then a waited for b until that lease ran out).
        for _ in 0..<2 {
            let rows = try await a.client.query("SELECT count(*) FROM tessera_instance WHERE id = \(leavingID)")
            var count = -1
            for try await value in rows.decode(Int.self) { count = value }
            #expect(count == 0, "the closed instance's lease row is there")
            try await Task.sleep(for: .milliseconds(1200))
        }
        try await a.startSession(session(device))
        let started = ContinuousClock.now
        #expect(try await a.revokeSessions(.deviceLogin(device)).count == 1)
        // Under the 5 s a lease would hold it (by more than a renewal interval).
        #expect(ContinuousClock.now - started < .seconds(4))
        await Backend.drop(location.schema, with: a)
    }

    /// Logins and logouts that arrive together run as one statement: each still gets its own
    /// answer, and exactly what it asked for is stored (device users, trials with and without an
    /// identity or a start).
    @Test func loginsAndLogoutsBatchedTogetherStoreExactlyWhatEachAsked() async throws {
        let location = try Backend.freshPostgresLocation()
        let store = try await PostgresStore.open(location)
        for index in 0..<20 { try await store.startSession(session(DeviceKey(tenantID: "REF30", deviceID: "held-\(index)"))) }
        var logins: [(Session, TemporaryAccess?)] = []
        for index in 0..<20 {
            let device = DeviceKey(tenantID: index % 5 == 0 ? "OTHER" : "REF30", deviceID: "new-\(index)")
            let login = Session(id: UUID(), device: device, subject: Subject(userID: "u\(index)", providerID: "Dish"),
                                deviceUser: index % 2 == 0 ? "kid-\(index)" : nil,
                                createdAt: now.addingTimeInterval(Double(index)), expiresAt: now.addingTimeInterval(3600 + Double(index)))
            let trial = index % 3 == 0 ? nil : TemporaryAccess(
                id: UUID(), tenantID: device.tenantID, providerID: "TempPass_5mins", deviceID: device.deviceID,
                identityDigest: index % 4 == 0 ? SecretDigest(of: "ann@example.com \(index)") : nil,
                startedAt: index % 7 == 0 ? now : nil, resources: index % 7 == 0 ? ["TNT"] : [])
            logins.append((login, trial))
        }
        let removed = try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for index in 0..<20 {
                group.addTask { ("held-\(index)", try await store.revokeSessions(.deviceLogin(DeviceKey(tenantID: "REF30", deviceID: "held-\(index)"))).count) }
                group.addTask { ("absent-\(index)", try await store.revokeSessions(.deviceLogin(DeviceKey(tenantID: "REF30", deviceID: "absent-\(index)"))).count) }
                let (login, trial) = logins[index]
                group.addTask { try await store.startSession(login, creating: trial); return ("login", 0) }
            }
            return try await group.reduce(into: [String: Int]()) { $0[$1.0] = $1.1 }
        }
        for index in 0..<20 {
            #expect(removed["held-\(index)"] == 1)
            #expect(removed["absent-\(index)"] == 0)
            #expect(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: "held-\(index)")) == nil)
            let (login, trial) = logins[index]
            #expect(try await store.session(device: login.device!) == login)
            let stored = try await store.temporaryAccess(tenantID: login.device!.tenantID, providerID: "TempPass_5mins",
                                                         deviceID: login.device!.deviceID, identityDigest: nil)
            #expect(stored == trial)
        }
        await Backend.drop(location.schema, with: store)
    }

    /// Session changes share transactions: one that fails (here a trial whose id is taken) fails
    /// alone; the others of its batch are stored, and the failed one leaves nothing behind.
    @Test func aFailingChangeTakesNoOtherChangeOfItsBatchWithIt() async throws {
        let location = try Backend.freshPostgresLocation()
        let store = try await PostgresStore.open(location)
        let taken = TemporaryAccess(id: UUID(), tenantID: "REF30", providerID: "TempPass_5mins", deviceID: "first", identityDigest: nil)
        try await store.startSession(session(DeviceKey(tenantID: "REF30", deviceID: "first")), creating: taken)
        for round in 0..<5 {
            let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
                for lane in 0..<40 {
                    group.addTask {
                        let device = DeviceKey(tenantID: "REF30", deviceID: "batch-\(round)-\(lane)")
                        var trial = TemporaryAccess(id: UUID(), tenantID: "REF30", providerID: "TempPass_5mins", deviceID: device.deviceID, identityDigest: nil)
                        if lane == 20 { trial.id = taken.id }
                        do { try await store.startSession(session(device), creating: trial) } catch is StoreError { return true }
                        return false
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 1, "round \(round)")
            for lane in 0..<40 {
                let device = DeviceKey(tenantID: "REF30", deviceID: "batch-\(round)-\(lane)")
                let stored = try await store.session(device: device)
                #expect((stored == nil) == (lane == 20), "round \(round), device \(lane)")
                let trial = try await store.temporaryAccess(tenantID: "REF30", providerID: "TempPass_5mins", deviceID: device.deviceID, identityDigest: nil)
                #expect((trial == nil) == (lane == 20), "round \(round), trial \(lane)")
            }
        }
        await Backend.drop(location.schema, with: store)
    }

    /// Closing while reads, writes and session changes are under way (a server stopping while its
    /// purge runs): every call ends, answered or refused, and close() returns.
    @Test(.timeLimit(.minutes(5))) func closingWhileOperationsRunEndsEveryOne() async throws {
        for round in 0..<20 {
            let location = try Backend.freshPostgresLocation()
            let store = try await PostgresStore.open(location)
            let cleaner = try await PostgresStore.open(location)
            let ended = Findings()
            let callers = (0..<12).map { lane in
                Task {
                    for step in 0..<1_000 {
                        let device = DeviceKey(tenantID: "REF30", deviceID: "close-\(lane)-\(step)")
                        do {
                            switch lane % 3 {
                            case 0: _ = try await store.purgeExpired(now: now, grace: 0)
                            case 1: try await store.startSession(session(device))
                            default: _ = try await store.session(device: device)
                            }
                        } catch {
                            break
                        }
                    }
                    ended.add("\(lane)")
                }
            }
            try await Task.sleep(for: .milliseconds(round % 5 * 10 + 5))
            await store.close()
            for caller in callers { await caller.value }
            #expect(ended.all.count == 12, "round \(round)")
            // A closed store refuses; it neither hangs nor succeeds.
            await #expect(throws: StoreError.self) { try await store.session(device: device) }
            await Backend.drop(location.schema, with: cleaner)
        }
    }
}

/// Lines collected from concurrent tasks.
final class Findings: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// The v1 device logins a notification names (nil: forget everything).
func loginsNamed(_ keys: [MemoryKey]?) -> [DeviceKey?] {
    guard let keys else { return [nil] }
    var seen = Set<DeviceKey>()
    return keys.compactMap { key -> DeviceKey? in
        guard case .deviceLogin(let device) = key, seen.insert(device).inserted else { return nil }
        return device
    }
}
