import CoreMetrics
import Foundation
import Prometheus
import Synchronization
import TesseraCore
import TesseraStore

/// Tessera's metrics, through swift-metrics into a Prometheus registry of this server's own (not
/// the process-wide `MetricsSystem`: several servers in one process, as in the tests, each keep
/// theirs). `GET /metrics` answers ``exposition()``.
///
/// No label carries a value from a request: doors, route templates, methods, status classes,
/// dialects, outcomes, kinds and cache names are all from fixed sets. The metric objects are made
/// once per label set and kept, so a request costs a dictionary lookup and a histogram update.
public final class TesseraMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    /// What users and operators do, by outcome.
    public enum Event: String, Sendable {
        case login = "tessera_logins_total"
        case logout = "tessera_logouts_total"
        case revoke = "tessera_revokes_total"
    }

    private struct RequestKey: Hashable {
        let door: String, route: String, method: String, statusClass: Int
    }

    private struct EventKey: Hashable {
        let event: Event, dialect: String, outcome: String
    }

    private let requestTimers = MetricTable<RequestKey, CoreMetrics.Timer>()
    private let eventCounters = MetricTable<EventKey, CoreMetrics.Counter>()
    private let throttledCounters = MetricTable<String, CoreMetrics.Counter>()
    private let sessionGauges: [SessionKind: CoreMetrics.Gauge]
    private let deliveryCounters = MetricTable<String, CoreMetrics.Counter>()
    private let pendingDeliveries: CoreMetrics.Gauge
    /// Per cache, the lookups already added to its counters (they count up from the cache's own totals).
    private let exportedLookups = Mutex<[String: (hits: Int, misses: Int)]>([:])

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Most answers take well under a millisecond; the default buckets start at 5 ms.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5),
        ]
        factory.valueHistogramBuckets["tessera_store_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        self.factory = factory
        pendingDeliveries = CoreMetrics.Gauge(label: "tessera_logout_deliveries_pending", factory: factory)
        sessionGauges = Dictionary(uniqueKeysWithValues: SessionKind.allCases.map { kind in
            (kind, CoreMetrics.Gauge(label: "tessera_sessions", dimensions: [("kind", kind.rawValue)], factory: factory))
        })
    }

    /// The store's own metrics, into the same registry.
    public func storeMetrics(store: String) -> StoreMetrics { StoreMetrics(store: store, factory: factory) }

    /// One answered request. `route` is the matched template (never the path).
    package func request(door: String, route: String, method: String, status: Int, nanoseconds: Int64) {
        let key = RequestKey(door: door, route: route, method: method, statusClass: status / 100)
        requestTimers.metric(key) {
            CoreMetrics.Timer(label: "tessera_http_request_duration_seconds", dimensions: [
                ("door", door), ("route", route), ("method", method), ("status", "\(status / 100)xx"),
            ], factory: factory)
        }.recordNanoseconds(nanoseconds)
    }

    /// A login, logout or revoke of `dialect` (a front door's name) that ended in `outcome`.
    package func count(_ event: Event, dialect: String, outcome: String) {
        let key = EventKey(event: event, dialect: dialect, outcome: outcome)
        eventCounters.metric(key) {
            CoreMetrics.Counter(label: event.rawValue, dimensions: [("dialect", dialect), ("outcome", outcome)], factory: factory)
        }.increment()
    }

    /// A request refused by throttling at `door`.
    package func throttled(door: String) {
        throttledCounters.metric(door) {
            CoreMetrics.Counter(label: "tessera_throttled_requests_total", dimensions: [("door", door)], factory: factory)
        }.increment()
    }

    /// The sessions the store holds, by kind, as last counted.
    package func setSessionCounts(_ counts: [SessionKind: Int]) {
        for (kind, gauge) in sessionGauges { gauge.record(counts[kind] ?? 0) }
    }

    /// A logout delivery (`revoke`, `programmer`) that was `delivered`, `failed` (to be tried
    /// again) or `dropped` (nothing to deliver to, or given up).
    package func countDelivery(kind: String, outcome: String) {
        deliveryCounters.metric(kind + "\u{0}" + outcome) {
            CoreMetrics.Counter(label: "tessera_logout_deliveries_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: factory)
        }.increment()
    }

    /// How many logout deliveries wait in the store.
    package func setPendingDeliveries(_ count: Int) { pendingDeliveries.record(count) }

    /// Brings the cache counters up to `lookups` (the cache's totals since the start).
    package func cacheLookups(_ cache: String, _ lookups: (hits: Int, misses: Int)) {
        let (hits, misses) = exportedLookups.withLock { exported in
            let before = exported[cache] ?? (0, 0)
            exported[cache] = lookups
            return (lookups.hits - before.hits, lookups.misses - before.misses)
        }
        // Made here each time: the registry hands back the counter it holds for these labels.
        CoreMetrics.Counter(label: "tessera_cache_hits_total", dimensions: [("cache", cache)], factory: factory).increment(by: hits)
        CoreMetrics.Counter(label: "tessera_cache_misses_total", dimensions: [("cache", cache)], factory: factory).increment(by: misses)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.emitToString() }
}

/// Metric objects by label set, each made once: a request finds its timer with one locked lookup
/// instead of asking the registry (which compares names and labels) every time.
private final class MetricTable<Key: Hashable & Sendable, Metric: Sendable>: Sendable {
    private let metrics = Mutex<[Key: Metric]>([:])

    func metric(_ key: Key, make: () -> Metric) -> Metric {
        metrics.withLock { metrics in
            if let metric = metrics[key] { return metric }
            let metric = make()
            metrics[key] = metric
            return metric
        }
    }
}
