import TesseraStore
import GRDB
import Synchronization

/// Group commit for SQLite: the writes that arrive while a transaction commits wait together
/// and go in the next transaction, each in its own savepoint.
///
/// SQLite has one writer, and most of a small write's cost is the transaction around it (the
/// hop to the writer, BEGIN, the WAL append at COMMIT). Sharing a transaction among the writes
/// that queued up meanwhile keeps every guarantee of one transaction per write:
/// - a caller resumes only after the COMMIT that holds its write, so an answered logout is durable;
/// - a write that throws leaves nothing of itself behind and takes no other write with it (the
///   batch runs again with each write in a savepoint: see ``drain(_:)``);
/// - writes apply in arrival order, each seeing the ones before it;
/// - if the COMMIT fails, every write of the batch fails with it.
final class GroupCommit: Sendable {
    /// One queued write: runs inside the shared transaction (in a savepoint of its own when
    /// asked), returning whether it succeeded; then learns how the COMMIT went.
    private struct Job: Sendable {
        let run: @Sendable (Database, _ inSavepoint: Bool) -> Bool
        let finish: @Sendable ((any Error)?) -> Void
    }

    /// A write of the batch threw in the pass without savepoints.
    private struct WriteFailed: Error {}

    private let pool: DatabasePool
    private let metrics: StoreMetrics
    /// At most 256 writes share a transaction (bounds how long one COMMIT holds the rest).
    private let queue: BatchQueue<Job, Int>
    /// Runs on the writer's connection after each batch, once its callers have resumed and
    /// before the next batch begins (the store's WAL upkeep: see ``SQLiteStore``).
    private let betweenBatches: @Sendable (Database) -> Void

    init(pool: DatabasePool, metrics: StoreMetrics = .none, batchLimit: Int = 256,
         betweenBatches: @escaping @Sendable (Database) -> Void = { _ in }) {
        self.pool = pool
        self.metrics = metrics
        self.betweenBatches = betweenBatches
        queue = BatchQueue(limit: batchLimit)
    }

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { db, inSavepoint in
                    do {
                        var value: T?
                        if inSavepoint {
                            try db.inSavepoint {
                                value = try body(db)
                                return .commit
                            }
                        } else {
                            value = try body(db)
                        }
                        outcome.set(value.map { .success($0) } ?? .failure(StoreError("the write produced no value")))
                        return true
                    } catch {
                        outcome.set(.failure(error))
                        return false
                    }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.get() ?? .failure(StoreError("the write did not run")))
                    }
                })
            if queue.add(job) { pool.asyncWriteWithoutTransaction { db in self.drain(db) } }
        }
    }

    /// Runs batches until the queue is empty, on the writer's own queue: a batch that queued
    /// while the previous one committed starts without a hop, and callers resume from here.
    ///
    /// A batch runs first without savepoints (two statements a write, parsed each time, were a
    /// good part of a small write's cost). If a write throws, the transaction is rolled back and
    /// the batch runs again with each write in its own savepoint, where a failure costs only that
    /// write. A write therefore may run twice; only its last run counts, and stores nothing else.
    private func drain(_ db: Database) {
        while true {
            let batch = queue.next()
            if batch.isEmpty { return }
            metrics.recordBatch(batch.count)
            do {
                do {
                    try db.inTransaction {
                        for job in batch where !job.run(db, false) { throw WriteFailed() }
                        return .commit
                    }
                } catch is WriteFailed {
                    try db.inTransaction {
                        for job in batch { _ = job.run(db, true) }
                        return .commit
                    }
                }
                for job in batch { job.finish(nil) }
            } catch {
                for job in batch { job.finish(error) }
            }
            betweenBatches(db)
        }
    }
}
