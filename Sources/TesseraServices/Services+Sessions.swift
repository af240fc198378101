import Foundation
import TesseraCore
import TesseraStore

/// Sessions: checks, decisions under them, revokes and logout.
extension Services {
    /// What a device has: a live session, an expired one, or none.
    package enum SessionState: Sendable {
        case active(Session)
        case expired(Session)
        case none

        /// The live session, or why there is none.
        package func require() throws(TesseraError) -> Session {
            switch self {
            case .active(let session): return session
            case .expired: throw .sessionExpired
            case .none: throw .noSession
            }
        }
    }

    /// The v1 login of a device. A `deviceUser` that does not match the one the device signed
    /// in with counts as no session.
    package func sessionState(device: DeviceKey, deviceUser: String?) async throws(TesseraError) -> SessionState {
        guard let session = try await deviceLogin(device) else { return .none }
        if let deviceUser, deviceUser != session.deviceUser { return .none }
        return session.isExpired(at: clock.now()) ? .expired(session) : .active(session)
    }

    /// The session whose token has this digest. Memory holds only the sessions found: the read is
    /// the tenant's, so its absence is the tenant's too and must not answer for another tenant
    /// under the same (digest) key.
    func sessionState(tokenDigest: SecretDigest, tenantID: String) async throws(TesseraError) -> SessionState {
        let session = try await cachedSession(hot.sessionsByToken, tokenDigest, keepsAbsence: false) {
            try await sessions.sessions(SessionSelector(tenantID: tenantID, .tokenDigest(tokenDigest))).first
        }
        guard let session, session.tenantID == tenantID else { return .none }
        return session.isExpired(at: clock.now()) ? .expired(session) : .active(session)
    }

    /// The device's login: from memory when it is there and live (or known absent), else from
    /// the store. Expired sessions are never kept in memory, so "expired" and "purged" answer as
    /// the store says.
    private func deviceLogin(_ device: DeviceKey) async throws(TesseraError) -> Session? {
        try await cachedSession(hot.deviceLogins, device) { try await sessions.session(device: device) }
    }

    private func cachedSession<Key: Hashable & Sendable>(_ cache: BoundedCache<Key, HotReads.SessionEntry>, _ key: Key,
                                                         keepsAbsence: Bool = true,
                                                         read: () async throws -> Session?) async throws(TesseraError) -> Session? {
        guard coherence.memoryIsCurrent else { return try await stored(read) }
        let now = clock.now()
        if let entry = cache.value(for: key) {
            guard let session = entry.session else { return nil }
            if !session.isExpired(at: now) {
                hot.noteUse(entry, at: now)
                return session
            }
        }
        let ticket = cache.ticket(for: key)
        let session = try await stored(read)
        if session.map({ !$0.isExpired(at: now) }) ?? keepsAbsence {
            let entry = HotReads.SessionEntry(session: session)
            cache.fill(key, entry, ticket: ticket)
            hot.noteUse(entry, at: now)
        }
        return session
    }

    /// Runs a store operation that starts or ends a device's v1 login, then forgets what memory
    /// held for the device, whatever the outcome (a failed commit may still have happened).
    func changingSessions<T: Sendable>(of device: DeviceKey, _ operation: () async throws -> T) async throws(TesseraError) -> T {
        defer { hot.invalidate([.deviceLogin(device)], bearers: tokens.verifiedAccessTokens) }
        return try await stored(operation)
    }

    /// Starts `session` in place of those it replaces (and, with `limit`, past the subject's
    /// limit); returns what it ended, already forgotten here and on every instance.
    @discardableResult
    func start(_ session: Session, creating trial: TemporaryAccess? = nil, limit: SessionLimit? = nil) async throws(TesseraError) -> [Session] {
        var keys = session.memoryKeys
        defer { hot.invalidate(keys, bearers: tokens.verifiedAccessTokens) }
        let ended = try await stored { try await sessions.startSession(session, creating: trial, limit: limit) }
        keys += ended.flatMap(\.memoryKeys)
        return ended
    }

    /// The decision stored for `resource` under `session` (live or not), from memory when it
    /// is there and live.
    func storedDecision(session: Session, resource: String) async throws(TesseraError) -> Decision? {
        guard coherence.memoryIsCurrent else { return try await stored { try await sessions.decision(sessionID: session.id, resource: resource) } }
        let now = clock.now()
        if let decision = hot.decisions.value(for: session.id)?[resource], decision.expiresAt > now { return decision }
        let ticket = hot.decisions.ticket(for: session.id)
        let decision = try await stored { try await sessions.decision(sessionID: session.id, resource: resource) }
        if let decision, decision.expiresAt > now {
            hot.decisions.update(session.id, ticket: ticket) { held in held = (held ?? [:]).merging([resource: decision]) { $1 } }
        }
        return decision
    }

    /// Stores a new decision and keeps it in memory.
    func record(_ decision: Decision) async throws(TesseraError) {
        let ticket = hot.decisions.ticket(for: decision.sessionID)
        try await stored { try await sessions.upsert(decision) }
        guard coherence.memoryIsCurrent else { return }
        // With the ticket: had the session been revoked meanwhile, its decision stays out.
        hot.decisions.update(decision.sessionID, ticket: ticket) { held in
            held = (held ?? [:]).merging([decision.resource: decision]) { $1 }
        }
    }

    /// The session a completed registration code led to, if it is still the device's session.
    package func sessionState(completedBy login: PendingLogin) async throws(TesseraError) -> SessionState {
        guard let id = login.completedSessionID,
              let session = try await stored({ try await sessions.session(id: id) })
        else { return .none }
        return session.isExpired(at: clock.now()) ? .expired(session) : .active(session)
    }

    /// The stored decision for `resource` under a live session.
    package func decision(session: Session, resource: String) async throws(TesseraError) -> Decision {
        guard let decision = try await storedDecision(session: session, resource: resource) else {
            throw .authorizationNotFound
        }
        guard decision.expiresAt > clock.now() else { throw .authorizationExpired }
        return decision
    }

    /// Ends every session `selector` picks and everything under it, durably; memory forgets them
    /// here and on every instance before this returns. The plan says what must follow.
    /// `withIDTokens`: the plan also holds what a logout hands back to the upstream provider of
    /// each session it ends that came from one (an OpenID Connect id_token, a SAML subject), read
    /// before the revoke: the rows go with the sessions.
    func revoke(_ selector: SessionSelector, withIDTokens: Bool = false) async throws(TesseraError) -> LogoutPlan {
        var idTokens: [UUID: String] = [:]
        if withIDTokens, hasUpstreamProviders {
            for session in try await stored({ try await sessions.sessions(selector) }) where directory.providers[session.subject.providerID] is any UpstreamProvider {
                guard let sealed = try await stored({ try await sessions.upstreamLogin(sessionID: session.id) })?.sealedIDToken,
                      let opened = try? sealing.open(sealed, for: .upstreamToken(sessionID: session.id, kind: UpstreamLoginCoding.idToken))
                else { continue }
                idTokens[session.id] = String(decoding: opened, as: UTF8.self)
            }
        }
        var plan = try await revoke(selector)
        plan.idTokens = idTokens.filter { id, _ in plan.endedSessions.contains { $0.id == id } }
        return plan
    }

    func revoke(_ selector: SessionSelector) async throws(TesseraError) -> LogoutPlan {
        // The device's login is forgotten even when the store reports nothing ended: a commit
        // that failed to answer may still have happened (as in ``changingSessions(of:_:)``).
        var keys: [MemoryKey] = []
        if case .device(let device) = selector.key, selector.kinds.isEmpty || selector.kinds.contains(.deviceLogin) {
            keys.append(.deviceLogin(DeviceKey(tenantID: selector.tenantID, deviceID: device)))
        }
        defer { hot.invalidate(keys, bearers: tokens.verifiedAccessTokens) }
        let ended = try await stored { try await sessions.revokeSessions(selector) }
        keys += ended.flatMap(\.memoryKeys)
        return LogoutPlan(ended: ended) { directory.providers[$0] }
    }

    /// The sessions `selector` picks, oldest first.
    func sessions(_ selector: SessionSelector) async throws(TesseraError) -> [Session] {
        try await stored { try await sessions.sessions(selector) }
    }

    /// v1 logout: ends the device's login and every decision under it, durably, before answering.
    /// The provider is not contacted: its own browser session ends only at its logout page.
    package func logout(device: DeviceKey) async throws(TesseraError) -> LogoutPlan {
        try await revoke(.deviceLogin(device))
    }
}
