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
    /// At most 256 writes share a transaction (bounds how long one COMMIT holds the rest).
    private let queue: BatchQueue<Job, Int>

    init(pool: DatabasePool, batchLimit: Int = 256) {
        self.pool = pool
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
        }
    }
}

/// Jobs that queue while a batch runs, taken together by at most `drainers` drainers at a time.
///
/// With `exclusiveBy`, jobs of one key never share a batch, nor run in two batches at once: a
/// job waits while its key is in a batch, until that batch's drainer calls ``finished(_:)``.
/// (Two transactions changing one device at once only wait on each other's row locks, and
/// with several rows each, can deadlock.)
final class BatchQueue<Job: Sendable, Key: Hashable & Sendable>: Sendable {
    private struct State {
        var jobs: [Job] = []
        var drainers = 0
        var busy: Set<Key> = []
    }

    private let state = Mutex(State())
    private let limit: Int
    private let maximumDrainers: Int
    private let key: (@Sendable (Job) -> Key)?

    init(limit: Int, drainers: Int = 1, exclusiveBy key: (@Sendable (Job) -> Key)? = nil) {
        self.limit = limit
        maximumDrainers = drainers
        self.key = key
    }

    /// Queues `job`; `true` when the caller must start one more drainer.
    func add(_ job: Job) -> Bool {
        state.withLock { state in
            state.jobs.append(job)
            guard state.drainers < maximumDrainers else { return false }
            state.drainers += 1
            return true
        }
    }

    /// The next batch (at most `limit` jobs, in arrival order); empty, and this drainer stops,
    /// when none can run (a job left waiting for its key is taken by the drainer that frees it).
    func next() -> [Job] {
        state.withLock { state in
            var taken: [Job] = []
            if let key {
                var keys = Set<Key>()
                var waiting: [Job] = []
                for job in state.jobs {
                    let jobKey = key(job)
                    if taken.count < limit, !state.busy.contains(jobKey), keys.insert(jobKey).inserted {
                        taken.append(job)
                    } else {
                        waiting.append(job)
                    }
                }
                state.jobs = waiting
                state.busy.formUnion(keys)
            } else {
                taken = Array(state.jobs.prefix(limit))
                state.jobs.removeFirst(taken.count)
            }
            if taken.isEmpty { state.drainers -= 1 }
            return taken
        }
    }

    /// Frees the keys of a batch that `next()` returned (with `exclusiveBy`).
    func finished(_ batch: [Job]) {
        guard let key else { return }
        state.withLock { state in
            for job in batch { state.busy.remove(key(job)) }
        }
    }
}

/// The result of one write, handed from the writer's thread to the caller's continuation.
final class Outcome<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)
    func set(_ value: Result<T, any Error>) { result.withLock { $0 = value } }
    func get() -> Result<T, any Error>? { result.withLock { $0 } }
}
