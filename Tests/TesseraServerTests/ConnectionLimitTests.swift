#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// A TCP connection made by hand, to send half a request and see when the server hangs up.
final class RawConnection: Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TesseraProcessError(output: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw TesseraProcessError(output: "connect: errno \(errno)")
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.send(descriptor, &bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }

    /// Whether the server answered bytes sent now with a reset: seen by a read `pause` later
    /// (ECONNRESET; EPIPE once the server's end of stream was in, as Linux reports a reset then)
    /// or by the next send.
    func isReset(afterSending text: String, after pause: Duration = .milliseconds(300)) async -> Bool {
        send(text)
        try? await Task.sleep(for: pause)
        var buffer = [UInt8](repeating: 0, count: 4096)
        if recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT)) < 0, errno == ECONNRESET || errno == EPIPE { return true }
        var bytes = Array(text.utf8)
        return Glibc.send(descriptor, &bytes, bytes.count, Int32(MSG_NOSIGNAL)) < 0 && (errno == ECONNRESET || errno == EPIPE)
    }

    /// Reads what the server sent until it closes the connection or `limit` passes; nil if it is still open then.
    func waitForClose(within limit: Duration) async -> (at: ContinuousClock.Instant, received: String)? {
        let start = ContinuousClock.now
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - start < limit {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                return (ContinuousClock.now, String(decoding: received, as: UTF8.self))
            }
            if count > 0 { received += buffer[0..<count] } else { try? await Task.sleep(for: .milliseconds(20)) }
        }
        return nil
    }
}

/// Idle, half-sent and keep-alive connections are closed after their bound; connections past
/// the cap wait instead of exhausting descriptors.
@Suite(.serialized) struct ConnectionLimitTests {
    /// Far enough apart that a loaded machine cannot mistake one bound for another.
    static let bounds = ["--request-head-timeout", "1", "--request-body-timeout", "1", "--idle-timeout", "4"]

    static func launch(descriptorLimit: Int? = nil) async throws -> TesseraProcess {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-conn-\(UUID())").path
        return try await TesseraProcess.launch(dataDirectory: dataDirectory, arguments: bounds, descriptorLimit: descriptorLimit)
    }

    @Test(.timeLimit(.minutes(2))) func eachPhaseOfARequestHasItsBound() async throws {
        let server = try await Self.launch()
        defer { server.kill9() }
        let opened = ContinuousClock.now
        // Idle from the start: closed after the idle bound.
        let idle = try RawConnection(port: server.port)
        // A head that never ends, one header a little at a time (slowloris): closed after the head bound.
        let slow = try RawConnection(port: server.port)
        slow.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        // A body that never ends: closed after the body bound.
        let body = try RawConnection(port: server.port)
        body.send("POST /o/client/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"soft")
        // Keep-alive after a full request: answered, then closed after the idle bound.
        let keepAlive = try RawConnection(port: server.port)
        keepAlive.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")

        async let slowDripping: Void = {
            for _ in 0..<8 {
                try? await Task.sleep(for: .milliseconds(250))
                slow.send("X")
            }
        }()
        let slowClosed = try #require(await slow.waitForClose(within: .seconds(10)), "a never-ending head stayed open")
        #expect(slowClosed.at - opened < .milliseconds(3_500), "head bound: \(slowClosed.at - opened)")
        let bodyClosed = try #require(await body.waitForClose(within: .seconds(10)), "a never-ending body stayed open")
        #expect(bodyClosed.at - opened < .milliseconds(3_500), "body bound: \(bodyClosed.at - opened)")
        let idleClosed = try #require(await idle.waitForClose(within: .seconds(10)), "an idle connection stayed open")
        // The idle bound (4 s), not the head bound (1 s): no byte of a request ever came.
        #expect(idleClosed.at - opened > .milliseconds(3_900), "idle bound: \(idleClosed.at - opened)")
        let keptClosed = try #require(await keepAlive.waitForClose(within: .seconds(10)), "a keep-alive connection stayed open")
        #expect(keptClosed.received.hasPrefix("HTTP/1.1 200"))
        #expect(keptClosed.received.hasSuffix("ok"))
        _ = await slowDripping
    }

    @Test(.timeLimit(.minutes(2))) func aFloodPastTheDescriptorLimitLeavesHealthzAnswering() async throws {
        // 256 descriptors: the cap is 192 open connections; the flood is 300.
        let server = try await Self.launch(descriptorLimit: 256)
        defer { server.kill9() }
        var flood: [RawConnection] = []
        for _ in 0..<300 { flood.append(try RawConnection(port: server.port)) }
        // Once the idle bound has passed (4 s, and a second for 300 closes), the idle ones are
        // gone and /healthz answers within a second.
        try await Task.sleep(for: .seconds(5))
        let client = TestClient(host: "127.0.0.1", port: server.port, configuration: .init(timeout: .seconds(1)))
        client.connect()
        let started = ContinuousClock.now
        let reply = try await client.execute(.init("/healthz", method: .get))
        #expect(reply.status == .ok)
        #expect(ContinuousClock.now - started < .seconds(1))
        try? await client.shutdown()
        #expect(server.output.contains("connection cap reached"))
        #expect(server.output.contains("cap=192"))
        withExtendedLifetime(flood) {}
    }

    /// A keep-alive connection closed at shutdown is half-closed and read to its end, so that a
    /// request the client sent as the server closed it (the race of every keep-alive close) meets
    /// the end of the stream, not a reset the client could not tell from a request dropped in its
    /// handling. The lingering is bounded: the process still exits promptly.
    @Test(.timeLimit(.minutes(2))) func aConnectionClosedAtShutdownEndsWithoutAReset() async throws {
        let server = try await Self.launch()
        defer { server.kill9() }
        let connection = try RawConnection(port: server.port)
        connection.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try await Task.sleep(for: .milliseconds(300))
        let signalled = ContinuousClock.now
        server.process.send(SIGTERM)
        let closed = try #require(await connection.waitForClose(within: .seconds(5)), "the idle connection stayed open after SIGTERM")
        #expect(closed.received.hasPrefix("HTTP/1.1 200"))
        // The server has ended its side; a request sent now, as a client that had not yet seen
        // the end would send it, is read and dropped, not answered with a reset.
        #expect(await connection.isReset(afterSending: "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n") == false)
        let process = server.process
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "still running 10 s after SIGTERM")
        #expect(ContinuousClock.now - signalled < .seconds(10))
    }
}
