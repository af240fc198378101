import TesseraStore
import Synchronization

/// Admits store operations until the store closes, and lets `close()` wait for those already
/// admitted before the connections go.
///
/// Why: a PostgresClient whose `run()` is cancelled while a query is leasing its connection can
/// leave that query waiting forever (seen when a server stopped in the middle of its purge). So
/// the pool is shut down only once no operation is inside it; later calls fail at once.
final class OperationGate: Sendable {
    private struct State {
        var closing = false
        var admitted = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Operations admitted and not yet ended (holding or waiting for a pooled connection).
    var inFlight: Int { state.withLock { $0.admitted } }

    /// Runs `body` unless the store is closing, in which case it throws without running it.
    func run<T>(_ body: () async throws -> T) async throws -> T {
        try state.withLock { state in
            guard !state.closing else { throw StoreError("the store is closed") }
            state.admitted += 1
        }
        defer { leave() }
        return try await body()
    }

    private func leave() {
        let drained = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.admitted -= 1
            guard state.admitted == 0 else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for waiter in drained { waiter.resume() }
    }

    /// Admits nothing more; returns once every admitted operation has ended, or after `limit`
    /// (an operation stuck on an unreachable server must not hold the shutdown forever).
    func close(waitingAtMost limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.drain() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    private func drain() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state -> Bool in
                    state.closing = true
                    if state.admitted == 0 || Task.isCancelled { return true }
                    state.drained.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            // Ends every close() still waiting; each then stops the pool, which is idempotent.
            let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                defer { state.drained = [] }
                return state.drained
            }
            for waiter in waiting { waiter.resume() }
        }
    }
}
