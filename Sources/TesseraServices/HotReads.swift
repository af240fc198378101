import Foundation
import Synchronization
import TesseraCore

/// What the hot paths read from memory: each v1 device's login (or that it has none), sessions
/// found by token digest, and the decisions under live sessions.
///
/// Every cache is keyed by what front doors look up, and every revoke drops exactly the keys of
/// what it ended (``MemoryKey``): after the store has committed and before it answers, on this
/// instance through ``Services``, on the others through the store's notifications
/// (``MemoryCoherence``). See ``BoundedCache`` for why a read racing with that change cannot
/// put the old session back. Memory answers only while the store says it is current.
final class HotReads: Sendable {
    /// A session as the store last said; `nil` when there was none. It also remembers when its
    /// use was last recorded, so that a read answered from here costs one atomic load, and a
    /// write of the session's last-used time happens at most once a minute, off the request.
    final class SessionEntry: Sendable {
        let session: Session?
        /// Unix seconds of the last recorded use.
        let recordedUse: Atomic<Int64>

        init(session: Session?) {
            self.session = session
            recordedUse = Atomic(Int64(session?.lastUsedAt.timeIntervalSince1970 ?? 0))
        }
    }

    let deviceLogins: BoundedCache<DeviceKey, SessionEntry>
    let sessionsByToken: BoundedCache<SecretDigest, SessionEntry>
    /// Each device's REST v2 provider profiles (every application's; none is an empty list).
    let deviceProfiles: BoundedCache<DeviceKey, [SessionEntry]>
    /// The SSO profiles of each SSO key, by tenant and key.
    let ssoProfiles: BoundedCache<SSOLookup, [SessionEntry]>
    /// Per session, its decisions by resource: a revoke drops a session's decisions in one step.
    let decisions: BoundedCache<UUID, [String: Decision]>
    /// Per session, its metadata attributes as sealed for the programmer (RSA, a few hundred
    /// microseconds each): a profile read answers the same ciphertext while the session lives.
    let sealedAttributes: BoundedCache<UUID, [String: String]>
    /// Per session, what its upstream (OpenID Connect) provider said of the subscriber: stored
    /// once at sign-in and never changed, so kept by session id without invalidation.
    let upstreamClaims: BoundedCache<UUID, UpstreamClaims>
    static let pendingUseLimit = 500_000
    /// Uses waiting for ``takeUses()``.
    private let uses = Mutex<[SessionUse]>([])

    init(capacity: CacheCapacity) {
        deviceLogins = BoundedCache(capacity: capacity.sessions)
        sessionsByToken = BoundedCache(capacity: capacity.sessions)
        deviceProfiles = BoundedCache(capacity: capacity.sessions)
        ssoProfiles = BoundedCache(capacity: capacity.sessions)
        decisions = BoundedCache(capacity: capacity.decisions)
        sealedAttributes = BoundedCache(capacity: capacity.sessions)
        upstreamClaims = BoundedCache(capacity: capacity.sessions)
    }

    struct SSOLookup: Hashable, Sendable {
        let tenantID: String
        let key: String
    }

    func forgetEverything() {
        deviceLogins.invalidateAll()
        sessionsByToken.invalidateAll()
        deviceProfiles.invalidateAll()
        ssoProfiles.invalidateAll()
        decisions.invalidateAll()
        sealedAttributes.invalidateAll()
        upstreamClaims.invalidateAll()
    }

    /// Drops what is held under `keys` (and the decisions of the sessions held there).
    func invalidate(_ keys: [MemoryKey], bearers: BoundedCache<VerifiedBearer, AccessTokenClaims>) {
        for key in keys {
            switch key {
            case .deviceLogin(let device):
                if let id = deviceLogins.invalidate(device)?.session?.id { decisions.invalidate(id) }
            case .token(let digest):
                if let id = sessionsByToken.invalidate(digest)?.session?.id { decisions.invalidate(id) }
            case .session(let id):
                decisions.invalidate(id)
                sealedAttributes.invalidate(id)
            case .client(let id):
                bearers.invalidate { $1.sub.value == id }
            case .deviceProfiles(let device):
                for entry in deviceProfiles.invalidate(device) ?? [] { if let id = entry.session?.id { decisions.invalidate(id) } }
            case .ssoProfiles(let tenantID, let key):
                for entry in ssoProfiles.invalidate(SSOLookup(tenantID: tenantID, key: key)) ?? [] {
                    if let id = entry.session?.id { decisions.invalidate(id) }
                }
            case .applicationKeys: break  // held by ``ApplicationKeys``
            }
        }
    }

    /// Notes that `entry`'s session was used at `now`: queued for the store when its last
    /// recorded use is ``SessionUse/interval`` old.
    func noteUse(_ entry: SessionEntry, at now: Date) {
        guard let session = entry.session else { return }
        let seconds = Int64(now.timeIntervalSince1970)
        let recorded = entry.recordedUse.load(ordering: .relaxed)
        guard seconds - recorded >= Int64(SessionUse.interval) else { return }
        guard entry.recordedUse.compareExchange(expected: recorded, desired: seconds, ordering: .relaxed).exchanged else { return }
        // Bounded: if the store cannot take them, last-used times lag; memory does not grow.
        uses.withLock { pending in if pending.count < Self.pendingUseLimit { pending.append(SessionUse(sessionID: session.id, at: now)) } }
    }

    /// The uses noted since the last call.
    func takeUses() -> [SessionUse] {
        uses.withLock { pending in
            defer { pending = [] }
            return pending
        }
    }
}
