import Foundation
import Logging
import PostgresNIO
import Synchronization
import TesseraCore
import TesseraStore

/// The other Tessera instances on the same PostgreSQL database, and what this one may keep in
/// memory because of them.
///
/// The guarantee: once a change of a device's sessions has been answered (a logout's 204), no
/// instance answers from memory as if it had not happened. Three parts make it:
///
/// - **Announce.** The change carries a notification in its own transaction
///   (`pg_notify` on the schema's channel), so PostgreSQL delivers it exactly when it commits.
///   Every instance listens on one dedicated connection, drops the device from memory, and
///   acknowledges with a notification addressed to the origin.
/// - **Lease.** Each instance renews a lease row (`tessera_instance.lease_until`, on PostgreSQL's
///   clock) every second, through that same connection, together with a notification to itself.
///   It trusts its memory only until `lease` after it *sent* the last renewal it has *received*
///   back (less a margin). Notifications arrive in commit order, so receiving its own renewal
///   proves it has processed every change committed before it. If the connection drops, or the
///   instance stops draining notifications, its memory stops being trusted before its lease
///   row runs out; on reconnection it forgets everything before trusting memory again.
/// - **Wait.** After committing, the origin learns which instances may still trust their memory,
///   and waits until each has acknowledged or its lease has run out. Only then does the change
///   return. An instance killed without leaving therefore delays changes by at most `lease`.
///
///   Which instances: every renewal is also a notification, so an instance that has listened for
///   longer than a lease has heard every renewal that can still be trusted. When its listener
///   hears the origin's own change come back, it has heard every renewal committed before that
///   change, and an instance whose memory is trusted on a renewal committed after it has heard
///   the change first. So the set is taken from memory at that moment (deadline: when the
///   renewal was heard, plus the lease), with no query. In the first lease after (re)connecting,
///   or if the change does not come back within 2 s, the origin reads the lease rows instead,
///   after its commit. An instance that leaves says so (after it stopped trusting its memory),
///   and is no longer waited for.
final class PeerInstances: Sendable {
    let id = UUID.random()
    let channel: String
    static let lease: Int64 = 5_000
    static let margin: Duration = .seconds(1)
    static let beatInterval: Duration = .seconds(1)

    private let client: PostgresClient
    private let location: PostgresLocation
    private let logger: Logger
    private let state = Mutex(State())
    /// Nanoseconds after `origin` until which memory may answer; 0 when it may not.
    private let trustedUntil = Atomic<Int64>(0)
    private let origin = ContinuousClock.now

    private struct State {
        var beatsSent: [Int64: Int64] = [:]
        var nextBeat: Int64 = 0
        var nextChange: Int64 = 0
        var waits: [Int64: AckWait] = [:]
        var handler: (@Sendable ([MemoryKey]?) -> Void)?
        var leaving = false
        /// The task renewing the lease on the current listening connection.
        var renewals: Task<Void, Never>?
        /// When the current LISTEN took effect; nil while not listening.
        var listeningSince: ContinuousClock.Instant?
        /// The other instances heard renewing, and until when each may trust its memory at most.
        var renewed: [UUID: ContinuousClock.Instant] = [:]
    }

    init(location: PostgresLocation, client: PostgresClient, logger: Logger) {
        self.location = location
        self.client = client
        self.logger = logger
        channel = "tessera_" + location.schema
    }

    private var elapsed: Int64 {
        let (seconds, attoseconds) = origin.duration(to: .now).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var memoryIsCurrent: Bool { elapsed < trustedUntil.load(ordering: .acquiring) }

    func onInvalidation(_ handler: @escaping @Sendable ([MemoryKey]?) -> Void) {
        state.withLock { $0.handler = handler }
    }

    /// Stops trusting memory and tells the owner to forget everything. Changes still waiting to
    /// hear themselves back may never do so: they read the lease rows instead.
    private func distrust() {
        trustedUntil.store(0, ordering: .releasing)
        let (handler, waits) = state.withLock { state in
            state.listeningSince = nil
            return (state.handler, Array(state.waits.values))
        }
        handler?(nil)
        for wait in waits { wait.hear(nil) }
    }

    private var isListening: Bool { state.withLock { $0.listeningSince != nil } }

    /// What the listener knows of the other instances now, if it has listened for a whole lease.
    /// The other instances heard renewing their lease lately (for metrics).
    var instancesHeard: Int {
        let now = ContinuousClock.now
        return state.withLock { state in state.renewed.values.count { $0 > now } }
    }

    private func instancesHeardRenewing() -> [UUID: ContinuousClock.Instant]? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let since = state.listeningSince, now > since + .milliseconds(Self.lease + 50) else { return nil }
            state.renewed = state.renewed.filter { $0.value > now }
            return state.renewed
        }
    }

    // MARK: Joining and leaving

    /// Waits (a few seconds at most) until memory can be trusted, so that the first requests are
    /// already answered from memory; correctness does not depend on it.
    func join() async throws {
        for _ in 0..<50 where !memoryIsCurrent { try await Task.sleep(for: .milliseconds(100)) }
    }

    /// Stops answering from memory, then removes the lease and says so, so that nobody waits for
    /// this instance.
    func leave() async {
        let renewals = state.withLock { state in
            state.leaving = true
            return state.renewals
        }
        distrust()
        // A renewal in flight would put the lease row back after the DELETE below, and the other
        // instances would wait for this one until that lease ran out: let it end first. (Renewals
        // started from now on see `leaving` and do nothing.)
        if let renewals {
            renewals.cancel()
            _ = await PostgresStore.awaitEnd(of: renewals, within: .seconds(5))
        }
        let payload = String(decoding: (try? JSONEncoder().encode(Message(k: "l", from: id, n: 0))) ?? Data(), as: UTF8.self)
        _ = try? await client.query("""
            WITH gone AS (DELETE FROM tessera_instance WHERE id = \(id)) SELECT pg_notify(\(channel), \(payload))
            """, logger: logger)
    }

    // MARK: Changes

    struct Message: Codable {
        /// c: what memory may hold under some keys ended; a: acknowledgement; b: lease renewal; l: leaving.
        var k: String
        var from: UUID
        var to: UUID?
        var n: Int64
        /// For c: [tenant, device] pairs (``MemoryKey/deviceLogin(_:)``).
        var d: [[String]]?
        /// For c: the other keys (``MemoryKey/wire``).
        var x: [String]?
        /// For c: the change's last notification (only that one is acknowledged).
        var e: Bool?
        /// For b: the lease in milliseconds.
        var l: Int64?
    }

    /// A change about to be committed. Register first, so that no acknowledgement can arrive
    /// before anyone waits for it.
    func prepareChange() -> PreparedChange {
        let wait = AckWait()
        let number = state.withLock { state in
            state.nextChange += 1
            state.waits[state.nextChange] = wait
            return state.nextChange
        }
        return PreparedChange(peers: self, number: number, wait: wait)
    }

    final class PreparedChange: Sendable {
        let peers: PeerInstances
        let number: Int64
        let wait: AckWait

        init(peers: PeerInstances, number: Int64, wait: AckWait) {
            self.peers = peers
            self.number = number
            self.wait = wait
        }

        /// Inside the change's transaction: delivered to every instance if and when it commits.
        /// PostgreSQL takes payloads under 8,000 bytes: many devices go in several notifications,
        /// each acknowledged (the last one's acknowledgement implies the earlier ones').
        func announce(_ keys: [MemoryKey], on db: PostgresConnection) async throws {
            for payload in try payloads(for: keys) {
                try await db.query("SELECT pg_notify(\(peers.channel), \(payload))", logger: peers.logger)
            }
        }

        /// The notifications that announce `keys`, each under PostgreSQL's 8,000-byte limit.
        func payloads(for keys: [MemoryKey]) throws -> [String] {
            var payloads: [String] = []
            var devices: [[String]] = []
            var others: [String] = []
            var size = 0
            for (index, key) in keys.enumerated() {
                if case .deviceLogin(let device) = key {
                    devices.append([device.tenantID, device.deviceID])
                    size += device.tenantID.utf8.count + device.deviceID.utf8.count + 8
                } else {
                    let wire = key.wire
                    others.append(wire)
                    size += wire.utf8.count + 4
                }
                if size > 6_000 || index == keys.count - 1 {
                    let message = Message(k: "c", from: peers.id, n: number, d: devices.isEmpty ? nil : devices, x: others.isEmpty ? nil : others,
                                          e: index == keys.count - 1)
                    payloads.append(String(decoding: try JSONEncoder().encode(message), as: UTF8.self))
                    devices = []
                    others = []
                    size = 0
                }
            }
            return payloads
        }

        /// After the commit: returns once every other live instance has acknowledged, or its
        /// lease has run out.
        func awaitPeers() async throws {
            // Not listening: it would never come back.
            let limit = ContinuousClock.now + (peers.isListening ? .seconds(2) : .zero)
            while !wait.wasHeard, ContinuousClock.now < limit { await wait.nextEvent(orUntil: limit) }
            let deadlines: [UUID: ContinuousClock.Instant]
            if let heard = wait.heardInstances { deadlines = heard } else { deadlines = try await liveLeases() }
            while true {
                let acknowledged = wait.acknowledged
                let now = ContinuousClock.now
                guard let next = deadlines.filter({ !acknowledged.contains($0.key) && $0.value > now }).values.min() else { return }
                await wait.nextEvent(orUntil: next)
            }
        }

        /// The lease rows as PostgreSQL reads them now (after our commit), as deadlines on our clock.
        private func liveLeases() async throws -> [UUID: ContinuousClock.Instant] {
            var deadlines: [UUID: ContinuousClock.Instant] = [:]
            do {
                let rows = try await peers.client.query("""
                    SELECT id, lease_until - (extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM tessera_instance
                    WHERE id <> \(peers.id) AND lease_until > (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    """, logger: peers.logger)
                // Counted from now, after PostgreSQL read its clock: a little longer than the lease.
                let now = ContinuousClock.now
                for try await (instance, remaining) in rows.decode((UUID, Int64).self) {
                    deadlines[instance] = now + .milliseconds(remaining + 20)
                }
            } catch {
                throw PostgresStore.storeError(error, doing: "read of the live instances")
            }
            return deadlines
        }

        func abandon() {
            _ = peers.state.withLock { $0.waits.removeValue(forKey: number) }
        }
    }

    // MARK: Listening

    /// Keeps the listening connection up, renewing the lease through it; reconnects when it drops.
    func run() async {
        while !Task.isCancelled, !state.withLock({ $0.leaving }) {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try location.connectionConfiguration(), id: 1, logger: logger)
                do {
                    try await connection.listen(on: channel) { notifications in
                        // Changes committed before LISTEN took effect were never heard: forget all.
                        distrust()
                        let since = ContinuousClock.now
                        state.withLock { $0.listeningSince = since }
                        let renewals = Task { await self.renewLeases(on: connection) }
                        state.withLock { $0.renewals = renewals }
                        defer { renewals.cancel() }
                        for try await notification in notifications {
                            try await handle(notification.payload, on: connection)
                        }
                    }
                } catch {
                    if !Task.isCancelled { logger.warning("lost the PostgreSQL notification connection: \(PostgresStore.describe(error))") }
                }
                try? await connection.close()
            } catch {
                if !Task.isCancelled { logger.warning("cannot open the PostgreSQL notification connection: \(PostgresStore.describe(error))") }
            }
            distrust()
            try? await Task.sleep(for: .milliseconds(500))
        }
        distrust()
    }

    /// A renewal that fails is not retried: memory simply stops being trusted when the last one runs out.
    private func renewLeases(on connection: PostgresConnection) async {
        while !Task.isCancelled {
            let sent = elapsed
            let number: Int64? = state.withLock { state in
                guard !state.leaving else { return nil }
                state.nextBeat += 1
                state.beatsSent[state.nextBeat] = sent
                return state.nextBeat
            }
            guard let number else { return }
            let payload = String(decoding: (try? JSONEncoder().encode(Message(k: "b", from: id, n: number, l: Self.lease))) ?? Data(), as: UTF8.self)
            do {
                try await connection.query("""
                WITH lease AS (
                    INSERT INTO tessera_instance (id, lease_until) VALUES (\(id), (extract(epoch FROM clock_timestamp()) * 1000)::bigint + \(Self.lease))
                    ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until RETURNING id)
                SELECT pg_notify(\(channel), \(payload)) FROM lease
                """, logger: logger)
            } catch {
                logger.warning("cannot renew this instance's lease: \(PostgresStore.describe(error))")
            }
            try? await Task.sleep(for: Self.beatInterval)
        }
    }

    private func handle(_ payload: String, on connection: PostgresConnection) async throws {
        guard let message = try? JSONDecoder().decode(Message.self, from: Data(payload.utf8)) else {
            logger.warning("ignored a malformed notification on \(channel)")
            return
        }
        switch message.k {
        case "c" where message.from != id:
            let handler = state.withLock { $0.handler }
            var keys = (message.d ?? []).filter { $0.count == 2 }.map { MemoryKey.deviceLogin(DeviceKey(tenantID: $0[0], deviceID: $0[1])) }
            keys += (message.x ?? []).compactMap(MemoryKey.init(wire:))
            if !keys.isEmpty { handler?(keys) }
            guard message.e ?? true else { return }
            let ack = Message(k: "a", from: id, to: message.from, n: message.n)
            let ackPayload = String(decoding: try JSONEncoder().encode(ack), as: UTF8.self)
            try await connection.query("SELECT pg_notify(\(channel), \(ackPayload))", logger: logger)
        case "c" where message.e ?? true:
            // Our own change, back: every renewal committed before it has been heard.
            let heard = instancesHeardRenewing()
            state.withLock { $0.waits[message.n] }?.hear(heard)
        case "a" where message.to == id:
            state.withLock { $0.waits[message.n] }?.acknowledge(by: message.from)
        case "b" where message.from != id:
            // Trusted by that instance until at most a lease after it sent this, which was before now.
            let until = ContinuousClock.now + .milliseconds((message.l ?? Self.lease) + 20)
            state.withLock { $0.renewed[message.from] = until }
        case "l" where message.from != id:
            // It stopped trusting its memory before saying so: no change needs to wait for it.
            let waits = state.withLock { state in
                state.renewed.removeValue(forKey: message.from)
                return Array(state.waits.values)
            }
            for wait in waits { wait.acknowledge(by: message.from) }
        case "b" where message.from == id:
            let sent: Int64? = state.withLock { state in
                let sent = state.beatsSent[message.n]
                state.beatsSent = state.beatsSent.filter { $0.key > message.n }
                return state.leaving ? nil : sent
            }
            guard let sent else { return }
            let (marginSeconds, marginAtto) = Self.margin.components
            let until = sent + Self.lease * 1_000_000 - (marginSeconds * 1_000_000_000 + marginAtto / 1_000_000_000)
            var current = trustedUntil.load(ordering: .relaxed)
            while current < until {
                let (exchanged, original) = trustedUntil.compareExchange(expected: current, desired: until, ordering: .acquiringAndReleasing)
                if exchanged { break }
                current = original
            }
        default:
            break
        }
    }
}

/// What one change waits for after its commit: hearing itself back (with the instances heard
/// renewing until then), and the acknowledgements of the other instances.
final class AckWait: Sendable {
    private struct State {
        var acknowledged = Set<UUID>()
        /// Set once: nil inside when the listener could not tell (read the lease rows instead).
        var heard: [UUID: ContinuousClock.Instant]??
        var events = 0
        var continuation: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    var acknowledged: Set<UUID> { state.withLock { $0.acknowledged } }
    var wasHeard: Bool { state.withLock { $0.heard != nil } }
    var heardInstances: [UUID: ContinuousClock.Instant]? { state.withLock { $0.heard ?? nil } }

    func acknowledge(by instance: UUID) {
        record { $0.acknowledged.insert(instance).inserted }
    }

    func hear(_ instances: [UUID: ContinuousClock.Instant]?) {
        record { state in
            guard state.heard == nil else { return false }
            state.heard = .some(instances)
            return true
        }
    }

    private func record(_ change: (inout State) -> Bool) {
        let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard change(&state) else { return nil }
            state.events += 1
            defer { state.continuation = nil }
            return state.continuation
        }
        waiting?.resume()
    }

    /// Returns at the next acknowledgement or hearing, or at `deadline`.
    func nextEvent(orUntil deadline: ContinuousClock.Instant) async {
        let seen = state.withLock { $0.events }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.next(after: seen) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    private func next(after seen: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state -> Bool in
                    if state.events > seen || Task.isCancelled { return true }
                    state.continuation = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.continuation = nil }
                return state.continuation
            }
            waiting?.resume()
        }
    }
}

extension MemoryKey {
    /// The key in a notification (device logins travel as pairs, ``PeerInstances/Message/d``):
    /// `t:` and the digest in hex, `s:` and a session id, `c:` and a client id, `p:` a tenant and
    /// device (v2 profiles), `o:` a tenant and SSO key, `a:` a tenant and application (its RSA
    /// keys), each pair split by a newline.
    var wire: String {
        switch self {
        case .deviceLogin(let device): "d:" + device.tenantID + "\n" + device.deviceID
        case .token(let digest): "t:" + digest.bytes.map { String(format: "%02x", $0) }.joined()
        case .session(let id): "s:" + id.uuidString
        case .client(let id): "c:" + id
        case .deviceProfiles(let device): "p:" + device.tenantID + "\n" + device.deviceID
        case .ssoProfiles(let tenantID, let key): "o:" + tenantID + "\n" + key
        case .applicationKeys(let tenantID, let clientID): "a:" + tenantID + "\n" + clientID
        }
    }

    init?(wire: String) {
        let value = String(wire.dropFirst(2))
        switch wire.prefix(2) {
        case "d:", "p:", "o:", "a:":
            let parts = value.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            let (first, second) = (String(parts[0]), String(parts[1]))
            switch wire.prefix(2) {
            case "d:": self = .deviceLogin(DeviceKey(tenantID: first, deviceID: second))
            case "p:": self = .deviceProfiles(DeviceKey(tenantID: first, deviceID: second))
            case "a:": self = .applicationKeys(tenantID: first, clientID: second)
            default: self = .ssoProfiles(tenantID: first, key: second)
            }
        case "t:":
            var bytes = Data()
            var index = value.startIndex
            while index < value.endIndex {
                let next = value.index(index, offsetBy: 2, limitedBy: value.endIndex) ?? value.endIndex
                guard let byte = UInt8(value[index..<next], radix: 16) else { return nil }
                bytes.append(byte)
                index = next
            }
            self = .token(SecretDigest(bytes: bytes))
        case "s:":
            guard let id = UUID(uuidString: value) else { return nil }
            self = .session(id)
        case "c:": self = .client(value)
        default: return nil
        }
    }
}
