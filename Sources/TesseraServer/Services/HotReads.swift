import Foundation
import TesseraCore

/// What the hot paths read from memory: each device's session (or that it has none) and the
/// decisions under live sessions.
///
/// Every change to a device's sessions (login, TempPass, logout) goes through ``Services``,
/// which invalidates the device here after the store has committed and before it answers; see
/// ``BoundedCache`` for why a read racing with that change cannot put the old session back.
/// With several instances on one PostgreSQL database, the store also reports other instances'
/// changes, and memory answers only while the store says it is current (``MemoryCoherence``).
/// Decisions need no invalidation: they are only consulted under a session just found live,
/// and a new session has a new id.
final class HotReads: Sendable {
    /// A device's session as the store last said; `nil` when it had none.
    struct SessionEntry: Sendable {
        let session: Session?
    }

    struct DecisionKey: Hashable, Sendable {
        let sessionID: UUID
        let resource: String
    }

    let sessions: BoundedCache<DeviceKey, SessionEntry>
    let decisions: BoundedCache<DecisionKey, Decision>

    init(capacity: CacheCapacity) {
        sessions = BoundedCache(capacity: capacity.sessions)
        decisions = BoundedCache(capacity: capacity.decisions)
    }

    func forgetEverything() {
        sessions.invalidateAll()
        decisions.invalidateAll()
    }
}
