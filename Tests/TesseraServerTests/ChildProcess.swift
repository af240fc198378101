import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// A program the tests start: `tessera serve`, Glewlwyd, PHP's server, Python clients, pg_dump.
///
/// Started with swift-subprocess, not Foundation's `Process`: on Linux, Swift 6.3.1's
/// `Process.run()` copies whole `struct dirent`s while it lists `/proc/self/fd`, reading past
/// glibc's buffer, and crashed the suite now and then with hundreds of descriptors open
/// (swift-corelibs-foundation #5472, fixed after 6.3.1; seen on CI twice on 2026-12-03).
/// swift-subprocess closes the child's descriptors with `close_range` instead.
final class ChildProcess: Sendable {
    let pid: pid_t
    private let ending: Task<TerminationStatus, any Error>
    private let state: EndState

    /// How the process ended, once it has (written by the task that runs it).
    private final class EndState: Sendable {
        let status = Mutex<TerminationStatus?>(nil)
    }

    private init(pid: pid_t, ending: Task<TerminationStatus, any Error>, state: EndState) {
        self.pid = pid
        self.ending = ending
        self.state = state
    }

    /// Starts `executable` with its standard output and error appended to `log` (nil: discarded)
    /// and its standard input empty. `environment` is added to the test process's own unless
    /// `inherit` is false. In a process group of its own when `ownGroup` (its children can then be
    /// signalled with it).
    static func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:], inherit: Bool = true,
                      log: String? = nil, ownGroup: Bool = false) async throws -> ChildProcess {
        let path = FilePath(log ?? "/dev/null")
        let output = try FileDescriptor.open(path, .writeOnly, options: [.create, .append], permissions: .ownerReadWrite)
        let error: FileDescriptor
        do { error = try FileDescriptor.open(path, .writeOnly, options: [.create, .append], permissions: .ownerReadWrite) } catch {
            try? output.close()
            throw error
        }
        var options = PlatformOptions()
        if ownGroup { options.processGroupID = 0 }
        let configuration = Configuration(executable: .path(FilePath(executable)), arguments: Arguments(arguments),
                                          environment: Self.environment(environment, inherit: inherit), platformOptions: options)
        let (started, startedContinuation) = AsyncStream<pid_t>.makeStream()
        let state = EndState()
        let ending = Task<TerminationStatus, any Error> {
            defer { startedContinuation.finish() }
            do {
                // The body only hands the pid over: `run` returns when the process has ended.
                let result = try await Subprocess.run(configuration, input: .none,
                                                      output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                                                      error: .fileDescriptor(error, closeAfterSpawningProcess: true)) { execution in
                    startedContinuation.yield(execution.processIdentifier.value)
                }
                state.status.withLock { $0 = result.terminationStatus }
                return result.terminationStatus
            } catch {
                state.status.withLock { $0 = .exited(127) }
                throw error
            }
        }
        var iterator = started.makeAsyncIterator()
        guard let pid = await iterator.next() else {
            _ = try await ending.value
            throw ChildProcessError(message: "\(executable) ended before it started")
        }
        return ChildProcess(pid: pid, ending: ending, state: state)
    }

    var isRunning: Bool { state.status.withLock { $0 } == nil }

    /// Sends `signal` while the process runs.
    func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Sends `signal` to the process's group (started with `ownGroup`): its children too, even once
    /// it has ended (Linux reuses no process id that still names a group).
    func sendToGroup(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// Waits for the end; its exit code, or 128 + the signal that ended it.
    @discardableResult
    func exitCode() async -> Int32 {
        switch try? await ending.value {
        case .exited(let code)?: code
        case .signaled(let signal)?: 128 + signal
        case nil: 127
        }
    }

    /// Runs a program (found on PATH) to its end with `input` on its standard input; its exit
    /// code and standard output (with its error output when `withErrors`).
    static func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:],
                    withErrors: Bool = false) async throws -> (status: Int32, output: Data) {
        guard let name = arguments.first else { throw ChildProcessError(message: "nothing to run") }
        let executable: Executable = name.hasPrefix("/") ? .path(FilePath(name)) : .name(name)
        let configuration = Configuration(executable: executable, arguments: Arguments(Array(arguments.dropFirst())),
                                          environment: Self.environment(environment, inherit: true))
        let limit = 64 << 20
        let status: TerminationStatus
        let output: [UInt8]
        if withErrors {
            let result = try await Subprocess.run(configuration, input: .string(input ?? ""), output: .bytes(limit: limit), error: .combinedWithOutput)
            (status, output) = (result.terminationStatus, result.standardOutput)
        } else {
            let result = try await Subprocess.run(configuration, input: .string(input ?? ""), output: .bytes(limit: limit), error: .discarded)
            (status, output) = (result.terminationStatus, result.standardOutput)
        }
        switch status {
        case .exited(let code): return (code, Data(output))
        case .signaled(let signal): return (128 + signal, Data(output))
        }
    }

    /// ``run(_:input:environment:withErrors:)``'s output as text, requiring exit code 0.
    @discardableResult
    static func text(_ arguments: [String], input: String? = nil) async throws -> String {
        let (status, output) = try await run(arguments, input: input)
        guard status == 0 else { throw ChildProcessError(message: "\(arguments.joined(separator: " ")) exited with \(status)") }
        return String(decoding: output, as: UTF8.self)
    }

    private static func environment(_ added: [String: String], inherit: Bool) -> Environment {
        let keyed = Dictionary(uniqueKeysWithValues: added.map { (Environment.Key(stringLiteral: $0.key), $0.value) })
        return inherit ? .inherit.updating(keyed) : .custom(keyed)
    }
}

struct ChildProcessError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
