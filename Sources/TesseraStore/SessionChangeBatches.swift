import Foundation
import Logging
import PostgresNIO
import Synchronization
import TesseraCore

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
/// Writes run in the order of their devices, so that two batches (of this instance or another)
/// take row locks in the same order. A write that meets a unique violation or a deadlock (another instance changed the
/// same device at the same moment) runs once more in a fresh savepoint, and then sees that change.
final class SessionChangeBatches: Sendable {
    private struct Job: Sendable {
        let device: DeviceKey
        /// Runs inside the shared transaction; `true` when it changed the device's sessions.
        let run: @Sendable (PostgresConnection) async throws -> Bool
        let failed: @Sendable (any Error) -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    private let client: PostgresClient
    private let peers: PeerInstances
    private let logger: Logger
    private let queue: BatchQueue<Job>

    /// `drainers` transactions run at once (each on its own connection): their statements
    /// overlap, and only their COMMITs take turns on the notification lock.
    init(client: PostgresClient, peers: PeerInstances, logger: Logger, batchLimit: Int = 64, drainers: Int = 4) {
        self.client = client
        self.peers = peers
        self.logger = logger
        queue = BatchQueue(limit: batchLimit, drainers: drainers)
    }

    /// Runs `body` in the next shared transaction. `body` returns its value and whether it
    /// changed the device's sessions (only then are the other instances told).
    func write<T: Sendable>(device: DeviceKey, _ body: @Sendable @escaping (PostgresConnection) async throws -> (T, changed: Bool)) async throws -> T {
        let outcome = Outcome<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                device: device,
                run: { db in
                    let (value, changed) = try await body(db)
                    outcome.set(.success(value))
                    return changed
                },
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
            let ordered = batch.sorted { ($0.device.tenantID, $0.device.deviceID) < ($1.device.tenantID, $1.device.deviceID) }
            let change = peers.prepareChange()
            do {
                let changed: [DeviceKey]
                do {
                    changed = try await runAll(ordered, announcing: change, inSavepoints: false)
                } catch let error as PostgresTransactionError where error.closureError is WriteFailed {
                    // A write failed and took the transaction with it: again, each write in its savepoint.
                    changed = try await runAll(ordered, announcing: change, inSavepoints: true)
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

    /// A write failed in a batch that ran without savepoints.
    private struct WriteFailed: Error {}

    /// The batch in one transaction, with one notification for the devices whose sessions changed.
    ///
    /// First without savepoints (most writes are one statement; a savepoint would double their
    /// round trips): if any write throws, the transaction is rolled back and the batch runs again
    /// with each write in its own savepoint, where a failure costs only that write.
    private func runAll(_ jobs: [Job], announcing change: PeerInstances.PreparedChange, inSavepoints: Bool) async throws -> [DeviceKey] {
        try await client.withTransaction(logger: logger) { db -> [DeviceKey] in
            var changed: [DeviceKey] = []
            for job in jobs {
                let changedThis: Bool
                if inSavepoints {
                    changedThis = try await run(job, inSavepointOn: db)
                } else {
                    do { changedThis = try await job.run(db) } catch { throw WriteFailed() }
                }
                if changedThis { changed.append(job.device) }
            }
            if !changed.isEmpty { try await change.announce(changed, on: db) }
            return changed
        }
    }

    /// One write in its own savepoint; a conflict with another write of the same device gets one retry.
    /// Savepoints are not released (a round trip each): the batch's COMMIT ends them all.
    private func run(_ job: Job, inSavepointOn db: PostgresConnection) async throws -> Bool {
        var attempt = 0
        while true {
            try await db.query("SAVEPOINT write", logger: logger)
            do {
                return try await job.run(db)
            } catch {
                try await db.query("ROLLBACK TO SAVEPOINT write", logger: logger)
                let state = (error as? PSQLError)?.serverInfo?[.sqlState]
                if attempt == 0, state == "23505" || state == "40P01" {
                    attempt += 1
                    continue
                }
                job.failed(PostgresStore.storeError(error, doing: "write"))
                return false
            }
        }
    }
}
