import Foundation
import Hummingbird
import Synchronization
import TesseraCore
import TesseraServices

/// Adobe's throttling: per client address, on the endpoints its throttling page lists; over the
/// limit, `429 Too Many Requests` with an HTML body and no `Retry-After`, as its edge answers.
struct ThrottleMiddleware: RouterMiddleware {
    typealias Context = TesseraRequestContext
    let services: Services
    let buckets: TokenBuckets
    /// When each throttled key was last logged: one notice a minute per key, not one per refusal.
    let logged = BoundedCache<String, Date>(capacity: 10_000)

    /// The throttled endpoints of adobe-pass.md section 12.
    static func isThrottled(_ path: String) -> Bool {
        let prefixes = ["/o/client/register", "/o/client/token", "/o/client/scopes", "/o/client/validate", "/api/v2/",
                        "/api/v1/tokens/usermetadata", "/api/v1/tokens/authn", "/api/v1/tokens/authz", "/api/v1/tokens/media",
                        "/api/v1/config/", "/api/v1/checkauthn", "/api/v1/logout", "/api/v1/authorize", "/api/v1/preauthorize",
                        "/api/v1/mediatoken", "/api/v1/authenticate/", "/api/v1/identities", "/adobe-services/config/"]
        if prefixes.contains(where: { path.hasPrefix($0) }) { return true }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // /reggie/v1/{requestor}/regcode[/{code}] and /api/v1/{requestor}/profile-requests/{mvpd}
        if parts.count >= 5, parts[1] == "reggie", parts[2] == "v1", parts[4] == "regcode" { return true }
        if parts.count >= 6, parts[1] == "api", parts[2] == "v1", parts[4] == "profile-requests" { return true }
        return false
    }

    /// The tenant a request names, in its path or its query, else the one its credential claims
    /// (as ``ClientlessV1`` chooses it).
    static func tenantID(_ request: Request, tokens: TokenAuthority) -> String? {
        let parts = request.uri.path.split(separator: "/")
        if parts.count >= 3, parts[0] == "reggie" { return String(parts[2]) }
        if parts.count >= 4, parts[0] == "api", parts[2] == "config" { return String(parts[3]) }
        // REST v2: /api/v2/{sp}/…, and /api/v2/authenticate|logout|sessions/{sp}/….
        if parts.count >= 4, parts[0] == "api", parts[1] == "v2" {
            return ["authenticate", "logout", "sessions"].contains(parts[2]) ? String(parts[3]) : String(parts[2])
        }
        let query = RequestParameters(query: request.uri.query)
        return query["requestor"] ?? query["requestor_id"]
            ?? ClientlessV1.claimedTenantID(authorization: request.headers.value(.authorization), tokens: tokens)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard services.configuration.throttling, Self.isThrottled(request.uri.path) else { return try await next(request, context) }
        let tenant = Self.tenantID(request, tokens: services.tokens).flatMap(services.directory.tenant)
        guard let policy = tenant.map({ $0.policies.throttle }) ?? ThrottlePolicy() else { return try await next(request, context) }
        let client = services.configuration.trustedProxies.clientAddress(peer: context.peerAddress, forwardedFor: request.headers.value(.forwardedFor))
        let key = (tenant?.id ?? "") + "|" + client
        guard buckets.take(key, policy: policy) else {
            services.metrics.throttled(door: FrontDoor.name(of: request.uri.path))
            let now = services.clock.now()
            if logged.value(for: key).map({ now.timeIntervalSince($0) >= 60 }) ?? true {
                logged.set(key, now)
                services.logger.notice("security: requests throttled (further refusals of this client logged once a minute)", metadata: [
                    "event": "throttled", "tenant": .string(tenant?.id ?? "-"), "client": .string(client)])
            }
            let html = "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>Tessera</center>\r\n</body>\r\n</html>\r\n"
            return Response(status: .tooManyRequests, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        return try await next(request, context)
    }
}
