import Foundation
import Logging
import PostgresNIO
import Synchronization
import TesseraCore
import TesseraStore

/// Group commit for the PostgreSQL writes that change a device's sessions (login, TempPass start,
/// logout): the ones that arrive while a transaction commits share the next one, each in its own
/// savepoint, with one notification for all their devices.
///
/// Why: a transaction that notifies holds PostgreSQL's cluster-wide notification lock through its
/// COMMIT, WAL flush included, so notifying transactions commit one at a time. One transaction
/// per logout capped the write cycle near 1,000 transactions a second; sharing them lifts that
/// cap by the batch size. The guarantees of one transaction per write stay, as in ``GroupCommit``:
/// - a caller resumes only after the COMMIT that holds its write, and after every live instance
///   has acknowledged the batch's notification (``PeerInstances``);
/// - a write that throws rolls back its own savepoint only; the others are unaffected;
/// - if the COMMIT fails, every write of the batch fails with it.
///
/// A batch of plain logouts and logins runs as one statement (``PlainBatch``): one round trip,
/// committed on its own. Otherwise, or when that statement fails, the batch runs in a transaction,
/// one write after another in the order of their devices; a write that meets a unique violation
/// or a deadlock (another instance changed the same device at the same moment) runs again in a
/// fresh savepoint, holding the device's lock, a few times at most. Within an instance, a device is in one batch at a time.
final class SessionChangeBatches: Sendable {
    /// A v1 logout or login (of a device login), as data, so that a batch of them can run as one statement.
    enum PlainChange: Sendable {
        case revoke(DeviceKey)
        case replace(Session, creatingTrial: TemporaryAccess?)
    }

    private struct Job: Sendable {
        let device: DeviceKey
        /// Set for logouts and logins: the batch may then run as one statement.
        let plain: PlainChange?
        /// Runs inside the shared transaction; returns the memory keys it changed (none: nothing changed).
        let run: @Sendable (PostgresConnection) async throws -> [MemoryKey]
        /// For a plain change done by the batch's single statement: the sessions it removed.
        let settle: @Sendable (_ removed: [Session]) -> Void
        let failed: @Sendable (any Error) -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    private let client: PostgresClient
    private let peers: PeerInstances
    private let logger: Logger
    private let metrics: StoreMetrics
    private let queue: BatchQueue<Job, DeviceKey>

    /// `drainers` batches run at once (each on its own connection). Their COMMITs take turns on
    /// the notification lock, so more drainers mostly make smaller batches: 2 measured best.
    init(client: PostgresClient, peers: PeerInstances, logger: Logger, metrics: StoreMetrics = .none, batchLimit: Int = 64, drainers: Int = 2) {
        self.metrics = metrics
        self.client = client
        self.peers = peers
        self.logger = logger
        queue = BatchQueue(limit: batchLimit, drainers: drainers, exclusiveBy: { $0.device })
    }

    /// v1 logout: removes the device's login (and its decisions); returns what went.
    func revoke(_ device: DeviceKey, logger: Logger) async throws -> [Session] {
        try await enqueue(device: device, plain: .revoke(device), settle: { $0 }) { db in
            var rows: [String] = []
            for try await row in try await db.execute(RevokeDevice(device: device), logger: logger) { rows.append(row) }
            let removed = try SessionRowJSON.sessions(rows)
            return (removed, keys: removed.isEmpty ? [] : [.deviceLogin(device)] + removed.flatMap(\.memoryKeys))
        }
    }

    /// v1 login: `session` replaces the device's login, and a new TempPass trial is stored with it.
    func replace(_ session: Session, creatingTrial trial: TemporaryAccess?, logger: Logger) async throws -> [Session] {
        let device = session.device!
        return try await enqueue(device: device, plain: .replace(session, creatingTrial: trial), settle: { $0 }) { db in
            var rows: [String] = []
            if let trial {
                for try await row in try await db.execute(ReplaceSessionCreatingTrial(session: session, trial: trial), logger: logger) { rows.append(row) }
            } else {
                for try await row in try await db.execute(ReplaceSession(session: session), logger: logger) { rows.append(row) }
            }
            let removed = try SessionRowJSON.sessions(rows)
            return (removed, keys: [.deviceLogin(device)] + removed.flatMap(\.memoryKeys))
        }
    }

    /// Runs `body` in the next shared transaction, apart from other writes of `scope` (a device,
    /// or a key of its own). `body` returns its value and the memory keys it changed (only when
    /// there are some are the other instances told).
    func write<T: Sendable>(scope: DeviceKey, _ body: @Sendable @escaping (PostgresConnection) async throws -> (T, keys: [MemoryKey])) async throws -> T {
        try await enqueue(device: scope, plain: nil, settle: nil, body)
    }

    private func enqueue<T: Sendable>(device: DeviceKey, plain: PlainChange?, settle: (@Sendable ([Session]) -> T)?,
                                      _ body: @Sendable @escaping (PostgresConnection) async throws -> (T, keys: [MemoryKey])) async throws -> T {
        let outcome = Outcome<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                device: device,
                plain: settle == nil ? nil : plain,
                run: { db in
                    let (value, keys) = try await body(db)
                    outcome.set(.success(value))
                    return keys
                },
                settle: { removed in if let settle { outcome.set(.success(settle(removed))) } },
                failed: { error in outcome.set(.failure(error)) },
                finish: { error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else {
                        continuation.resume(with: outcome.get() ?? .failure(StoreError("the write did not run")))
                    }
                })
            if queue.add(job) { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = queue.next()
            if batch.isEmpty { return }
            metrics.recordBatch(batch.count)
            // Its devices may go in the next batch once this one has committed (or failed).
            defer { queue.finished(batch) }
            let ordered = batch.sorted { ($0.device.tenantID, $0.device.deviceID) < ($1.device.tenantID, $1.device.deviceID) }
            let change = peers.prepareChange()
            do {
                var changed: [MemoryKey]
                let plain = ordered.compactMap(\.plain)
                if plain.count == ordered.count, let statement = PlainBatch(plain) {
                    do {
                        let (removed, announced) = try await run(statement, announcing: change)
                        for (index, job) in ordered.enumerated() { job.settle(removed[index]) }
                        changed = announced ? statement.devices.map(MemoryKey.deviceLogin) : []
                    } catch let error as PSQLError where error.serverInfo != nil {
                        // A write of the batch failed (a conflict, a taken trial): one by one instead.
                        changed = try await runAll(ordered, announcing: change, inSavepoints: true)
                    }
                } else {
                    do {
                        changed = try await runAll(ordered, announcing: change, inSavepoints: false)
                    } catch let error as PostgresTransactionError where error.closureError is WriteFailed {
                        // A write failed and took the transaction with it: again, each write in its savepoint.
                        changed = try await runAll(ordered, announcing: change, inSavepoints: true)
                    }
                }
                // The next batch may commit while this one waits for the other instances.
                Task {
                    defer { change.abandon() }
                    do {
                        if !changed.isEmpty { try await change.awaitPeers() }
                        for job in batch { job.finish(nil) }
                    } catch {
                        for job in batch { job.finish(error) }
                    }
                }
            } catch {
                change.abandon()
                let failure = PostgresStore.storeError(error, doing: "write")
                for job in batch { job.finish(failure) }
            }
        }
    }

    /// A batch of logouts and logins as one statement, committed on its own (no BEGIN, no COMMIT:
    /// one round trip for the whole batch), with the notification in the same statement.
    /// Returns the sessions each change removed (by position), and whether the other instances were told.
    /// The other instances hear the batch's devices; each drops its memory of the login it held
    /// for a device, decisions included (``MemoryKey/deviceLogin(_:)``).
    private func run(_ batch: PlainBatch, announcing change: PeerInstances.PreparedChange) async throws -> (removed: [[Session]], announced: Bool) {
        let query = try batch.query(channel: peers.channel, payloads: change.payloads(for: batch.devices.map(MemoryKey.deviceLogin)))
        return try await client.withConnection { db in
            var result: (removed: [[Session]], announced: Bool) = (batch.devices.map { _ in [] }, false)
            let rows = try await db.query(query, logger: logger)
            for try await (gone, _, _, notified) in rows.decode(([String], Int64, Int64, Int64).self) {
                var byDevice: [DeviceKey: [Session]] = [:]
                for session in try SessionRowJSON.sessions(gone) { if let device = session.device { byDevice[device, default: []].append(session) } }
                result = (batch.devices.map { byDevice[$0] ?? [] }, notified > 0)
            }
            return result
        }
    }

    /// A write failed in a batch that ran without savepoints.
    private struct WriteFailed: Error {}

    /// The batch in one transaction, with one notification for the devices whose sessions changed.
    ///
    /// First without savepoints (most writes are one statement; a savepoint would double their
    /// round trips): if any write throws, the transaction is rolled back and the batch runs again
    /// with each write in its own savepoint, where a failure costs only that write.
    private func runAll(_ jobs: [Job], announcing change: PeerInstances.PreparedChange, inSavepoints: Bool) async throws -> [MemoryKey] {
        try await client.withTransaction(logger: logger) { db -> [MemoryKey] in
            var changed: [MemoryKey] = []
            for job in jobs {
                if inSavepoints {
                    changed += try await run(job, inSavepointOn: db)
                } else {
                    do { changed += try await job.run(db) } catch { throw WriteFailed() }
                }
            }
            if !changed.isEmpty { try await change.announce(changed, on: db) }
            return changed
        }
    }

    /// One write in its own savepoint. A conflict with another instance's write of the same device
    /// is retried (each statement sees what committed before it), a few times at most. A retry
    /// first takes the device's lock in a statement of its own (``DeviceLocks``): once it holds
    /// it, no other instance can insert a session for the device until this batch commits, and
    /// the write's own statement sees every session committed before.
    /// Savepoints are not released (a round trip each): the batch's COMMIT ends them all.
    private func run(_ job: Job, inSavepointOn db: PostgresConnection) async throws -> [MemoryKey] {
        var attempt = 0
        while true {
            try await db.query("SAVEPOINT write", logger: logger)
            do {
                if attempt > 0 { _ = try await db.execute(DeviceLock(device: job.device), logger: logger) }
                return try await job.run(db)
            } catch {
                try await db.query("ROLLBACK TO SAVEPOINT write", logger: logger)
                let state = (error as? PSQLError)?.serverInfo?[.sqlState]
                if attempt < 4, state == "23505" || state == "40P01" {
                    attempt += 1
                    continue
                }
                job.failed(PostgresStore.storeError(error, doing: "write"))
                return []
            }
        }
    }
}
