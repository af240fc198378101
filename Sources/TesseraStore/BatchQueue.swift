import Synchronization

/// Jobs that queue while a batch runs, taken together by at most `drainers` drainers at a time.
///
/// With `exclusiveBy`, jobs of one key never share a batch, nor run in two batches at once: a
/// job waits while its key is in a batch, until that batch's drainer calls ``finished(_:)``.
/// (Two transactions changing one device at once only wait on each other's row locks, and
/// with several rows each, can deadlock.)
///
/// Inlinable: it is generic and sits on every write's path in another module (each backend's),
/// where an unspecialized copy would look its generic metadata up on every call.
package final class BatchQueue<Job: Sendable, Key: Hashable & Sendable>: Sendable {
    @usableFromInline struct State {
        @usableFromInline var jobs: [Job] = []
        @usableFromInline var drainers = 0
        @usableFromInline var busy: Set<Key> = []
        @usableFromInline init() {}
    }

    @usableFromInline let state = Mutex(State())
    @usableFromInline let limit: Int
    @usableFromInline let maximumDrainers: Int
    @usableFromInline let key: (@Sendable (Job) -> Key)?

    @inlinable package init(limit: Int, drainers: Int = 1, exclusiveBy key: (@Sendable (Job) -> Key)? = nil) {
        self.limit = limit
        maximumDrainers = drainers
        self.key = key
    }

    /// Queues `job`; `true` when the caller must start one more drainer.
    @inlinable package func add(_ job: Job) -> Bool {
        state.withLock { state in
            state.jobs.append(job)
            guard state.drainers < maximumDrainers else { return false }
            state.drainers += 1
            return true
        }
    }

    /// The next batch (at most `limit` jobs, in arrival order); empty, and this drainer stops,
    /// when none can run (a job left waiting for its key is taken by the drainer that frees it).
    @inlinable package func next() -> [Job] {
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
    @inlinable package func finished(_ batch: [Job]) {
        guard let key else { return }
        state.withLock { state in
            for job in batch { state.busy.remove(key(job)) }
        }
    }
}

/// The result of one write, handed from the writer's thread to the caller's continuation.
package final class Outcome<T: Sendable>: Sendable {
    @usableFromInline let result = Mutex<Result<T, any Error>?>(nil)
    @inlinable package init() {}
    @inlinable package func set(_ value: Result<T, any Error>) { result.withLock { $0 = value } }
    @inlinable package func get() -> Result<T, any Error>? { result.withLock { $0 } }
}
