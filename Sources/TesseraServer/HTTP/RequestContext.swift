import Foundation
import Hummingbird
import NIOCore

/// The wire format a v1 caller asked for.
public enum ResponseFormat: Sendable {
    case json, xml
}

/// Per-request context: the format chosen by a path suffix and the TCP peer.
public struct TesseraRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set when the path ended in `.json` or `.xml` (the suffix is stripped before routing).
    public var suffixFormat: ResponseFormat?
    /// The connection, so that the peer address is formatted only by the requests that use it.
    let channel: any Channel
    /// The request's id (``RequestIDs``), set by the outermost responder before anything runs.
    public var requestID = ""

    /// The TCP peer's IP address.
    public var peerAddress: String? { channel.remoteAddress?.ipAddress }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        suffixFormat = nil
    }
}
