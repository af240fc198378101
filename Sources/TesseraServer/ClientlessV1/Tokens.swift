import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `GET /api/v1/tokens/authn` and `GET /api/v1/tokens/authz`.
extension ClientlessV1 {
    /// The authZ token: XML `<authorization>`, JSON with `expires` as an epoch-ms string.
    struct AuthorizationBody: Encodable {
        let expires: String
        let mvpd: String
        let requestor: String
        let resource: String
        /// Present when the provider sits behind a proxy provider.
        let proxyMvpd: String?
    }

    func addTokenRoutes(to router: V1Routes) {
        router.get("/api/v1/tokens/authn") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/tokens/authn",
                          endpoint: V1Endpoint(sessionMissing: 404, sessionExpired: 410)) { call throws(TesseraError) in
                try await authentication(call)
            }
        }
        router.get("/api/v1/tokens/authz") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/tokens/authz",
                          endpoint: V1Endpoint(sessionMissing: 412, sessionExpired: 412)) { call throws(TesseraError) in
                let (device, description) = try call.device()
                let resource = try resource(call)
                let session = try await services.sessionState(device: device, deviceUser: description.deviceUser).require()
                let decision = try await services.decision(session: session, resource: resource.raw)
                let proxy = (services.directory.providers[decision.providerID] as? any EntitlementDeciding)?.proxyProviderID
                return authorizationResponse(Services.Authorization(decision: decision, proxyProviderID: proxy), tenant: call.tenant, format: call.format)
            }
        }
    }
}
