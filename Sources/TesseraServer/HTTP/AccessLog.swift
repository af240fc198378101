import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TesseraCore
import TesseraServices

/// Gives every request its id (``RequestIDs``: in the context, in every log line of the request,
/// in the answer's `X-Request-Id`), records it in the request metrics (front door, route
/// template, method, status class, duration), and writes one line per request at `info`:
/// request id, front door, method, route template, status, duration, tenant and client address.
/// The route is the template (`/reggie/v1/{requestor}/regcode/:code`), never the path, and no
/// header or parameter is written, so no code, token or secret reaches the log or a label.
public struct AccessLogResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == TesseraRequestContext {
    let inner: Inner
    let services: Services

    public func respond(to request: Request, context: TesseraRequestContext) async throws -> Response {
        var context = context
        let id = RequestIDs.id(sent: request.headers[.requestID])
        context.requestID = id
        context.logger[metadataKey: LineLogHandler.requestIDKey] = .string(id)
        let logs = services.logger.logLevel <= .info
        let started = ContinuousClock.now
        var response: Response
        // Log lines written by the services while the request runs carry its id too (through the
        // logging system's metadata provider, from this task-local value).
        do { response = try await RequestIDs.$current.withValue(id) { try await inner.respond(to: request, context: context) } } catch {
            // Hummingbird's own errors (an unknown path) get the id as well.
            guard let error = error as? any HTTPResponseError else {
                finish(request, context, status: 500, since: started, logs: logs)
                throw error
            }
            response = try error.response(from: request, context: context)
        }
        if response.headers[.requestID] == nil { response.headers[.requestID] = id }
        finish(request, context, status: response.status.code, since: started, logs: logs)
        return response
    }

    private func finish(_ request: Request, _ context: TesseraRequestContext, status: Int, since started: ContinuousClock.Instant, logs: Bool) {
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "NotFound"
        let door = FrontDoor.name(of: route)
        services.metrics.request(door: door, route: route, method: request.method.rawValue, status: status,
                                 nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        guard logs else { return }
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let tenant = ThrottleMiddleware.tenantID(request, tokens: services.tokens).flatMap { services.directory.tenant($0)?.id } ?? "-"
        services.logger.info("request", metadata: [
            "request": .string(context.requestID), "door": .string(door),
            "method": .string(request.method.rawValue), "route": .string(route), "status": .stringConvertible(status),
            "ms": .string(String(format: "%.2f", milliseconds)), "tenant": .string(tenant),
            "client": .string(services.clientAddress(request, context)),
        ])
    }
}

/// The front doors, by name: in log lines and metric labels.
enum FrontDoor {
    /// Which front door a route template (or a path) belongs to.
    static func name(of route: String) -> String {
        if route.hasPrefix("/api/v1/") || route.hasPrefix("/reggie/v1/") { return "clientless-v1" }
        if route.hasPrefix("/o/client/") || route.hasPrefix("/.well-known/") { return "dcr" }
        if route.hasPrefix("/v1/usg/") || route.hasPrefix("/v2/usg/") { return "meeting-usg" }
        if route.hasPrefix("/api/v2/sdk/") { return "oneaccess-sdk" }
        if route.hasPrefix("/api/v2/") || route.hasPrefix("/reset-tempass/") { return "rest-v2" }
        if route.hasPrefix("/admin/") || route == "/metrics" { return "admin" }
        if route == "/healthz" || route == "/readyz" || route == "/openapi.json" { return "health" }
        return route == "NotFound" ? "none" : "web"
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
