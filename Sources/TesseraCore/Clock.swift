import Foundation
import Synchronization

/// The source of "now" for every rule in the core; tests inject a ``ManualClock``.
public protocol TesseraClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemClock: TesseraClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to.
///
/// ```swift
/// let clock = ManualClock(Date(timeIntervalSince1970: 1_700_000_000))
/// clock.advance(by: 3600)
/// ```
public final class ManualClock: TesseraClock {
    private let current: Mutex<Date>
    public init(_ start: Date = Date()) { current = Mutex(start) }
    public func now() -> Date { current.withLock { $0 } }
    public func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

extension Date {
    /// Milliseconds since the Unix epoch, the unit the Adobe dialects use on the wire.
    public var epochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
    public init(epochMilliseconds: Int64) { self.init(timeIntervalSince1970: Double(epochMilliseconds) / 1000) }
    /// This instant without its fraction of a second: a JWT NumericDate in whole seconds.
    public var wholeSeconds: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
