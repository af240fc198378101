import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TesseraCore
import TesseraServices

/// One line per request at `info`: request id, method, route template, status, duration,
/// tenant and client address. The route is the template (`/reggie/v1/{requestor}/regcode/:code`),
/// never the path, and no header or parameter is written, so no code, token or secret reaches
/// the log. At `notice` and above nothing is measured at all.
public struct AccessLogResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == TesseraRequestContext {
    let inner: Inner
    let services: Services

    public func respond(to request: Request, context: TesseraRequestContext) async throws -> Response {
        guard services.logger.logLevel <= .info else { return try await inner.respond(to: request, context: context) }
        let started = ContinuousClock.now
        do {
            let response = try await inner.respond(to: request, context: context)
            log(request, context, status: response.status.code, requestID: response.headers[.requestID], since: started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            log(request, context, status: status, requestID: nil, since: started)
            throw error
        }
    }

    private func log(_ request: Request, _ context: TesseraRequestContext, status: Int, requestID: String?, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let route = context.endpointPath ?? "NotFound"
        let tenant = ThrottleMiddleware.tenantID(request, tokens: services.tokens).flatMap { services.directory.tenant($0)?.id } ?? "-"
        services.logger.info("request", metadata: [
            "request": .string(requestID ?? context.logger[metadataKey: LineLogHandler.requestIDKey]?.description ?? "-"),
            "method": .string(request.method.rawValue), "route": .string(route), "status": .stringConvertible(status),
            "ms": .string(String(format: "%.2f", milliseconds)), "tenant": .string(tenant),
            "client": .string(services.clientAddress(request, context)),
        ])
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
