import Synchronization

/// A bounded, sharded in-memory map for hot reads that must not wait on the store.
///
/// Each shard keeps two generations: lookups promote entries from the old one into the young
/// one, and when the young one is full the old one is dropped whole. That bounds the memory at
/// `capacity` entries and keeps what is read often (an approximate LRU without a linked list).
///
/// Filling the cache after a store read races with writers: a reader may fetch a row, a logout
/// may delete it and invalidate, and the reader may then put the stale row back. To rule that
/// out, a reader takes a ``Ticket`` *before* it reads the store and fills with it; any
/// invalidation of the shard in between makes the fill a no-op. Writers invalidate *after* their
/// transaction commits and before they answer, so a revoked entry is never served once the
/// revocation has been acknowledged.
package final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    package struct Ticket: Sendable {
        fileprivate let shard: Int
        fileprivate let generation: UInt64
    }

    private struct Shard {
        var young: [Key: Value] = [:]
        var old: [Key: Value] = [:]
        /// Bumped by every invalidation in the shard.
        var generation: UInt64 = 0
        /// Lookups answered and not, for metrics (counted under the lock the lookup takes anyway).
        var hits = 0
        var misses = 0
    }

    private final class ShardBox: Sendable {
        let state = Mutex(Shard())
    }

    private let shards: [ShardBox]
    /// Entries per generation in one shard.
    private let generationSize: Int

    /// - Parameter capacity: the most entries held at once (0 turns the cache off).
    package init(capacity: Int, shardCount: Int = 64) {
        let count = max(1, min(shardCount, max(1, capacity / 64)))
        shards = (0..<count).map { _ in ShardBox() }
        generationSize = capacity / count / 2
    }

    private func shardIndex(_ key: Key) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))
    }

    package func value(for key: Key) -> Value? {
        guard generationSize > 0 else { return nil }
        return shards[shardIndex(key)].state.withLock { shard in
            if let value = shard.young[key] {
                shard.hits &+= 1
                return value
            }
            guard let value = shard.old.removeValue(forKey: key) else {
                shard.misses &+= 1
                return nil
            }
            shard.hits &+= 1
            Self.insert(key, value, into: &shard, generationSize: generationSize)
            return value
        }
    }

    /// Lookups answered from memory and not, since the start (a cache turned off counts none).
    package var lookups: (hits: Int, misses: Int) {
        shards.reduce(into: (0, 0)) { total, box in
            box.state.withLock { shard in
                total.0 += shard.hits
                total.1 += shard.misses
            }
        }
    }

    /// Take this before reading the store for `key`; give it back to ``fill(_:_:ticket:)``.
    package func ticket(for key: Key) -> Ticket {
        let index = shardIndex(key)
        return Ticket(shard: index, generation: shards[index].state.withLock { $0.generation })
    }

    /// Stores what the store said, unless the shard was invalidated since `ticket` was taken.
    package func fill(_ key: Key, _ value: Value, ticket: Ticket) {
        guard generationSize > 0 else { return }
        shards[ticket.shard].state.withLock { shard in
            guard shard.generation == ticket.generation else { return }
            Self.insert(key, value, into: &shard, generationSize: generationSize)
        }
    }

    /// Stores a value that cannot be made stale by a concurrent writer.
    package func set(_ key: Key, _ value: Value) {
        guard generationSize > 0 else { return }
        shards[shardIndex(key)].state.withLock { shard in
            Self.insert(key, value, into: &shard, generationSize: generationSize)
        }
    }

    /// Changes what is held for `key` (nil: nothing), unless a ticket is given and the shard was
    /// invalidated since it was taken. Setting nil forgets the key.
    package func update(_ key: Key, ticket: Ticket? = nil, _ change: (inout Value?) -> Void) {
        guard generationSize > 0 else { return }
        let index = ticket?.shard ?? shardIndex(key)
        shards[index].state.withLock { shard in
            if let ticket, shard.generation != ticket.generation { return }
            var value = shard.young[key] ?? shard.old[key]
            change(&value)
            if let value {
                Self.insert(key, value, into: &shard, generationSize: generationSize)
            } else {
                shard.young.removeValue(forKey: key)
                shard.old.removeValue(forKey: key)
            }
        }
    }

    /// Forgets `key`, and voids every fill whose ticket was taken before. Returns what was held.
    @discardableResult
    package func invalidate(_ key: Key) -> Value? {
        shards[shardIndex(key)].state.withLock { shard in
            shard.generation &+= 1
            let young = shard.young.removeValue(forKey: key)
            let old = shard.old.removeValue(forKey: key)
            return young ?? old
        }
    }

    /// Forgets every entry `predicate` picks, voiding every outstanding ticket. It visits every
    /// entry: for rare events (a client revoked), not for a logout.
    package func invalidate(where predicate: (Key, Value) -> Bool) {
        for box in shards {
            box.state.withLock { shard in
                shard.generation &+= 1
                shard.young = shard.young.filter { !predicate($0.key, $0.value) }
                shard.old = shard.old.filter { !predicate($0.key, $0.value) }
            }
        }
    }

    /// Forgets everything (and voids every outstanding ticket).
    package func invalidateAll() {
        for box in shards {
            box.state.withLock { shard in
                shard.generation &+= 1
                shard.young.removeAll()
                shard.old.removeAll()
            }
        }
    }

    /// How many entries are held (for tests and metrics).
    package var count: Int {
        shards.reduce(0) { total, box in total + box.state.withLock { $0.young.count + $0.old.count } }
    }

    private static func insert(_ key: Key, _ value: Value, into shard: inout Shard, generationSize: Int) {
        if shard.young.count >= generationSize, shard.young[key] == nil {
            shard.old = shard.young
            shard.young = [:]
            shard.young.reserveCapacity(generationSize)
        }
        shard.young[key] = value
        shard.old.removeValue(forKey: key)
    }
}
