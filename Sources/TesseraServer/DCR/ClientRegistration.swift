import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// Dynamic Client Registration: `POST /o/client/register`, `POST /o/client/token`, and the
/// JWKS that verifies the access tokens (`GET /o/client/jwks`, `/.well-known/jwks.json`).
/// Errors are RFC 7591/6749 shaped: `{"error": "<code>"}` with 400.
struct ClientRegistration: Sendable {
    let services: Services

    struct RegisterBody: Decodable {
        let software_statement: String?
        let redirect_uri: String?
    }

    struct Registered: Encodable {
        let client_id: String
        let client_secret: String
        let redirect_uris: [String]
        let grant_types: [String]
        let scopes: [String]
        let client_id_issued_at: Int64
    }

    struct TokenIssued: Encodable {
        let id: String
        let access_token: String
        let created_at: Int64
        let expires_in: Int
        let token_type: String
    }

    /// DCR's routes, in a group of their own behind Adobe's throttling (shared with v1).
    func addRoutes(to routes: Routes, throttle: ThrottleMiddleware) {
        let router = routes.group().add(middleware: throttle)
        router.post("/o/client/register") { request, context in
            await respond { () async throws(TesseraError) -> Response in
                guard request.headers.value(.contentType)?.lowercased().hasPrefix("application/json") == true else {
                    throw .clientRegistration(.invalidRequest)
                }
                try Self.checkDeviceInfo(request)
                let limit = RequestParameters.maximumBodySize
                guard let buffer = try? await request.body.collect(upTo: limit) else { throw .payloadTooLarge(limit: limit) }
                guard let body = try? JSONDecoder().decode(RegisterBody.self, from: Data(buffer: buffer)),
                      let statement = body.software_statement, !statement.isEmpty
                else { throw .clientRegistration(.invalidRequest) }
                let issued = try await services.registerClient(softwareStatement: statement, redirectURI: body.redirect_uri,
                                                               client: services.clientAddress(request, context))
                return Self.json(Registered(
                    client_id: issued.client.id, client_secret: issued.secret, redirect_uris: issued.client.redirectURIs,
                    grant_types: ["client_credentials"], scopes: ["api:client:v2"],
                    client_id_issued_at: Int64(issued.client.issuedAt.timeIntervalSince1970)), status: .created)
            }
        }
        router.post("/o/client/token") { request, _ in
            await respond { () async throws(TesseraError) -> Response in
                try Self.checkDeviceInfo(request)
                // The doc puts the fields in a form body, the OpenAPI in the query: both are read.
                let parameters = try await RequestParameters(request)
                let issued = try await services.issueAccessToken(
                    clientID: parameters["client_id"], clientSecret: parameters["client_secret"], grantType: parameters["grant_type"])
                return Self.json(TokenIssued(
                    id: issued.id.uuidString.lowercased(), access_token: issued.token, created_at: issued.createdAt.epochMilliseconds,
                    expires_in: Int(issued.lifetime), token_type: "bearer"), status: .created)
            }
        }
        let jwks: @Sendable (Request, TesseraRequestContext) async -> Response = { _, _ in Self.json(services.tokens.jwks, status: .ok) }
        router.get("/o/client/jwks", use: jwks)
        router.get("/.well-known/jwks.json", use: jwks)
    }

    /// `X-Device-Info` is optional here (yt-dlp omits it) but must be well-formed when sent.
    static func checkDeviceInfo(_ request: Request) throws(TesseraError) {
        if let header = request.headers.value(.deviceInfo), !header.isEmpty {
            do { _ = try DeviceInfo(encoded: header) } catch { throw .clientRegistration(.invalidRequest) }
        }
    }

    func respond(_ body: () async throws(TesseraError) -> Response) async -> Response {
        do { return try await body() } catch {
            struct ErrorBody: Encodable { let error: String; let error_description: String? }
            if case .clientRegistration(let e) = error {
                return Self.json(ErrorBody(error: e.rawValue, error_description: nil), status: .badRequest)
            }
            let status = Self.status(of: error)
            return Self.json(ErrorBody(error: status.code >= 500 ? "server_error" : "invalid_request", error_description: error.description),
                             status: status)
        }
    }

    /// DCR's catalogue: RFC 7591/6749 errors are 400; the others keep HTTP's meaning.
    static func status(of error: TesseraError) -> HTTPResponse.Status {
        switch error {
        case .payloadTooLarge: .contentTooLarge
        case .methodNotAllowed: .methodNotAllowed
        case .tooManyRequests: .tooManyRequests
        case .storageFailure, .metadataEncryptionFailed: .internalServerError
        case .missingCredentials, .invalidAccessToken, .accessTokenForAnotherTenant, .invalidLegacySignature: .unauthorized
        default: .badRequest
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: V1Rendering.jsonContentType, .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
