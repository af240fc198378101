import Foundation
import Synchronization
import TesseraCore

/// Token buckets per key (tenant and client address), bounded in memory.
///
/// A bucket that has refilled to its burst is the same as no bucket, so when the table is full
/// those are dropped first (forgetting them never lets anyone through who would have been
/// refused), then the fullest ones.
public final class TokenBuckets: Sendable {
    struct Bucket { var tokens: Double; var updated: Date; var burst: Double; var rate: Double }
    let capacity: Int
    let clock: any TesseraClock
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(capacity: Int = 200_000, clock: any TesseraClock) {
        self.capacity = capacity
        self.clock = clock
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    public func take(_ key: String, policy: ThrottlePolicy) -> Bool {
        let now = clock.now()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: policy.burst, updated: now, burst: policy.burst, rate: policy.rate)
            bucket.tokens = min(policy.burst, bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * policy.rate)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            if buckets[key] == nil, buckets.count >= capacity { Self.evict(&buckets, now: now, keep: capacity / 2) }
            buckets[key] = bucket
            return allowed
        }
    }

    var count: Int { buckets.withLock { $0.count } }

    /// Drops full buckets, then the fullest: the emptiest are the ones that refuse someone.
    private static func evict(_ buckets: inout [String: Bucket], now: Date, keep: Int) {
        func level(_ b: Bucket) -> Double { min(b.burst, b.tokens + max(0, now.timeIntervalSince(b.updated)) * b.rate) }
        buckets = buckets.filter { level($0.value) < $0.value.burst }
        if buckets.count > keep {
            buckets = Dictionary(uniqueKeysWithValues: buckets.sorted { level($0.value) < level($1.value) }.prefix(keep).map { ($0.key, $0.value) })
        }
    }
}
