import Foundation
import GRDB
import Testing
import TesseraCore
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

/// Every store operation, run against each backend: SQLite always, PostgreSQL when
/// TESSERA_TEST_DATABASE_URL names a database (each test gets a schema of its own).
@Suite struct StoreConformanceTests {
    let now = Date(epochMilliseconds: 1_800_000_000_000)
    let device = DeviceKey(tenantID: "REF30", deviceID: "dev-1")

    func pending(code: String = "ABCDEFG", expiresIn: TimeInterval = 1800) -> PendingLogin {
        PendingLogin(id: UUID(), codeDigest: RegistrationCode.digest(code, tenant: "REF30"), device: device, providerID: nil,
                     description: DeviceDescription(deviceUser: "ann"), createdAt: now, expiresAt: now.addingTimeInterval(expiresIn))
    }

    func session(_ id: UUID = UUID(), expiresIn: TimeInterval = 3600) -> Session {
        Session(id: id, device: device, subject: Subject(userID: "u1", providerID: "Dish"), deviceUser: "ann",
                createdAt: now, expiresAt: now.addingTimeInterval(expiresIn))
    }

    /// A v1 login of `device` (its user `u-device`, at Dish), started in `store`.
    func deviceLogin(_ device: String, expiresIn: TimeInterval, in store: any Store) async throws -> Session {
        let session = Session(id: UUID.timeOrdered(at: now), device: DeviceKey(tenantID: "REF30", deviceID: device),
                              subject: Subject(userID: "u-\(device)", providerID: "Dish"), deviceUser: nil,
                              createdAt: now, expiresAt: now.addingTimeInterval(expiresIn))
        _ = try await store.startSession(session)
        return session
    }

    func attempt(for login: PendingLogin, state: String = "state-1") -> LoginAttempt {
        LoginAttempt(stateDigest: SecretDigest(of: state), tenantID: "REF30", pendingLoginID: login.id, providerID: "Dish",
                     returnURL: "https://adobe.com/", expiresAt: now.addingTimeInterval(900))
    }

    @Test(arguments: Backend.available) func pendingLoginsAreUniqueWhileLiveAndDeletable(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let login = pending()
            #expect(try await store.insert(login))
            #expect(try await store.insert(pending()) == false)
            #expect(try await store.pendingLogin(codeDigest: login.codeDigest) == login)
            #expect(try await store.pendingLogin(id: login.id) == login)
            #expect(try await store.deletePendingLogin(codeDigest: login.codeDigest))
            #expect(try await store.deletePendingLogin(codeDigest: login.codeDigest) == false)
            #expect(try await store.pendingLogin(codeDigest: login.codeDigest) == nil)
        }
    }

    @Test(arguments: Backend.available) func anExpiredCodeMayBeIssuedAgain(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            var old = pending(expiresIn: 1)
            old.createdAt = now.addingTimeInterval(-10)
            old.expiresAt = now.addingTimeInterval(-1)
            #expect(try await store.insert(old))
            #expect(try await store.insert(pending()))
        }
    }

    @Test(arguments: Backend.available) func completingALoginIsAtomicAndSingleUse(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let login = pending()
            _ = try await store.insert(login)
            try await store.insert(attempt(for: login))
            try await store.insert(attempt(for: login, state: "state-2"))
            let first = session()
            guard case .completed(let completed) = try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: first, now: now) else {
                Issue.record("expected completion"); return
            }
            #expect(completed.completedSessionID == first.id)
            #expect(try await store.session(device: device) == first)
            // The other attempt of the same code went with it: the code is spent.
            #expect(try await store.loginAttempt(stateDigest: SecretDigest(of: "state-2")) == nil)
            #expect(try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: session(), now: now) == .attemptNotFound)
            try await store.insert(attempt(for: login, state: "state-3"))
            #expect(try await store.completeLogin(attemptDigest: SecretDigest(of: "state-3"), session: session(), now: now) == .codeAlreadyUsed)
            #expect(try await store.session(device: device) == first)
        }
    }

    /// An upstream login is stored beside every session the login starts (its tokens with the
    /// first only), only when the login completes, goes with its session however that ends, and
    /// its tokens are resealed with the keys.
    @Test(arguments: Backend.available) func upstreamLoginsLiveAndEndWithTheirSessions(backend: Backend) async throws {
        try await backend.withStore { (store, reopen) async throws in
            let login = pending()
            _ = try await store.insert(login)
            try await store.insert(attempt(for: login))
            let first = session(UUID.timeOrdered(at: now))
            let shared = Session(id: UUID.timeOrdered(at: now), tenantID: "REF30", kind: .ssoProfile,
                                 subject: Subject(userID: "u1", providerID: "Dish"), ssoKey: "platform:abc",
                                 createdAt: now, expiresAt: now.addingTimeInterval(3600))
            let claims = UpstreamClaims(userID: "u1", entitlements: ["CNN", "HBO"], metadata: ["zip": .string("10001"), "tags": .list(["a", "b"])])
            let upstream = UpstreamLogin(sessionID: first.id, providerID: "Dish", subjectID: "sub-1", providerSessionID: "sid-9", claims: claims,
                                         sealedIDToken: Data("id-box".utf8), sealedRefreshToken: Data("rt-box".utf8))
            // A completion that does not happen stores nothing.
            #expect(try await store.completeLogin(attemptDigest: SecretDigest(of: "no-such"), session: first, alsoStarting: [shared],
                                                  upstream: upstream, now: now) == .attemptNotFound)
            #expect(try await store.upstreamLogin(sessionID: first.id) == nil)
            guard case .completed = try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: first, alsoStarting: [shared],
                                                                  upstream: upstream, now: now) else {
                Issue.record("expected completion"); return
            }
            // Across a reopen (a restart).
            try await reopen { store in
                #expect(try await store.upstreamLogin(sessionID: first.id) == upstream)
                var copy = upstream
                copy.sessionID = shared.id
                copy.sealedIDToken = nil
                copy.sealedRefreshToken = nil
                #expect(try await store.upstreamLogin(sessionID: shared.id) == copy)

                #expect(try await store.resealKeys { owner, box in
                    guard case .upstreamToken(let sessionID, let kind) = owner else { return box }
                    return Data("\(sessionID == first.id)/\(kind)/".utf8) + box
                } == 2)
                #expect(try await store.upstreamLogin(sessionID: first.id)?.sealedRefreshToken == Data("true/refresh_token/rt-box".utf8))
                #expect(try await store.upstreamLogin(sessionID: first.id)?.sealedIDToken == Data("true/id_token/id-box".utf8))

                // Each goes with its own session.
                try await store.revokeSessions(SessionSelector(tenantID: "REF30", .id(shared.id)))
                #expect(try await store.upstreamLogin(sessionID: shared.id) == nil)
                #expect(try await store.upstreamLogin(sessionID: first.id) != nil)
                try await store.revokeSessions(SessionSelector(tenantID: "REF30", .device(device.deviceID)))
                #expect(try await store.upstreamLogin(sessionID: first.id) == nil)
            }
        }
    }

    /// The outbox: ending a session of a registered tenant (not by the purge) leaves a delivery
    /// for its services, and an upstream session's end its refresh token to revoke; a claim
    /// leases what is due, a retry counts and waits, a finish removes; deliveries survive a restart.
    @Test(arguments: Backend.available) func endedSessionsLeaveDeliveriesInTheOutbox(backend: Backend) async throws {
        try await backend.withStore { (store, reopen) async throws in
            try await store.setBackchannelTenants(["REF30"])
            let login = pending()
            _ = try await store.insert(login)
            try await store.insert(attempt(for: login))
            let first = session(UUID.timeOrdered(at: now))
            let upstream = UpstreamLogin(sessionID: first.id, providerID: "Dish", subjectID: "sub-1", providerSessionID: "sid-9",
                                         claims: UpstreamClaims(userID: "u1", entitlements: [], metadata: [:]),
                                         sealedIDToken: Data("id-box".utf8), sealedRefreshToken: Data("rt-box".utf8))
            _ = try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: first, alsoStarting: [], upstream: upstream, now: now)
            let found = try await store.upstreamSessions(providerID: "Dish", providerSessionID: "sid-9", subjectID: nil)
            #expect(found.map(\.sessionID) == [first.id] && found.map(\.tenantID) == ["REF30"])
            #expect(try await store.upstreamSessions(providerID: "Dish", providerSessionID: nil, subjectID: "sub-1").map(\.sessionID) == [first.id])
            #expect(try await store.upstreamSessions(providerID: "Other", providerSessionID: "sid-9", subjectID: nil).isEmpty)
            #expect(try await store.pendingLogoutDeliveries() == 0)

            try await store.revokeSessions(SessionSelector(tenantID: "REF30", .id(first.id)))
            // Another tenant's session and an expired one the purge removes leave nothing for services.
            _ = try await store.startSession(Session(id: UUID.timeOrdered(at: now), device: DeviceKey(tenantID: "OTHER40", deviceID: "d"),
                                                     subject: Subject(userID: "u9", providerID: "Dish"), deviceUser: nil,
                                                     createdAt: now, expiresAt: now.addingTimeInterval(60)))
            try await store.revokeSessions(SessionSelector(tenantID: "OTHER40", .device("d")))
            _ = try await deviceLogin("old", expiresIn: 60, in: store)
            _ = try await store.purgeExpired(now: now.addingTimeInterval(3 * 86_400), grace: 86_400)
            #expect(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: "old")) == nil)

            try await reopen { store in
                #expect(try await store.pendingLogoutDeliveries() == 2)
                // The refresh token waiting to be revoked is resealed with the keys (`rotate-kek`).
                let resealed = try await store.resealKeys { owner, box in
                    guard owner == .upstreamToken(sessionID: first.id, kind: "refresh_token") else { throw StoreError("another box: \(owner)") }
                    return box
                }
                #expect(resealed == 1)
                // In either order: the triggers that make them run in no order the stores promise.
                let claimed = try await store.claimLogoutDeliveries(now: now, lease: 60, limit: 10).sorted { $0.kind == .revocation && $1.kind != .revocation }
                #expect(claimed.map(\.kind) == [.revocation, .programmer])
                #expect(claimed.allSatisfy { $0.sessionID == first.id && $0.tenantID == "REF30" && $0.attempts == 0 })
                #expect(claimed[0].sealedToken == Data("rt-box".utf8) && claimed[0].userID == "sub-1")
                #expect(claimed[1].sealedToken == nil && claimed[1].userID == "u1" && claimed[1].providerID == "Dish")
                // Leased: not claimed again until the lease ends.
                #expect(try await store.claimLogoutDeliveries(now: now.addingTimeInterval(59), lease: 60, limit: 10).isEmpty)
                try await store.retryLogoutDelivery(id: claimed[1].id, at: now.addingTimeInterval(120))
                try await store.finishLogoutDelivery(id: claimed[0].id)
                #expect(try await store.claimLogoutDeliveries(now: now.addingTimeInterval(119), lease: 60, limit: 10).isEmpty)
                let again = try await store.claimLogoutDeliveries(now: now.addingTimeInterval(120), lease: 60, limit: 10)
                #expect(again.map(\.id) == [claimed[1].id] && again.first?.attempts == 1)
                try await store.finishLogoutDelivery(id: claimed[1].id)
                #expect(try await store.pendingLogoutDeliveries() == 0)
            }
        }
    }

    @Test(arguments: Backend.available) func expiredCodesAndAttemptsDoNotComplete(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let login = pending(expiresIn: 60)
            _ = try await store.insert(login)
            try await store.insert(attempt(for: login))
            #expect(try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: session(), now: now.addingTimeInterval(61)) == .codeExpired)
            #expect(try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: session(), now: now.addingTimeInterval(901)) == .attemptNotFound)
            #expect(try await store.completeLogin(attemptDigest: SecretDigest(of: "no-such"), session: session(), now: now) == .attemptNotFound)
            #expect(try await store.session(device: device) == nil)
            #expect(try await store.pendingLogin(id: login.id)?.completedSessionID == nil)
        }
    }

    @Test(arguments: Backend.available) func revokingRemovesSessionsAndTheirDecisionsDurably(backend: Backend) async throws {
        try await backend.withStore { (store, reopen) async throws in
            let login = pending()
            _ = try await store.insert(login)
            try await store.insert(attempt(for: login))
            let s = session()
            _ = try await store.completeLogin(attemptDigest: SecretDigest(of: "state-1"), session: s, now: now)
            try await store.upsert(Decision(sessionID: s.id, resource: "CNN", providerID: "Dish", expiresAt: now.addingTimeInterval(60)))
            #expect(try await store.decisions(sessionID: s.id).count == 1)
            let other = DeviceKey(tenantID: "OTHER", deviceID: "dev-1")
            #expect(try await store.revokeSessions(.deviceLogin(other)).count == 0)
            #expect(try await store.session(device: device) != nil)
            #expect(try await store.revokeSessions(.deviceLogin(device)).count == 1)
            #expect(try await store.session(device: device) == nil)
            #expect(try await store.decision(sessionID: s.id, resource: "CNN") == nil)
            // A second store on the same database sees the same state.
            try await reopen { (reopened) async throws in
                #expect(try await reopened.session(id: s.id) == nil)
                #expect(try await reopened.pendingLogin(id: login.id)?.completedSessionID == s.id)
            }
        }
    }

    @Test(arguments: Backend.available) func noncesAreSingleUse(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            #expect(try await store.claimNonce(tenantID: "REF30", nonce: "n1", expiresAt: now))
            #expect(try await store.claimNonce(tenantID: "REF30", nonce: "n1", expiresAt: now) == false)
            #expect(try await store.claimNonce(tenantID: "OTHER", nonce: "n1", expiresAt: now))
        }
    }

    @Test(arguments: Backend.available) func wrongPasswordsVoidAnAttemptAtTheLimit(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let login = pending()
            _ = try await store.insert(login)
            try await store.insert(attempt(for: login))
            let digest = SecretDigest(of: "state-1")
            #expect(try await store.recordFailedPassword(stateDigest: digest, limit: 3) == 1)
            #expect(try await store.recordFailedPassword(stateDigest: digest, limit: 3) == 2)
            #expect(try await store.recordFailedPassword(stateDigest: digest, limit: 3) == 3)
            #expect(try await store.loginAttempt(stateDigest: digest) == nil)
        }
    }

    @Test(arguments: Backend.available) func clientsThatNeverGotATokenArePurgedAfterADay(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            func client(_ id: String, at: Date) -> RegisteredClient {
                RegisteredClient(id: id, tenantID: "REF30", softwareID: "s", secretDigest: SecretDigest(of: id), redirectURIs: [], issuedAt: at)
            }
            try await store.insert(client("unused", at: now))
            try await store.insert(client("used", at: now))
            try await store.insert(client("recent", at: now.addingTimeInterval(unusedClientLifetime - 60)))
            try await store.markFirstToken(clientID: "used", at: now.addingTimeInterval(5))
            try await store.markFirstToken(clientID: "used", at: now.addingTimeInterval(500)) // the first one stays
            #expect(try await store.client(id: "used")?.firstTokenAt == now.addingTimeInterval(5))
            #expect(try await store.client(id: "unused")?.firstTokenAt == nil)
            #expect(try await store.purgeExpired(now: now.addingTimeInterval(unusedClientLifetime - 1), grace: 0) == 0)
            #expect(try await store.purgeExpired(now: now.addingTimeInterval(unusedClientLifetime), grace: 0) == 1)
            #expect(try await store.client(id: "unused") == nil)
            #expect(try await store.client(id: "used") != nil)
            #expect(try await store.client(id: "recent") != nil)
        }
    }

    @Test(arguments: Backend.available) func clientsKeysAndBrowserSessionsRoundTrip(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let client = RegisteredClient(id: "c1", tenantID: "REF30", softwareID: "s", secretDigest: SecretDigest(of: "x"),
                                          redirectURIs: ["app://x"], issuedAt: now)
            try await store.insert(client)
            #expect(try await store.client(id: "c1") == client)
            #expect(try await store.client(id: "c2") == nil)
            let key = StoredSigningKey(kid: "k1", algorithm: "RS256", privateKey: .sealed(Data("box".utf8)), createdAt: now)
            try await store.insertUnlessAlgorithmHasKey(key)
            try await store.insertUnlessAlgorithmHasKey(StoredSigningKey(kid: "k1", algorithm: "ES256", privateKey: .sealed(Data("other".utf8)), createdAt: now))
            try await store.insertUnlessAlgorithmHasKey(StoredSigningKey(kid: "k2", algorithm: "RS256", privateKey: .sealed(Data("other".utf8)), createdAt: now))
            #expect(try await store.signingKeys() == [key])
            let ec = StoredSigningKey(kid: "k3", algorithm: "ES256", privateKey: .sealed(Data("ec".utf8)), createdAt: now)
            try await store.insertUnlessAlgorithmHasKey(ec)
            #expect(try await store.signingKeys() == [key, ec])
            let browser = ProviderBrowserSession(digest: SecretDigest(of: "cookie"), subject: Subject(userID: "u", providerID: "P"), expiresAt: now)
            try await store.insert(browser)
            #expect(try await store.providerSession(digest: browser.digest) == browser)
            try await store.deleteProviderSession(digest: browser.digest)
            #expect(try await store.providerSession(digest: browser.digest) == nil)
        }
    }

    /// A key an older Tessera kept in the clear is sealed once (a second seal, by an instance that
    /// read it before, changes nothing); a change of key-encryption key reseals every signing and
    /// application key in one write, and a reseal that fails half-way changes none.
    @Test(arguments: Backend.available) func signingKeysAreSealedAndEveryKeyResealedAtOnce(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let legacy = StoredSigningKey(kid: "rs-old", algorithm: "RS256", privateKey: .clear("-----BEGIN PRIVATE KEY-----"), createdAt: now)
            try await store.insertUnlessAlgorithmHasKey(legacy)
            #expect(try await store.signingKeys() == [legacy])
            try await store.sealSigningKey(kid: "rs-old", sealed: Data("first".utf8))
            try await store.sealSigningKey(kid: "rs-old", sealed: Data("second".utf8))
            var sealed = legacy
            sealed.privateKey = .sealed(Data("first".utf8))
            #expect(try await store.signingKeys() == [sealed])

            let application = ApplicationKey(tenantID: "T", clientID: "app", keyID: "ak-1", publicKeyDER: Data([1]),
                                             sealedPrivateKey: Data("app-box".utf8), createdAt: now)
            try await store.insertUnlessApplicationHasKey(application)
            // Fails on the application key, after the signing key: nothing changes.
            await #expect(throws: (any Error).self) {
                try await store.resealKeys { owner, box in
                    if case .application = owner { throw StoreError("refused") }
                    return box + Data("!".utf8)
                }
            }
            #expect(try await store.signingKeys() == [sealed])
            #expect(try await store.applicationKeys(tenantID: "T", clientID: "app") == [application])

            let count = try await store.resealKeys { owner, box in
                switch owner {
                case .signingKey(let kid, let algorithm): Data("\(kid)/\(algorithm)/".utf8) + box
                case .application(let tenantID, let clientID, let keyID): Data("\(tenantID)/\(clientID)/\(keyID)/".utf8) + box
                case .upstreamToken(let sessionID, let kind): Data("\(sessionID)/\(kind)/".utf8) + box
                case .upstreamAttempt, .logoutHint, .logoutReturn: box
                }
            }
            #expect(count == 2)
            sealed.privateKey = .sealed(Data("rs-old/RS256/first".utf8))
            #expect(try await store.signingKeys() == [sealed])
            #expect(try await store.applicationKeys(tenantID: "T", clientID: "app").map(\.sealedPrivateKey) == [Data("T/app/ak-1/app-box".utf8)])
        }
    }

    /// Application keys: the first current key wins (a second start does not add one), a rotation
    /// retires the current ones at the new key's time in the same write; each application and
    /// tenant keeps its own. Changed passwords: one per user, the latest.
    @Test(arguments: Backend.available) func applicationKeysAndChangedPasswordsRoundTrip(backend: Backend) async throws {
        try await backend.withStore { (store, reopen) async throws in
            func key(_ id: String, tenant: String = "T", client: String = "app", at: Date) -> ApplicationKey {
                ApplicationKey(tenantID: tenant, clientID: client, keyID: id, publicKeyDER: Data(id.utf8), sealedPrivateKey: Data((id + "-sealed").utf8),
                               createdAt: at)
            }
            let first = key("k1", at: now)
            try await store.insertUnlessApplicationHasKey(first)
            try await store.insertUnlessApplicationHasKey(key("k2", at: now))
            try await store.insertUnlessApplicationHasKey(key("k1", tenant: "U", at: now))
            #expect(try await store.applicationKeys(tenantID: "T", clientID: "app") == [first])
            let rotated = key("k3", at: now.addingTimeInterval(60))
            try await store.rotate(to: rotated)
            var retired = first
            retired.retiredAt = rotated.createdAt
            #expect(try await store.applicationKeys(tenantID: "T", clientID: "app") == [retired, rotated])
            #expect(try await store.applicationKeys(tenantID: "U", clientID: "app").map(\.keyID) == ["k1"])
            #expect(try await store.applicationKeys(tenantID: "T", clientID: "other").isEmpty)

            let hash = try PasswordHash(password: "first-password", rounds: 1_000)
            try await store.record(PasswordChange(providerID: "P", userID: "u1", passwordHash: hash, changedAt: now))
            let second = PasswordChange(providerID: "P", userID: "u1", passwordHash: try PasswordHash(password: "second-password", rounds: 1_000),
                                        changedAt: now.addingTimeInterval(5))
            try await store.record(second)
            try await reopen { (store: any Store) async throws in
                #expect(try await store.passwordChange(providerID: "P", userID: "u1") == second)
                #expect(try await store.passwordChange(providerID: "P", userID: "u2") == nil)
                #expect(try await store.applicationKeys(tenantID: "T", clientID: "app").count == 2)
            }
        }
    }

    @Test(arguments: Backend.available) func purgeRemovesOnlyWhatIsPastItsTime(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let dead = pending(code: "AAAAAAA", expiresIn: 10)
            let live = pending(code: "BBBBBBB", expiresIn: 3600)
            _ = try await store.insert(dead)
            _ = try await store.insert(live)
            _ = try await store.claimNonce(tenantID: "REF30", nonce: "n", expiresAt: now.addingTimeInterval(5))
            let removed = try await store.purgeExpired(now: now.addingTimeInterval(20), grace: 3600)
            #expect(removed == 2)
            #expect(try await store.pendingLogin(id: dead.id) == nil)
            #expect(try await store.pendingLogin(id: live.id) != nil)
        }
    }

    @Test(arguments: Backend.available) func purgeRemovesSessionsOnlyPastTheirGraceWithTheirDecisions(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            func login(_ device: String, expiresIn: TimeInterval) async throws -> Session {
                let session = try await deviceLogin(device, expiresIn: expiresIn, in: store)
                try await store.upsert(Decision(sessionID: session.id, resource: "CNN", providerID: "Dish", expiresAt: now.addingTimeInterval(7200)))
                return session
            }
            let gone = try await login("tv-gone", expiresIn: 60)
            let inGrace = try await login("tv-grace", expiresIn: 3000)
            let live = try await login("tv-live", expiresIn: 90_000)
            // An hour past the first expiry, with an hour of grace: only the first is past its grace.
            _ = try await store.purgeExpired(now: now.addingTimeInterval(60 + 3600), grace: 3600)
            #expect(try await store.session(id: gone.id) == nil)
            #expect(try await store.decisions(sessionID: gone.id).isEmpty)
            #expect(try await store.session(id: inGrace.id) == inGrace)
            #expect(try await store.decision(sessionID: inGrace.id, resource: "CNN") != nil)
            #expect(try await store.session(id: live.id) == live)
            #expect(try await store.decision(sessionID: live.id, resource: "CNN") != nil)
        }
    }

    /// The `tessera_sessions` gauge's numbers, kept without a scan of the session table: they
    /// follow starts, replacements, ends, expiry (before any purge) and the purge, by kind, and
    /// a second store on the same database reads the same.
    @Test(arguments: Backend.available) func sessionCountsFollowStartsEndsExpiryAndPurge(backend: Backend) async throws {
        try await backend.withStore { (store, reopen) async throws in
            func login(_ device: String, expiresIn: TimeInterval) async throws -> Session {
                try await deviceLogin(device, expiresIn: expiresIn, in: store)
            }
            func counts(at time: Date) async throws -> (devices: Int, tokens: Int) {
                let counts = try await store.sessionCounts(now: time)
                return (counts[.deviceLogin, default: 0], counts[.accessToken, default: 0])
            }
            #expect(try await counts(at: now) == (0, 0))
            _ = try await login("tv-short", expiresIn: 60)
            _ = try await login("tv-b", expiresIn: 90_000)
            _ = try await login("tv-c", expiresIn: 90_000)
            let token = Session(id: UUID(), tenantID: "REF30", kind: .accessToken, applicationID: "password/72",
                                subject: Subject(userID: "acct", providerID: "Accounts"), tokenDigest: SecretDigest(of: "count-token"),
                                refreshDigest: SecretDigest(of: "count-refresh"), familyID: UUID(), createdAt: now,
                                expiresAt: now.addingTimeInterval(90_000), clientAddress: nil)
            try await store.startSession(token)
            #expect(try await counts(at: now) == (3, 1))
            // A device's new login replaces its session: still three.
            _ = try await login("tv-b", expiresIn: 90_000)
            #expect(try await counts(at: now) == (3, 1))
            // Ended ones go at once.
            #expect(try await store.revokeSessions(.deviceLogin(DeviceKey(tenantID: "REF30", deviceID: "tv-c"))).count == 1)
            #expect(try await store.revokeSessions(SessionSelector(tenantID: "REF30", .tokenDigest(SecretDigest(of: "count-token")))).count == 1)
            #expect(try await counts(at: now) == (2, 0))
            // An expired one stops counting at its expiry, before the purge removes it...
            let later = now.addingTimeInterval(120)
            #expect(try await counts(at: later) == (1, 0))
            // ...and the purge does not count it twice.
            _ = try await store.purgeExpired(now: later.addingTimeInterval(7200), grace: 3600)
            #expect(try await counts(at: later) == (1, 0))
            try await reopen { (reopened) async throws in
                #expect(try await reopened.sessionCounts(now: later)[.deviceLogin] == 1)
            }
        }
    }

    @Test(arguments: Backend.available) func temporaryAccessTrials(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let identity = SecretDigest(of: "viewer")
            let trial = TemporaryAccess(id: UUID(), tenantID: "REF30", providerID: "TP", deviceID: "d1", identityDigest: identity)
            try await store.insert(trial)
            #expect(try await store.temporaryAccess(id: trial.id) == trial)
            #expect(try await store.temporaryAccess(tenantID: "REF30", providerID: "TP", deviceID: "d2", identityDigest: identity)?.id == trial.id)
            #expect(try await store.temporaryAccess(tenantID: "REF30", providerID: "TP", deviceID: "d2", identityDigest: nil) == nil)
            #expect(try await store.temporaryAccess(tenantID: "OTHER", providerID: "TP", deviceID: "d1", identityDigest: identity) == nil)
            #expect(try await store.useTemporaryAccess(id: trial.id, resource: "A", now: now, duration: 60, resourceLimit: 2) == .permitted(until: now.addingTimeInterval(60)))
            #expect(try await store.useTemporaryAccess(id: trial.id, resource: "B", now: now.addingTimeInterval(10), duration: 60, resourceLimit: 2) == .permitted(until: now.addingTimeInterval(60)))
            #expect(try await store.useTemporaryAccess(id: trial.id, resource: "C", now: now.addingTimeInterval(10), duration: 60, resourceLimit: 2) == .resourcesExceeded)
            #expect(try await store.useTemporaryAccess(id: trial.id, resource: "A", now: now.addingTimeInterval(60), duration: 60, resourceLimit: 2) == .durationExceeded)
            #expect(try await store.useTemporaryAccess(id: UUID(), resource: "A", now: now, duration: 60, resourceLimit: nil) == .notFound)
        }
    }

    /// A TempPass start finds the device's (or the identity's) trial or makes one, and replaces the
    /// device's session; a trial whose time ran out changes nothing.
    @Test(arguments: Backend.available) func temporaryAccessStartsFindOrMakeTheTrial(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let identity = SecretDigest(of: "viewer")
            func request(_ deviceID: String, identity: SecretDigest? = nil) -> TemporaryAccessRequest {
                TemporaryAccessRequest(tenantID: "REF30", providerID: "TP", deviceID: deviceID, identityDigest: identity, duration: 60)
            }
            @Sendable func session(_ deviceID: String) -> @Sendable (TemporaryAccess) -> Session {
                { trial in
                    Session(id: UUID(), device: DeviceKey(tenantID: "REF30", deviceID: deviceID), subject: Subject(userID: trial.id.uuidString, providerID: "TP"),
                            deviceUser: nil, createdAt: now, expiresAt: now.addingTimeInterval(600))
                }
            }
            let d1 = DeviceKey(tenantID: "REF30", deviceID: "d1")

            // A new device: a new trial, stored with the session.
            guard case .started(let first, let trial) = try await store.startTemporaryAccessSession(request("d1", identity: identity), now: now, session: session("d1"))
            else { Issue.record("expected a start"); return }
            #expect(first.subject.userID == trial.id.uuidString)
            #expect(try await store.session(device: d1) == first)
            #expect(try await store.temporaryAccess(id: trial.id) == trial)
            try await store.upsert(Decision(sessionID: first.id, resource: "CNN", providerID: "TP", expiresAt: now.addingTimeInterval(60)))

            // Again: the same trial, a new session in place of the first (its decisions gone).
            guard case .started(let second, let again) = try await store.startTemporaryAccessSession(request("d1"), now: now, session: session("d1"))
            else { Issue.record("expected a start"); return }
            #expect(again == trial)
            #expect(second.id != first.id)
            #expect(try await store.session(device: d1) == second)
            #expect(try await store.decisions(sessionID: first.id).isEmpty)

            // Another device with the same identity: the identity's trial.
            guard case .started(_, let shared) = try await store.startTemporaryAccessSession(request("d2", identity: identity), now: now, session: session("d2"))
            else { Issue.record("expected a start"); return }
            #expect(shared.id == trial.id)
            #expect(try await store.temporaryAccess(tenantID: "REF30", providerID: "TP", deviceID: "d2", identityDigest: nil) == nil)

            // Its clock started and ran out: nothing changes, on either device or for a third one.
            _ = try await store.useTemporaryAccess(id: trial.id, resource: "CNN", now: now, duration: 60, resourceLimit: nil)
            let later = now.addingTimeInterval(60)
            #expect(try await store.startTemporaryAccessSession(request("d1"), now: later, session: session("d1")) == .durationExceeded)
            #expect(try await store.startTemporaryAccessSession(request("d3", identity: identity), now: later, session: session("d3")) == .durationExceeded)
            #expect(try await store.session(device: d1) == second)
            #expect(try await store.session(device: DeviceKey(tenantID: "REF30", deviceID: "d3")) == nil)
            #expect(try await store.temporaryAccess(tenantID: "REF30", providerID: "TP", deviceID: "d3", identityDigest: nil) == nil)
            // Another tenant's device of the same name has a trial of its own.
            let foreign = TemporaryAccessRequest(tenantID: "OTHER", providerID: "TP", deviceID: "d1", identityDigest: identity, duration: 60)
            guard case .started(_, let own) = try await store.startTemporaryAccessSession(foreign, now: later, session: { trial in
                Session(id: UUID(), device: DeviceKey(tenantID: "OTHER", deviceID: "d1"), subject: Subject(userID: trial.id.uuidString, providerID: "TP"),
                        deviceUser: nil, createdAt: later, expiresAt: later.addingTimeInterval(600))
            }) else { Issue.record("expected a start"); return }
            #expect(own.id != trial.id)
            #expect(try await store.session(device: d1) == second)
        }
    }

    @Test(arguments: Backend.available) func metadataVersionsMoveOnlyWhenValuesChange(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            #expect(try await store.metadataUpdated(providerID: "P", userID: "u", digest: Data([1]), now: now) == now)
            #expect(try await store.metadataUpdated(providerID: "P", userID: "u", digest: Data([1]), now: now.addingTimeInterval(5)) == now)
            #expect(try await store.metadataUpdated(providerID: "P", userID: "u", digest: Data([2]), now: now.addingTimeInterval(9)) == now.addingTimeInterval(9))
        }
    }

    @Test(arguments: Backend.available) func startingASessionReplacesTheDevicesOne(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let first = session()
            try await store.startSession(first)
            try await store.upsert(Decision(sessionID: first.id, resource: "CNN", providerID: "Dish", expiresAt: now.addingTimeInterval(60)))
            let second = session()
            try await store.startSession(second)
            #expect(try await store.session(device: device) == second)
            #expect(try await store.decisions(sessionID: first.id).isEmpty)
        }
    }

    @Test(arguments: Backend.available) func aTrialIsStoredWithItsSessionOrNotAtAll(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            let trial = TemporaryAccess(id: UUID(), tenantID: "REF30", providerID: "TempPass_5mins", deviceID: device.deviceID, identityDigest: nil)
            try await store.startSession(session(), creating: trial)
            #expect(try await store.temporaryAccess(id: trial.id) == trial)
            // The same trial again violates its key: the session that came with it is not stored either.
            let other = session()
            await #expect(throws: StoreError.self) { try await store.startSession(other, creating: trial) }
            #expect(try await store.session(device: device)?.id != other.id)
        }
    }

    @Test(arguments: Backend.available) func aStorageFailureIsAnError(backend: Backend) async throws {
        try await backend.withStore { (store, _) async throws in
            try await backend.dropSessionTable(of: store)
            await #expect(throws: StoreError.self) { try await store.revokeSessions(.deviceLogin(device)).count }
            await #expect(throws: StoreError.self) { try await store.session(device: device) }
        }
    }
}
