import Foundation
import Synchronization
import TesseraCore

/// Counts failures (wrong codes, wrong passwords) per client within a window and says when a
/// client has had enough. Bounded: past `capacity` keys it forgets finished windows first,
/// then the oldest ones.
public final class AttemptLimiter: Sendable {
    struct Window { var start: Date; var failures: Int }
    let limit: Int
    let window: TimeInterval
    let capacity: Int
    let clock: any TesseraClock
    private let windows = Mutex<[String: Window]>([:])

    public init(limit: Int, window: TimeInterval, capacity: Int = 100_000, clock: any TesseraClock) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self.clock = clock
    }

    /// Whether `key` may try again now.
    public func allows(_ key: String) -> Bool {
        let now = clock.now()
        return windows.withLock { windows in
            guard let w = windows[key], now.timeIntervalSince(w.start) < window else { return true }
            return w.failures < limit
        }
    }

    /// How many more failures `key` may have before it is stopped.
    public func remaining(_ key: String) -> Int {
        let now = clock.now()
        return windows.withLock { windows in
            guard let w = windows[key], now.timeIntervalSince(w.start) < window else { return limit }
            return max(0, limit - w.failures)
        }
    }

    public func recordFailure(_ key: String) {
        let now = clock.now()
        windows.withLock { windows in
            if var w = windows[key], now.timeIntervalSince(w.start) < window {
                w.failures += 1
                windows[key] = w
            } else {
                if windows.count >= capacity { Self.evict(&windows, now: now, window: window, keep: capacity / 2) }
                windows[key] = Window(start: now, failures: 1)
            }
        }
    }

    /// Forgets `key`'s failures.
    public func reset(_ key: String) {
        windows.withLock { _ = $0.removeValue(forKey: key) }
    }

    private static func evict(_ windows: inout [String: Window], now: Date, window: TimeInterval, keep: Int) {
        windows = windows.filter { now.timeIntervalSince($0.value.start) < window }
        if windows.count > keep {
            let newest = windows.sorted { $0.value.start > $1.value.start }.prefix(keep)
            windows = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
        }
    }
}
