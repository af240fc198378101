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
        guard let session = try await stored({ try await store.session(device: device) }) else { return .none }
        if let deviceUser, deviceUser != session.deviceUser { return .none }
        return session.isExpired(at: clock.now()) ? .expired(session) : .active(session)
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
        guard let decision = try await stored({ try await store.decision(sessionID: session.id, resource: resource) }) else {
            throw .authorizationNotFound
        }
        guard decision.expiresAt > clock.now() else { throw .authorizationExpired }
        return decision
    }

    /// Ends the device's session and every decision under it, durably, before answering.
    /// The provider is not contacted: its own browser session ends only at its logout page.
    func logout(device: DeviceKey) async throws(TesseraError) {
        _ = try await stored { try await store.revokeSessions(device: device) }
    }
}
