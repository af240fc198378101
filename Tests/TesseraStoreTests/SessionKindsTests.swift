import Foundation
import GRDB
import PostgresNIO
import Testing
import TesseraCore
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

/// Sessions of many kinds, on every backend: uniqueness per kind, each selector, the per-subject
/// limit, last-used times, and the upgrade of a database of the previous schema.
@Suite struct SessionKindsTests {
    let now = Date(epochMilliseconds: 1_800_000_000_000)
    let tv = "tv-1", phone = "phone-1"

    func profile(device: String, provider: String, user: String = "u1", application: String = "app-1", at offset: TimeInterval = 0) -> Session {
        Session(id: UUID(), tenantID: "REF30", kind: .providerProfile, applicationID: application, subject: Subject(userID: user, providerID: provider),
                deviceID: device, createdAt: now.addingTimeInterval(offset), expiresAt: now.addingTimeInterval(3600))
    }

    func login(device: String, user: String = "u1", tenant: String = "REF30") -> Session {
        Session(id: UUID(), device: DeviceKey(tenantID: tenant, deviceID: device), subject: Subject(userID: user, providerID: "Dish"),
                deviceUser: nil, createdAt: now, expiresAt: now.addingTimeInterval(3600))
    }

    func token(_ kind: SessionKind, user: String = "acct", family: UUID? = nil, at offset: TimeInterval = 0, application: String = "meeting-72") -> (Session, String) {
        let secret = Secret.generate()
        let session = Session(id: UUID(), tenantID: "REF30", kind: kind, applicationID: application, subject: Subject(userID: user, providerID: "accounts"),
                              tokenDigest: SecretDigest(of: secret), refreshDigest: kind == .accessToken ? SecretDigest(of: secret + "r") : nil,
                              familyID: family, createdAt: now.addingTimeInterval(offset), expiresAt: now.addingTimeInterval(7200))
        return (session, secret)
    }

    @Test(arguments: Backend.available) func oneDeviceHoldsAProfilePerProviderAndLosesOneAlone(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let dish = profile(device: tv, provider: "Dish"), cablevision = profile(device: tv, provider: "Cablevision")
            try await store.startSession(dish)
            try await store.startSession(cablevision)
            // A v1 login of the same device is a kind of its own: it replaces neither profile.
            let v1 = login(device: tv)
            try await store.startSession(v1)
            #expect(Set(try await store.sessions(SessionSelector(tenantID: "REF30", .device(tv))).map(\.id)) == [dish.id, cablevision.id, v1.id])
            // A new Dish profile on the TV replaces the old one (same application), and only it.
            let again = profile(device: tv, provider: "Dish", at: 1)
            #expect(try await store.startSession(again).map(\.id) == [dish.id])
            let ended = try await store.revokeSessions(SessionSelector(tenantID: "REF30", .deviceAndProvider(tv, "Dish"), kinds: [.providerProfile]))
            #expect(ended == [again])
            #expect(Set(try await store.sessions(SessionSelector(tenantID: "REF30", .device(tv))).map(\.id)) == [cablevision.id, v1.id])
            #expect(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: tv)) == v1)
        }
    }

    @Test(arguments: Backend.available) func anSSOProfileIsSeenFromASecondDeviceAndEndsWithOneLogout(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let key = SSOKey.make(.platform, "household-7")
            let regular = profile(device: tv, provider: "Dish")
            var sso = profile(device: tv, provider: "Dish")
            sso.kind = .ssoProfile
            sso.ssoKey = key
            try await store.startSession(regular)
            try await store.startSession(sso)
            // The phone presents the SSO key and finds the TV's profile.
            let seen = try await store.sessions(SessionSelector(tenantID: "REF30", .ssoKey(key, providerID: nil)))
            #expect(seen == [sso])
            #expect(try await store.sessions(SessionSelector(tenantID: "OTHER", .ssoKey(key, providerID: nil))).isEmpty)
            // One logout from the TV ends the regular profile and the SSO one together.
            let ended = try await store.revokeSessions(SessionSelector(tenantID: "REF30", .device(tv), kinds: [.providerProfile, .ssoProfile]))
            #expect(Set(ended.map(\.id)) == [regular.id, sso.id])
            #expect(try await store.sessions(SessionSelector(tenantID: "REF30", .ssoKey(key, providerID: "Dish"))).isEmpty)
            let plan = LogoutPlan(ended: ended) { _ in nil }
            #expect(plan.steps.map(\.followUp) == [.invalid, .invalid])
        }
    }

    @Test(arguments: Backend.available) func sessionsAreFoundByTheDigestOfTheirTokenOrRefreshToken(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let (user, secret) = token(.userSession)
            try await store.startSession(user)
            #expect(try await store.sessions(SessionSelector(tenantID: "REF30", .tokenDigest(SecretDigest(of: secret)))) == [user])
            #expect(try await store.sessions(SessionSelector(tenantID: "REF30", .tokenDigest(SecretDigest(of: "guess")))).isEmpty)
            // Another tenant does not find it, even with the right token.
            #expect(try await store.sessions(SessionSelector(tenantID: "OTHER", .tokenDigest(SecretDigest(of: secret)))).isEmpty)
            let (access, accessSecret) = token(.accessToken)
            try await store.startSession(access)
            #expect(try await store.sessions(SessionSelector(tenantID: "REF30", .refreshDigest(SecretDigest(of: accessSecret + "r")))) == [access])
            // A token digest is unique: a second session under it is refused, and nothing is half-stored.
            var clash = user
            clash.id = UUID()
            await #expect(throws: StoreError.self) { try await store.startSession(clash) }
            #expect(try await store.session(id: clash.id) == nil)
            #expect(try await store.revokeSessions(SessionSelector(tenantID: "REF30", .tokenDigest(SecretDigest(of: secret)))) == [user])
        }
    }

    @Test(arguments: Backend.available) func aFamilyEndsTogether(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let family = UUID()
            let (first, _) = token(.accessToken, family: family)
            let (refreshed, _) = token(.accessToken, family: family, at: 1)
            let (stranger, _) = token(.accessToken, family: UUID(), at: 2)
            for s in [first, refreshed, stranger] { try await store.startSession(s) }
            let ended = try await store.revokeSessions(SessionSelector(tenantID: "REF30", .family(family)))
            #expect(Set(ended.map(\.id)) == [first.id, refreshed.id])
            #expect(try await store.session(id: stranger.id) == stranger)
        }
    }

    @Test(arguments: Backend.available) func aLimitPerSubjectEndsTheOldest(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let limit = SessionLimit(perSubject: 2)
            let sessions = (0..<3).map { token(.accessToken, at: TimeInterval($0)).0 }
            #expect(try await store.startSession(sessions[0], creating: nil, limit: limit).isEmpty)
            #expect(try await store.startSession(sessions[1], creating: nil, limit: limit).isEmpty)
            #expect(try await store.startSession(sessions[2], creating: nil, limit: limit) == [sessions[0]])
            // Another application of the same account counts on its own.
            let (other, _) = token(.accessToken, at: 3, application: "meeting-1")
            #expect(try await store.startSession(other, creating: nil, limit: SessionLimit(perSubject: 1)).isEmpty)
            #expect(try await store.sessions(SessionSelector(tenantID: "REF30", .subject(userID: "acct"))).map(\.id)
                    == [sessions[1].id, sessions[2].id, other.id])
        }
    }

    @Test(arguments: Backend.available) func aSubjectIsSignedOutOnEveryDeviceAndNobodyElseIs(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let mine = [login(device: tv), login(device: phone), profile(device: "tablet", provider: "Dish")]
            let theirs = [login(device: "tv-2", user: "u2"), login(device: tv, tenant: "OTHER")]
            for s in mine + theirs { try await store.startSession(s) }
            let ended = try await store.revokeSessions(SessionSelector(tenantID: "REF30", .subject(userID: "u1")))
            #expect(Set(ended.map(\.id)) == Set(mine.map(\.id)))
            for s in theirs { #expect(try await store.session(id: s.id) == s) }
            #expect(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: tv)) == nil)
            #expect(try await store.revokeSessions(SessionSelector(tenantID: "REF30", .subject(userID: "u1"))).isEmpty)
        }
    }

    @Test(arguments: Backend.available) func everySelectorPicksWhatItsRuleSays(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            var all: [Session] = [login(device: tv), profile(device: tv, provider: "Dish"), profile(device: phone, provider: "Dish", application: "app-2")]
            var sso = profile(device: phone, provider: "Cablevision")
            sso.kind = .ssoProfile
            sso.ssoKey = SSOKey.make(.partner, "apple-1")
            all.append(sso)
            let family = UUID()
            all.append(token(.accessToken, family: family).0)
            all.append(token(.userSession, application: "sdk-1").0)
            for s in all { try await store.startSession(s) }
            let selectors: [SessionSelector] = [
                SessionSelector(tenantID: "REF30", .device(tv)), SessionSelector(tenantID: "REF30", .device(phone), kinds: [.ssoProfile]),
                SessionSelector(tenantID: "REF30", .deviceAndProvider(phone, "Dish")), SessionSelector(tenantID: "REF30", .family(family)),
                SessionSelector(tenantID: "REF30", .application("app-2")), SessionSelector(tenantID: "REF30", .subject(userID: "u1"), kinds: [.deviceLogin]),
                SessionSelector(tenantID: "REF30", .ssoKey(SSOKey.make(.partner, "apple-1"), providerID: "Cablevision")),
                SessionSelector(tenantID: "REF30", .device(tv), applicationID: "app-1", matchesMissingApplication: true),
                SessionSelector(tenantID: "REF30", .id(all[2].id)),
            ]
            for selector in selectors {
                let expected = Set(all.filter(selector.matches).map(\.id))
                #expect(!expected.isEmpty)
                #expect(Set(try await store.sessions(selector).map(\.id)) == expected, "\(selector)")
            }
            #expect(LogoutPlan.followUp(for: sso, provider: DirectoryProvider(id: "Cablevision", displayName: "C", subscribers: [])) == .partnerLogout(providerID: "Cablevision"))
        }
    }

    @Test(arguments: Backend.available) func lastUsedOnlyMovesForward(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let s = login(device: tv)
            try await store.startSession(s)
            try await store.recordUse([SessionUse(sessionID: s.id, at: now.addingTimeInterval(120))])
            try await store.recordUse([SessionUse(sessionID: s.id, at: now.addingTimeInterval(60)), SessionUse(sessionID: UUID(), at: now)])
            #expect(try await store.session(id: s.id)?.lastUsedAt == now.addingTimeInterval(120))
        }
    }

    // MARK: Upgrades

    static let oldSession = UUID(), oldTrialSession = UUID(), oldTrial = UUID()
    static let created = Date(epochMilliseconds: 1_800_000_000_000)

    /// What a database of the previous schema holds: a device login with a decision, a TempPass
    /// session on its trial, and a signing key.
    static func checkUpgraded(_ store: any Store) async throws {
        let device = DeviceKey(tenantID: "REF30", deviceID: "old-tv")
        let session = try #require(try await store.session(device: device))
        #expect(session.id == oldSession && session.kind == .deviceLogin && session.subject == Subject(userID: "u1", providerID: "Dish"))
        #expect(session.deviceUser == "ann" && session.lastUsedAt == created && session.trialID == nil)
        #expect(try await store.decision(sessionID: oldSession, resource: "CNN")?.providerID == "Dish")
        let trialSession = try #require(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: "old-phone")))
        #expect(trialSession.trialID == oldTrial && trialSession.subject.userID == oldTrial.uuidString)
        #expect(try await store.temporaryAccess(id: oldTrial)?.resources == ["CNN"])
        #expect(try await store.signingKeys().map(\.kid) == ["rs-old"])
        // Still a v1 device login after the upgrade: a new login replaces it, a logout ends it.
        let next = Session(id: UUID(), device: device, subject: Subject(userID: "u1", providerID: "Dish"), deviceUser: nil,
                           createdAt: created, expiresAt: created.addingTimeInterval(60))
        #expect(try await store.startSession(next).map(\.id) == [oldSession])
        #expect(try await store.decision(sessionID: oldSession, resource: "CNN") == nil)
        #expect(try await store.revokeSessions(.deviceLogin(device)).map(\.id) == [next.id])
    }

    @Test func aSQLiteDatabaseOfThePreviousSchemaUpgradesWithEverySessionKept() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-upgrade-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.sqlite"
        let old = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(old, upTo: "v4: when each client first got a token")
        let ms = Self.created.epochMilliseconds, until = Self.created.addingTimeInterval(3600).epochMilliseconds
        try await old.write { db in
            try db.execute(sql: """
                INSERT INTO session (id, tenant_id, device_id, provider_id, user_id, device_user, created_at, expires_at)
                VALUES (?, 'REF30', 'old-tv', 'Dish', 'u1', 'ann', ?, ?), (?, 'REF30', 'old-phone', 'TempPass', ?, NULL, ?, ?);
                INSERT INTO decision (session_id, resource, provider_id, expires_at) VALUES (?, 'CNN', 'Dish', ?);
                INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources)
                VALUES (?, 'REF30', 'TempPass', 'old-phone', NULL, ?, '["CNN"]');
                INSERT INTO signing_key (kid, algorithm, private_key_pem, created_at) VALUES ('rs-old', 'RS256', 'pem', ?);
                """, arguments: [Self.oldSession.uuidString, ms, until, Self.oldTrialSession.uuidString, Self.oldTrial.uuidString, ms, until,
                                 Self.oldSession.uuidString, until, Self.oldTrial.uuidString, ms, ms])
        }
        #expect(try await old.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == 4096)
        try old.close()
        let store = try SQLiteStore(path: path)
        try await Self.checkUpgraded(store)
        await store.close()
        // A file made by an earlier Tessera keeps its pages (changing their size rewrites the file).
        let reopened = try DatabaseQueue(path: path)
        #expect(try await reopened.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == 4096)
    }

    @Test func theSQLitePurgeSweepsTheSessionsAFewRowsAtATimeAndComesBackToTheStart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-sweep-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/t.sqlite", sessionSweepRows: 3)
        func login(_ n: Int, expiresIn: TimeInterval) async throws -> Session {
            let session = Session(id: UUID.timeOrdered(at: Self.created), device: DeviceKey(tenantID: "REF30", deviceID: "tv-\(n)"),
                                  subject: Subject(userID: "u\(n)", providerID: "Dish"), deviceUser: nil,
                                  createdAt: Self.created, expiresAt: Self.created.addingTimeInterval(expiresIn))
            _ = try await store.startSession(session)
            return session
        }
        var expired: [Session] = []
        var live: [Session] = []
        for n in 0..<8 { expired.append(try await login(n, expiresIn: 10)) }
        for n in 8..<10 { live.append(try await login(n, expiresIn: 86_400)) }
        func left() async throws -> Int {
            var count = 0
            for session in expired where try await store.session(id: session.id) != nil { count += 1 }
            return count
        }
        let later = Self.created.addingTimeInterval(3600)
        // Three rows a purge: the ten rows take four purges, then the sweep starts over.
        #expect(try await store.purgeExpired(now: later, grace: 0) == 3)
        #expect(try await left() == 5)
        #expect(try await store.purgeExpired(now: later, grace: 0) == 3)
        #expect(try await store.purgeExpired(now: later, grace: 0) == 2)
        #expect(try await left() == 0)
        for session in live { #expect(try await store.session(id: session.id) == session) }
        // Sessions that expire later are found by the sweep's next rounds: the last row, then the
        // first ones again.
        let dayLater = later.addingTimeInterval(86_400)
        let first = try await store.purgeExpired(now: dayLater, grace: 0)
        let second = try await store.purgeExpired(now: dayLater, grace: 0)
        #expect(first == 1 && second == 1)
        for session in live { #expect(try await store.session(id: session.id) == nil) }
        await store.close()
        let file = try DatabaseQueue(path: dir + "/t.sqlite")
        #expect(try await file.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE name = 'session_expiry'") } == 0)
    }

    @Test func aNewSQLiteDatabaseHasPagesOfTheStoresSize() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-pages-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/t.sqlite")
        let device = DeviceKey(tenantID: "REF30", deviceID: "tv")
        let session = Session(id: UUID.timeOrdered(at: Self.created), device: device, subject: Subject(userID: "u1", providerID: "Dish"),
                              deviceUser: nil, createdAt: Self.created, expiresAt: Self.created.addingTimeInterval(60))
        #expect(try await store.startSession(session).isEmpty)
        #expect(try await store.session(device: device) == session)
        await store.close()
        let file = try DatabaseQueue(path: dir + "/t.sqlite")
        #expect(try await file.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == SQLiteStore.pageSize)
        #expect(SQLiteStore.pageSize == 2048)
    }

    /// SQLite keeps last-used times in `session_use` beside the sessions (v8): reads take the later
    /// of the two, a use of a session that is gone leaves nothing, and a session's row goes with it.
    @Test func sqliteKeepsLastUsedTimesBesideTheSessionsAndDropsThemWithTheSession() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-uses-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/t.sqlite")
        let device = DeviceKey(tenantID: "REF30", deviceID: "tv")
        let session = Session(id: UUID.timeOrdered(at: Self.created), device: device, subject: Subject(userID: "u1", providerID: "Dish"),
                              deviceUser: nil, createdAt: Self.created, expiresAt: Self.created.addingTimeInterval(3600))
        try await store.startSession(session)
        let later = Self.created.addingTimeInterval(120)
        try await store.recordUse([SessionUse(sessionID: session.id, at: later), SessionUse(sessionID: UUID(), at: later)])
        #expect(try await store.session(device: device)?.lastUsedAt == later)
        #expect(try await store.session(id: session.id)?.lastUsedAt == later)
        #expect(try await store.sessions(.deviceLogin(device)).first?.lastUsedAt == later)
        let file = try DatabaseQueue(path: dir + "/t.sqlite", configuration: SQLiteStore.sideConfiguration)
        #expect(try await file.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM session_use") } == 1)
        // The session table's own time is untouched: the use went beside it.
        #expect(try await file.read { db in try Int64.fetchOne(db, sql: "SELECT last_used_at FROM session") } == Self.created.epochMilliseconds)
        #expect(try await store.revokeSessions(.deviceLogin(device)).map(\.id) == [session.id])
        #expect(try await file.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM session_use") } == 0)
        try file.close()
        await store.close()
    }

    // MARK: The client address (SQLite v7, PostgreSQL v5)

    static let oldToken = "old-access-token", oldRefresh = "old-refresh-token", oldFamily = UUID()

    /// Inserts, in the schema before the client address, a Meeting token with its family.
    static let insertOldToken = """
        INSERT INTO session (id, tenant_id, kind, application_id, provider_id, user_id, token_digest, refresh_digest, family_id,
                             created_at, expires_at, last_used_at)
        VALUES ($1, 'REF30', 'access', 'password/72', 'Accounts', 'acct', $2, $3, $4, $5, $6, $5)
        """

    /// The token kept every column and has no address; it is found by either digest and ends with
    /// its family; a new session keeps the address it is given.
    static func checkAddressUpgrade(_ store: any Store) async throws {
        let found = try #require(try await store.sessions(SessionSelector(tenantID: "REF30", .tokenDigest(SecretDigest(of: oldToken)))).first)
        #expect(found.id == oldSession && found.kind == .accessToken && found.familyID == oldFamily && found.clientAddress == nil)
        #expect(found.applicationID == "password/72" && found.lastUsedAt == created)
        // The session counts start from the rows the upgrade found.
        #expect(try await store.sessionCounts(now: created)[.accessToken] == 1)
        #expect(try await store.sessions(SessionSelector(tenantID: "REF30", .refreshDigest(SecretDigest(of: oldRefresh)))).map(\.id) == [oldSession])
        let next = Session(id: UUID(), tenantID: "REF30", kind: .accessToken, applicationID: "password/72",
                           subject: Subject(userID: "acct", providerID: "Accounts"), tokenDigest: SecretDigest(of: "new-token"),
                           refreshDigest: SecretDigest(of: "new-refresh"), familyID: oldFamily, createdAt: created,
                           expiresAt: created.addingTimeInterval(60), clientAddress: "2001:db8::7")
        try await store.startSession(next)
        #expect(try await store.session(id: next.id)?.clientAddress == "2001:db8::7")
        #expect(try await store.sessionCounts(now: created)[.accessToken] == 2)
        #expect(Set(try await store.revokeSessions(SessionSelector(tenantID: "REF30", .family(oldFamily))).map(\.id)) == [oldSession, next.id])
        #expect(try await store.sessionCounts(now: created)[.accessToken, default: 0] == 0)
    }

    @Test func aSQLiteDatabaseBeforeClientAddressesUpgradesWithItsTokensKept() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-upgrade7-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.sqlite"
        let old = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(old, upTo: "v6: sessions purged by a sweep, not through an index of expiry times")
        try await old.write { db in
            try db.execute(sql: Self.insertOldToken.replacingOccurrences(of: "$1", with: "?1").replacingOccurrences(of: "$2", with: "?2")
                .replacingOccurrences(of: "$3", with: "?3").replacingOccurrences(of: "$4", with: "?4").replacingOccurrences(of: "$5", with: "?5")
                .replacingOccurrences(of: "$6", with: "?6"),
                arguments: [Self.oldSession.canonicalText, SecretDigest(of: Self.oldToken).bytes, SecretDigest(of: Self.oldRefresh).bytes,
                            Self.oldFamily.canonicalText, Self.created.epochMilliseconds, Self.created.addingTimeInterval(3600).epochMilliseconds])
        }
        try old.close()
        let store = try SQLiteStore(path: path)
        try await Self.checkAddressUpgrade(store)
        await store.close()
    }

    @Test(.enabled(if: Backend.postgresURL != nil)) func aPostgresDatabaseBeforeClientAddressesUpgradesWithItsTokensKept() async throws {
        let location = try Backend.freshPostgresLocation()
        let client = PostgresClient(configuration: location.clientConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await PostgresMigrations.apply(on: client, schema: location.schema, logger: Logger(label: "test"), upTo: "v4: sessions of many kinds")
            var bindings = PostgresBindings()
            bindings.append(Self.oldSession)
            try bindings.append(SecretDigest(of: Self.oldToken).bytes)
            try bindings.append(SecretDigest(of: Self.oldRefresh).bytes)
            bindings.append(Self.oldFamily)
            bindings.append(Self.created.epochMilliseconds)
            bindings.append(Self.created.addingTimeInterval(3600).epochMilliseconds)
            try await client.query(PostgresQuery(unsafeSQL: Self.insertOldToken, binds: bindings))
            group.cancelAll()
        }
        let store = try await PostgresStore.open(location)
        do { try await Self.checkAddressUpgrade(store) } catch {
            await Backend.drop(location.schema, with: store)
            throw error
        }
        await Backend.drop(location.schema, with: store)
    }

    @Test(.enabled(if: Backend.postgresURL != nil)) func aPostgresDatabaseOfThePreviousSchemaUpgradesWithEverySessionKept() async throws {
        let location = try Backend.freshPostgresLocation()
        let client = PostgresClient(configuration: location.clientConfiguration)
        let ms = Self.created.epochMilliseconds, until = Self.created.addingTimeInterval(3600).epochMilliseconds
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await PostgresMigrations.apply(on: client, schema: location.schema, logger: Logger(label: "test"), upTo: "v3: when each client first got a token")
            try await client.query("""
                INSERT INTO session (id, tenant_id, device_id, provider_id, user_id, device_user, created_at, expires_at)
                VALUES (\(Self.oldSession), 'REF30', 'old-tv', 'Dish', 'u1', 'ann', \(ms), \(until))
                """)
            try await client.query("""
                INSERT INTO session (id, tenant_id, device_id, provider_id, user_id, device_user, created_at, expires_at)
                VALUES (\(Self.oldTrialSession), 'REF30', 'old-phone', 'TempPass', \(Self.oldTrial.uuidString), NULL, \(ms), \(until))
                """)
            try await client.query("INSERT INTO decision (session_id, resource, provider_id, expires_at) VALUES (\(Self.oldSession), 'CNN', 'Dish', \(until))")
            try await client.query("""
                INSERT INTO temporary_access (id, tenant_id, provider_id, device_id, identity_digest, started_at, resources)
                VALUES (\(Self.oldTrial), 'REF30', 'TempPass', 'old-phone', NULL, \(ms), '["CNN"]')
                """)
            try await client.query("INSERT INTO signing_key (kid, algorithm, private_key_pem, created_at) VALUES ('rs-old', 'RS256', 'pem', \(ms))")
            group.cancelAll()
        }
        let store = try await PostgresStore.open(location)
        do { try await Self.checkUpgraded(store) } catch {
            await Backend.drop(location.schema, with: store)
            throw error
        }
        await Backend.drop(location.schema, with: store)
    }
}
