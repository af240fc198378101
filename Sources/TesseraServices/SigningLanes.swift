import Dispatch
import Foundation
import Synchronization

/// Serial queues that media tokens are signed on, one per core, taken in turn.
///
/// An ES256 signature costs about 26 µs on one thread in a loop (`bench/micro`), but about
/// 65 µs a request inside the server, where the request's other work runs between signatures on
/// the same two cooperative threads (measured by signing with a constant instead:
/// `bench.py --only mediatoken` went from 196-228 to 133-141 µs of CPU a request). While a
/// cooperative thread signs, no other request's task runs on it. On a lane, signatures queued
/// by concurrent requests run back to back on one thread, and the cooperative threads go on with
/// the other requests: 10,800-13,200 media tokens/s against 7,400-10,500 without lanes, p99
/// 10-12 ms against 15-18 (`bench.py --no-peer --devices 100000 --only mediatoken`, runs
/// alternated). One lane per core, so that signing is not capped at one core's rate.
final class SigningLanes: Sendable {
    private let lanes: [DispatchQueue]
    private let turn = Atomic<Int>(0)

    init(count: Int = ProcessInfo.processInfo.activeProcessorCount) {
        lanes = (0..<max(1, count)).map { DispatchQueue(label: "tessera.signing.\($0)") }
    }

    /// `work` on the next lane; the caller resumes with its result.
    func run<T: Sendable>(_ work: @Sendable @escaping () throws -> T) async throws -> T {
        let lane = lanes[turn.add(1, ordering: .relaxed).oldValue % lanes.count]
        return try await withCheckedThrowingContinuation { continuation in
            lane.async { continuation.resume(with: Result(catching: work)) }
        }
    }
}
