import Foundation
import TesseraCore
import TesseraStore

/// Sessions of devices: checks, decisions under them, logout.
extension Services {
    /// What a device has: a live session, an expired one, or none.
    enum SessionState: Sendable {
        case active(Session)
        case expired(Session)
        case none

        /// The live session, or the error of the endpoint that asked.
        func require(missing: Int, expired: Int) throws(TesseraError) -> Session {
            switch self {
            case .active(let session): return session
            case .expired: throw .authenticationExpired(status: expired)
            case .none: throw .notAuthenticated(status: missing)
            }
        }
    }

    /// The session of a device. A `deviceUser` that does not match the one the device signed
    /// in with counts as no session.
    func sessionState(device: DeviceKey, deviceUser: String?) async throws(TesseraError) -> SessionState {
        guard let session = try await session(device: device) else { return .none }
        if let deviceUser, deviceUser != session.deviceUser { return .none }
        return session.isExpired(at: clock.now()) ? .expired(session) : .active(session)
    }

    /// The device's session: from memory when it is there and live (or known absent), else from
    /// the store. Expired sessions are never kept in memory, so "expired" and "purged" answer as
    /// the store says.
    private func session(device: DeviceKey) async throws(TesseraError) -> Session? {
        guard store.memoryIsCurrent else { return try await stored { try await store.session(device: device) } }
        let now = clock.now()
        if let entry = hot.sessions.value(for: device) {
            guard let session = entry.session else { return nil }
            if !session.isExpired(at: now) { return session }
        }
        let ticket = hot.sessions.ticket(for: device)
        let session = try await stored { try await store.session(device: device) }
        if session.map({ !$0.isExpired(at: now) }) ?? true {
            hot.sessions.fill(device, .init(session: session), ticket: ticket)
        }
        return session
    }

    /// Runs a store operation that changes the device's sessions, then forgets what memory
    /// held for the device, whatever the outcome (a failed commit may still have happened).
    func changingSessions<T: Sendable>(of device: DeviceKey, _ operation: () async throws -> T) async throws(TesseraError) -> T {
        defer { hot.sessions.invalidate(device) }
        return try await stored(operation)
    }

    /// The decision stored for `resource` under `session` (live or not), from memory when it
    /// is there and live.
    func storedDecision(session: Session, resource: String) async throws(TesseraError) -> Decision? {
        guard store.memoryIsCurrent else { return try await stored { try await store.decision(sessionID: session.id, resource: resource) } }
        let key = HotReads.DecisionKey(sessionID: session.id, resource: resource)
        let now = clock.now()
        if let decision = hot.decisions.value(for: key), decision.expiresAt > now { return decision }
        let ticket = hot.decisions.ticket(for: key)
        let decision = try await stored { try await store.decision(sessionID: session.id, resource: resource) }
        if let decision, decision.expiresAt > now { hot.decisions.fill(key, decision, ticket: ticket) }
        return decision
    }

    /// Stores a new decision and keeps it in memory.
    func record(_ decision: Decision) async throws(TesseraError) {
        try await stored { try await store.upsert(decision) }
        guard store.memoryIsCurrent else { return }
        hot.decisions.set(.init(sessionID: decision.sessionID, resource: decision.resource), decision)
    }

    /// The session a completed registration code led to, if it is still the device's session.
    func sessionState(completedBy login: PendingLogin) async throws(TesseraError) -> SessionState {
        guard let id = login.completedSessionID,
              let session = try await stored({ try await store.session(id: id) })
        else { return .none }
        return session.isExpired(at: clock.now()) ? .expired(session) : .active(session)
    }

    /// The stored decision for `resource` under a live session.
    func decision(session: Session, resource: String) async throws(TesseraError) -> Decision {
        guard let decision = try await storedDecision(session: session, resource: resource) else {
            throw .authorizationNotFound
        }
        guard decision.expiresAt > clock.now() else { throw .authorizationExpired }
        return decision
    }

    /// Ends the device's session and every decision under it, durably, before answering.
    /// The provider is not contacted: its own browser session ends only at its logout page.
    func logout(device: DeviceKey) async throws(TesseraError) {
        _ = try await changingSessions(of: device) { try await store.revokeSessions(device: device) }
    }
}
