#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How long a connection may take over each part of a request, and how many connections may be
/// open at once. Without these an idle, half-sent or keep-alive connection stayed open for ever,
/// and enough of them (past the descriptor limit) stopped Tessera from accepting `/healthz`.
public struct ConnectionLimits: Sendable, Equatable {
    /// From the first byte of a request to the end of its head.
    public var headTimeout: Duration = .seconds(10)
    /// From the end of the head to the end of the body.
    public var bodyTimeout: Duration = .seconds(30)
    /// With no request under way: after connecting, and between keep-alive requests.
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections at most; nil: the descriptor limit less ``reserve(below:)``.
    public var maximumConnections: Int?

    public init() {}

    /// Descriptors kept free below the process's limit for the database, logs and files.
    public static func reserve(below limit: Int) -> Int { max(64, limit / 10) }

    /// The soft `RLIMIT_NOFILE` of this process.
    public static var descriptorLimit: Int {
        var limit = rlimit()
        #if canImport(Glibc)
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        #else
        guard getrlimit(RLIMIT_NOFILE, &limit) == 0 else { return 1024 }
        #endif
        return limit.rlim_cur >= rlim_t(Int32.max) ? 1_048_576 : Int(limit.rlim_cur)
    }

    /// The cap in force: ``maximumConnections``, else below the descriptor limit with a reserve.
    public var connectionCap: Int {
        if let maximumConnections { return maximumConnections }
        let limit = Self.descriptorLimit
        return max(16, limit - Self.reserve(below: limit))
    }
}

/// Accepts new connections only while fewer than `cap` are open, and says so in the log when
/// the cap is reached (once until the count falls below it again). Connections past the cap
/// wait in the listen backlog instead of failing on a descriptor Tessera does not have.
struct ConnectionCap: AvailableConnectionsDelegate {
    let cap: Int
    let logger: Logger
    var open = 0
    var full = false

    mutating func connectionOpened() {
        open += 1
        if open >= cap, !full {
            full = true
            logger.notice("connection cap reached: new connections wait until one closes", metadata: [
                "event": "connection-cap", "open": .stringConvertible(open), "cap": .stringConvertible(cap)])
        }
    }

    mutating func connectionClosed() {
        open -= 1
        if open < cap, full {
            full = false
            logger.info("connections below the cap again", metadata: ["open": .stringConvertible(open), "cap": .stringConvertible(cap)])
        }
    }

    func isAcceptingNewConnections() -> Bool { open < cap }
}

/// Closes a connection that takes too long over a request head, a body, or doing nothing
/// (``ConnectionLimits``). It sits after HTTP decoding; a small companion at the front of the
/// pipeline tells it when a request's first bytes arrive, which decoding does not show.
///
/// A phase change only notes its deadline: one timer per connection checks the deadline in
/// force when it fires and re-arms itself for it; it is moved only for an earlier deadline. So
/// a busy keep-alive connection schedules a timer about once per bound (seconds), not three
/// times per request.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum Phase { case idle, head, body, handling }

    let limits: ConnectionLimits
    private var phase = Phase.idle
    /// Requests whose head has arrived and whose response has not ended (pipelining).
    private var outstanding = 0
    /// When the current phase must be over; nil while a request is being handled.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    /// When ``timer`` fires.
    private var armedAt = NIODeadline.distantFuture
    /// Told that a bound's close is abrupt. Weak: the pipeline owns it.
    private weak var lingering: LingeringClose?

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        // The companion watches raw bytes before the HTTP decoder; the lingering close sits
        // nearest the socket, so that what arrives after a close is dropped before anything sees it.
        try? context.pipeline.syncOperations.addHandler(FirstByteWatcher(owner: self), position: .first)
        let lingering = LingeringClose()
        try? context.pipeline.syncOperations.addHandler(lingering, position: .first)
        self.lingering = lingering
        enter(.idle, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    /// Bytes arrived: a request has begun if none was under way.
    fileprivate func bytesArrived(context: ChannelHandlerContext) {
        if phase == .idle { enter(.head, context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            outstanding += 1
            enter(.body, context: context)
        case .body:
            break
        case .end:
            enter(.handling, context: context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            outstanding = max(0, outstanding - 1)
            if outstanding == 0, phase == .handling { enter(.idle, context: context) }
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func enter(_ next: Phase, context: ChannelHandlerContext) {
        phase = next
        switch next {
        case .idle: deadline = .now() + TimeAmount(limits.idleTimeout)
        case .head: deadline = .now() + TimeAmount(limits.headTimeout)
        case .body: deadline = .now() + TimeAmount(limits.bodyTimeout)
        case .handling: deadline = nil
        }
        // Re-armed only for a deadline earlier than the timer's: on a busy connection that
        // happens about once per timer period, not once per request.
        guard let deadline, timer == nil || deadline < armedAt else { return }
        timer?.cancel()
        arm(at: deadline, context: context)
    }

    private func arm(at when: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        armedAt = when
        timer = context.eventLoop.scheduleTask(deadline: when) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard let deadline = handler.deadline else { return } // handling: re-armed by the next phase
            if deadline <= .now() {
                // A connection past its bound is closed at once: lingering would hold a slot a
                // slow or idle client (or a flood of them) already held too long.
                handler.lingering?.nextCloseIsAbrupt = true
                context.close(promise: nil)
            } else {
                handler.arm(at: deadline, context: context)
            }
        }
    }
}

/// Tells ``RequestDeadlineHandler`` when bytes arrive, and passes them on untouched.
private final class FirstByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    /// In the same pipeline, on the same event loop; weak, as the pipeline may drop it first.
    private weak var owner: RequestDeadlineHandler?
    private var ownerContext: ChannelHandlerContext?

    init(owner: RequestDeadlineHandler) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let owner {
            if ownerContext == nil { ownerContext = try? context.pipeline.syncOperations.context(handler: owner) }
            if let ownerContext { owner.bytesArrived(context: ownerContext) }
        }
        context.fireChannelRead(data)
    }
}

/// Closes a connection without resetting it. A full close while the client may still be sending
/// (a keep-alive connection closed as idle at shutdown, just as the client sends its next
/// request; or after an answer that ends the connection) makes the kernel answer the unread
/// bytes with a reset, which the client cannot tell from a request dropped in the middle of its
/// handling. So a close first ends the output (FIN, once the pending writes are out), then
/// reads and drops what still arrives until the client closes its side or ``lingerTime`` has
/// passed, and only then closes. The client sees the end of the stream with no answer: its
/// request was not taken, which HTTP/1.1 clients know from any keep-alive connection closing,
/// and an idempotent one is retried. The closes of ``RequestDeadlineHandler``'s bounds stay abrupt.
final class LingeringClose: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    /// How long a closing connection waits for the client to close its side.
    static let lingerTime = TimeAmount.seconds(2)

    private enum State { case open, lingering(EventLoopPromise<Void>?), closed }
    private var state = State.open
    private var timer: Scheduled<Void>?
    private var lingering: Bool { if case .lingering = state { true } else { false } }
    /// Set just before a close that must not linger.
    var nextCloseIsAbrupt = false

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, case .open = state, context.channel.isActive, !nextCloseIsAbrupt else {
            context.close(mode: mode, promise: promise)
            return
        }
        state = .lingering(promise)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: Self.lingerTime) {
            let (handler, context) = loopBound.value
            handler.finish(context)
        }
        // A transport that cannot half-close (or a socket already gone) closes at once.
        context.close(mode: .output).whenFailure { _ in
            let (handler, context) = loopBound.value
            handler.finish(context)
        }
    }

    private func finish(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard case .lingering(let promise) = state else { return }
        state = .closed
        context.close(mode: .all, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !lingering else { return }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if lingering, let event = event as? ChannelEvent, event == .inputClosed {
            finish(context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if case .lingering(let promise) = state { promise?.succeed(()) }
        state = .closed
        context.fireChannelInactive()
    }
}
