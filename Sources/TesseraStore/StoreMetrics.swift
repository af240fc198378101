import CoreMetrics

/// What a store reports to metrics: how long its operations take and how many writes each
/// group commit carries. Made by the server from its metrics factory; ``none`` records nothing.
/// No label carries a value from a request: only the store's name and the operation's kind.
public final class StoreMetrics: Sendable {
    /// A read (a query outside a transaction).
    package let reads: CoreMetrics.Timer
    /// A write in a transaction of its own.
    package let writes: CoreMetrics.Timer
    /// PostgreSQL: a login, logout or revoke, from its call to its commit, its shared batch
    /// included (on SQLite these are writes: every write goes through the group commit).
    package let sessionChanges: CoreMetrics.Timer
    /// The writes one group commit (SQLite) or one shared transaction (PostgreSQL) carried.
    let batchSizes: Recorder
    /// PostgreSQL only: operations holding or waiting for a pooled connection.
    let operationsInFlight: Gauge?
    /// PostgreSQL only: other live instances this one hears from.
    let peerInstances: Gauge?

    public init(store: String, factory: any MetricsFactory) {
        func timer(_ operation: String) -> CoreMetrics.Timer {
            CoreMetrics.Timer(label: "tessera_store_operation_duration_seconds", dimensions: [("store", store), ("operation", operation)],
                              factory: factory)
        }
        reads = timer("read")
        writes = timer("write")
        sessionChanges = timer("session_change")
        batchSizes = Recorder(label: "tessera_store_batch_size", dimensions: [("store", store)], factory: factory)
        let shared = store == "postgres"
        operationsInFlight = shared ? Gauge(label: "tessera_postgres_operations_in_flight", dimensions: [], factory: factory) : nil
        peerInstances = shared ? Gauge(label: "tessera_postgres_peer_instances", dimensions: [], factory: factory) : nil
    }

    public static let none = StoreMetrics(store: "none", factory: NOOPMetricsHandler.instance)

    /// Runs `body`, recording its duration on `timer` whether it succeeds or throws.
    package func time<T>(_ timer: CoreMetrics.Timer, _ body: () async throws -> T) async rethrows -> T {
        let started = ContinuousClock.now
        defer { timer.recordInterval(since: started) }
        return try await body()
    }

    package func recordBatch(_ size: Int) { batchSizes.record(size) }
    package func setOperationsInFlight(_ count: Int) { operationsInFlight?.record(count) }
    package func setPeerInstances(_ count: Int) { peerInstances?.record(count) }
}

extension CoreMetrics.Timer {
    package func recordInterval(since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
