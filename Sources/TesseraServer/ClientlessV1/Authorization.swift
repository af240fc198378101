import Foundation
import Hummingbird
import TesseraCore
import TesseraServices
import TesseraMediaToken

/// `GET /api/v1/authorize`, `GET /api/v1/mediatoken` (alias `/api/v1/tokens/media`),
/// `GET /api/v1/preauthorize[/{code}]`, `GET /api/v1/tokens/usermetadata`, and
/// `POST /api/v1/authenticate/freepreview` (TempPass without a second screen).
extension ClientlessV1 {
    /// The media token: XML `<play>`, JSON with `expires` as an epoch-ms string.
    struct PlayBody: Encodable {
        let expires: String
        let mvpdId: String
        let requestor: String
        let resource: String
        let serializedToken: String
        let userId: String
    }

    struct PreauthorizedItem: Encodable {
        let id: String
        let authorized: Bool
        let error: V1Rendering.ErrorBody?
    }

    /// JSON: `{"resources":[…]}`.
    struct PreauthorizeJSON: Encodable { let resources: [PreauthorizedItem] }
    /// XML: `<resources><resource>…</resource>…</resources>`.
    struct PreauthorizeXML: Encodable { let resource: [PreauthorizedItem] }

    struct MetadataBody: Encodable {
        let updated: Int64
        let encrypted: [String]
        let data: [String: MetadataValue]
    }

    /// The requested resource, parsed (an id or an MRSS fragment).
    func resource(_ call: Call) throws(TesseraError) -> ResourceRequest {
        try ResourceRequest(parsing: try call.parameters.required(.resource, maxLength: ResourceRequest.maximumLength))
    }

    func addAuthorizationRoutes(to router: V1Routes) {
        router.get("/api/v1/authorize") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/authorize") { call throws(TesseraError) in
                let (device, description) = try call.device()
                let resource = try resource(call)
                _ = try GenericData.identity(call.parameters["generic_data"])
                let session = try await services.sessionState(device: device, deviceUser: description.deviceUser).require()
                let authorization = try await services.authorize(session: session, tenant: call.tenant, resource: resource)
                return authorizationResponse(authorization, tenant: call.tenant, format: call.format)
            }
        }
        let mediaToken: @Sendable (Request, TesseraRequestContext) async -> Response = { request, context in
            await respond(request, context, requestor: nil, shortPath: request.uri.path.hasSuffix("/media") ? "/tokens/media" : "/mediatoken") { call throws(TesseraError) in
                let (device, description) = try call.device()
                let resource = try resource(call)
                let session = try await services.sessionState(device: device, deviceUser: description.deviceUser).require()
                let (token, claims) = try await services.mediaToken(session: session, tenant: call.tenant, resource: resource)
                return V1Rendering.response(
                    PlayBody(expires: String(claims.exp.value.epochMilliseconds), mvpdId: claims.mvpd, requestor: claims.requestor,
                             resource: claims.resource, serializedToken: token, userId: claims.sub.value),
                    root: "play", format: call.format)
            }
        }
        router.get("/api/v1/mediatoken", use: mediaToken)
        router.get("/api/v1/tokens/media", use: mediaToken)
        router.get("/api/v1/preauthorize") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/preauthorize") { call throws(TesseraError) in
                let (device, description) = try call.device()
                let resources = try preauthorizeResources(call)
                let state = try await services.sessionState(device: device, deviceUser: description.deviceUser)
                return try await preauthorizeResponse(call, state: state, resources: resources)
            }
        }
        router.get("/api/v1/preauthorize/:code") { request, context in
            let code = context.parameters.get("code") ?? ""
            return await respond(request, context, requestor: nil, shortPath: "/preauthorize/\(code)") { call throws(TesseraError) in
                let resources = try preauthorizeResources(call)
                let (_, login) = try await services.pendingLogin(tenant: call.tenant, code: code)
                return try await preauthorizeResponse(call, state: try await services.sessionState(completedBy: login), resources: resources)
            }
        }
        router.get("/api/v1/tokens/usermetadata") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/tokens/usermetadata",
                          endpoint: V1Endpoint(sessionMissing: 412, sessionExpired: 412)) { call throws(TesseraError) in
                let (device, description) = try call.device()
                let session = try await services.sessionState(device: device, deviceUser: description.deviceUser).require()
                let metadata = try await services.userMetadata(session: session, tenant: call.tenant)
                return V1Rendering.response(
                    MetadataBody(updated: Int64(metadata.updated.timeIntervalSince1970), encrypted: metadata.encrypted, data: metadata.data),
                    root: "metadata", format: call.format)
            }
        }
        router.post("/api/v1/authenticate/freepreview") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/authenticate/freepreview") { call throws(TesseraError) in
                let (device, description) = try call.device()
                let provider = try call.parameters.required(.provider, maxLength: 128)
                if let domain = try call.parameters.optional(.domainName, maxLength: 253), !call.tenant.redirectPolicy.allows(domainName: domain) {
                    throw .invalidParameter(.domainName, .notAllowed)
                }
                let identity = try GenericData.identity(call.parameters["generic_data"])
                try await services.counted(.login, dialect: "clientless-v1") { () async throws(TesseraError) in
                    try await services.startTemporaryAccess(tenant: call.tenant, deviceID: device.deviceID, providerID: provider,
                                                            identity: identity, deviceUser: description.deviceUser)
                }
                return Response(status: .noContent)
            }
        }
    }

    func authorizationResponse(_ authorization: Services.Authorization, tenant: Tenant, format: ResponseFormat) -> Response {
        let d = authorization.decision
        return V1Rendering.response(
            AuthorizationBody(expires: String(d.expiresAt.epochMilliseconds), mvpd: d.providerID, requestor: tenant.id,
                              resource: d.resource, proxyMvpd: authorization.proxyProviderID),
            root: "authorization", format: format)
    }

    /// `resource` as a comma-separated list of ids, at most the tenant's limit.
    func preauthorizeResources(_ call: Call) throws(TesseraError) -> [ResourceRequest] {
        let raw = try call.parameters.required(.resource, maxLength: ResourceRequest.maximumLength)
        let parts = raw.hasPrefix("<") ? [raw] : raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { throw .invalidParameter(.resource, .missing) }
        let limit = call.tenant.policies.preauthorizeLimit
        guard parts.count <= limit else { throw .tooManyResources(limit: limit) }
        var resources: [ResourceRequest] = []
        for part in parts { resources.append(try ResourceRequest(parsing: part)) }
        return resources
    }

    func preauthorizeResponse(_ call: Call, state: Services.SessionState, resources: [ResourceRequest]) async throws(TesseraError) -> Response {
        let session: Session
        switch state {
        case .active(let s): session = s
        case .expired: throw .preauthorizationNotAuthenticated(expired: true)
        case .none: throw .preauthorizationNotAuthenticated(expired: false)
        }
        let trace = call.context.requestID
        var items: [PreauthorizedItem] = []
        for resource in resources {
            let error = try await services.preauthorize(session: session, resource: resource)
            // Item-level errors of preauthorize use the preauthorization denial code.
            let rendered = error.map { e -> V1Rendering.ErrorBody in
                var body = V1Rendering.ErrorBody(entry: V1Errors.entry(e), helpURL: services.configuration.helpURL, trace: trace)
                if case .authorizationDenied = e { body.code = "preauthorization_denied_by_mvpd" }
                return body
            }
            items.append(PreauthorizedItem(id: resource.raw, authorized: error == nil, error: rendered))
        }
        var headers: HTTPFields = [:]
        headers[.init("Adobe-Request-Id")!] = trace
        headers[.init("Adobe-Response-Confidence")!] = "full"
        return call.format == .json
            ? V1Rendering.response(PreauthorizeJSON(resources: items), root: "resources", format: .json, headers: headers)
            : V1Rendering.response(PreauthorizeXML(resource: items), root: "resources", format: .xml, headers: headers)
    }
}
