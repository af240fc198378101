import Hummingbird

/// The suffixes ``FormatSuffixResponder`` strips (made once, not per request: the responder is generic,
/// so it cannot hold them in a static property).
private let formatSuffixes: [(String, ResponseFormat)] = [(".json", .json), (".xml", .xml)]

/// Strips a `.json` / `.xml` suffix from the last path segment of a v1 path (`/api/v1/…`,
/// `/reggie/v1/…`) before routing, remembering the format, so `/api/v1/checkauthn.json` reaches
/// the `checkauthn` route. Other paths (`/.well-known/jwks.json`) are left alone.
public struct FormatSuffixResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == TesseraRequestContext {
    let inner: Inner
    public init(inner: Inner) { self.inner = inner }

    public func respond(to request: Request, context: TesseraRequestContext) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/v1/") || path.hasPrefix("/reggie/v1/") else { return try await inner.respond(to: request, context: context) }
        var context = context
        for (suffix, format) in formatSuffixes where path.hasSuffix(suffix) && path.count > suffix.count {
            context.suffixFormat = format
            var head = request.head
            let stripped = String(path.dropLast(suffix.count))
            head.path = stripped + (request.uri.query.map { "?" + $0 } ?? "")
            return try await inner.respond(to: Request(head: head, body: request.body), context: context)
        }
        return try await inner.respond(to: request, context: context)
    }
}
