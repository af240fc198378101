import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// The router every front door adds its routes to. It also keeps which methods each path has,
/// so that a request with another method is answered 405 with `Allow` (Hummingbird's router
/// answers 404 with an empty body), and HEAD answers wherever GET does, without a body.
///
/// ```swift
/// let routes = Routes()
/// ClientlessV1(services: services).addRoutes(to: routes)
/// let responder = routes.buildResponder()   // 405s included
/// ```
final class Routes: RouterMethods {
    typealias Context = TesseraRequestContext
    let router = Router(context: TesseraRequestContext.self, options: .autoGenerateHeadEndpoints)
    /// Each path once, in the order added, with its methods.
    private var paths: [(path: RouterPath, methods: [HTTPRequest.Method])] = []

    @discardableResult
    func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == Context {
        router.on(path, method: method, responder: responder)
        if let index = paths.firstIndex(where: { $0.path.description == path.description }) {
            paths[index].methods.append(method)
        } else {
            paths.append((path, [method]))
        }
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }

    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    /// `helpURL`: what v1's 405 body names, as its other errors do (`server.help_url`).
    func buildResponder(helpURL: String) -> MethodCheckResponder {
        // A second router knows, for each path, every method it does not have.
        let others = Router(context: TesseraRequestContext.self)
        for (path, methods) in paths {
            let allowed = methods.contains(.get) && !methods.contains(.head) ? methods + [.head] : methods
            let names = Self.methods.filter(allowed.contains).map(\.rawValue)
            for method in Self.methods where !allowed.contains(method) {
                others.on(path, method: method) { _, _ -> Response in
                    throw MethodNotAllowed(allowed: names)
                }
            }
        }
        return MethodCheckResponder(routes: router.buildResponder(), others: others.buildResponder(), helpURL: helpURL)
    }

    struct MethodNotAllowed: Error { let allowed: [String] }
}

/// Answers what the routes answer; where they found no route, a path that has other methods
/// is answered 405 with `Allow` and the error body of the front door it belongs to.
public struct MethodCheckResponder: HTTPResponder {
    public typealias Context = TesseraRequestContext
    let routes: RouterResponder<Context>
    let others: RouterResponder<Context>
    let helpURL: String

    public func respond(to request: Request, context: Context) async throws -> Response {
        let response = try await routes.respond(to: request, context: context)
        // Hummingbird names the endpoint of a request no route took "NotFound"; a route's own
        // 404 (an unknown code, say) has its path there and is left alone.
        guard response.status == .notFound, context.endpointPath == nil || context.endpointPath == "NotFound" else { return response }
        do { _ = try await others.respond(to: request, context: context) } catch let refused as Routes.MethodNotAllowed {
            return Self.methodNotAllowed(refused.allowed, request: request, context: context, helpURL: helpURL)
        } catch {}
        return response
    }

    /// 405 in the dialect of the path: v1's error (JSON or XML as asked), OAuth's for DCR,
    /// a page for the browser's paths, plain text elsewhere.
    static func methodNotAllowed(_ allowed: [String], request: Request, context: Context, helpURL: String) -> Response {
        let error = TesseraError.methodNotAllowed(allowed: allowed)
        let path = request.uri.path
        var response: Response
        if path.hasPrefix("/api/v1/") || path.hasPrefix("/reggie/v1/") {
            let format = ClientlessV1.format(request: request, context: context, parameters: RequestParameters(query: request.uri.query))
            response = V1Rendering.error(error, format: format, helpURL: helpURL, trace: UUID.random().uuidString.lowercased())
        } else if path.hasPrefix("/api/v2/"), !path.hasPrefix("/api/v2/sdk/") {
            response = V2Errors.response(error, helpURL: helpURL, trace: context.requestID)
        } else if path.hasPrefix("/o/client/") {
            response = ClientRegistration.json(["error": "invalid_request", "error_description": error.description], status: .methodNotAllowed)
        } else {
            let text = V1Errors.entry(error).message
            response = Response(status: .methodNotAllowed, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        response.headers[.allow] = allowed.joined(separator: ", ")
        return response
    }
}
