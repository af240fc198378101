import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// The second-screen start (`GET /api/v1/authenticate`), the device's checks
/// (`/api/v1/checkauthn`, `/api/v1/checkauthn/{code}`), and the older
/// `GET /api/v1/authenticate/{regcode}`.
extension ClientlessV1 {
    /// The authN token: XML `<authentication>`, JSON with `expires` as an epoch-ms string.
    struct AuthenticationBody: Encodable {
        let expires: String
        let userId: String
        let mvpd: String
        let requestor: String

        init(_ session: Session) {
            expires = String(session.expiresAt.epochMilliseconds)
            userId = session.subject.userID
            mvpd = session.subject.providerID
            requestor = session.tenantID
        }
    }

    func addAuthenticationRoutes(to router: V1Routes) {
        // The browser arrives from the programmer's page; no bearer, the registration code is the link.
        router.get("/api/v1/authenticate") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/authenticate", authenticate: false,
                          endpoint: V1Endpoint(unknownCode: 400)) { call throws(TesseraError) in
                let p = call.parameters
                let code = try p.required(.loginCode, maxLength: 64)
                let provider = try p.required(.provider, maxLength: 128)
                let domain = try p.required(.domainName, maxLength: 253)
                let redirect = try p.required(.redirectURL, maxLength: 2048)
                let policy = call.tenant.redirectPolicy
                guard policy.allows(domainName: domain) else { throw .invalidParameter(.domainName, .notAllowed) }
                guard policy.allows(url: redirect) else { throw .invalidParameter(.redirectURL, .notAllowed) }
                let state = try await services.beginLogin(tenant: call.tenant, code: code, providerID: provider,
                                                          returnURL: redirect, client: call.clientAddress)
                return ProviderPages.redirect(to: ProviderPages.loginPath(provider: provider, state: state), status: .found)
            }
        }
        router.get("/api/v1/authenticate/:code") { request, context in
            let code = context.parameters.get("code") ?? ""
            return await respond(request, context, requestor: nil, shortPath: "/authenticate/\(code)",
                                 endpoint: V1Endpoint(sessionMissing: 404, sessionExpired: 410)) { call throws(TesseraError) in
                try await authentication(call, code: code)
            }
        }
        router.get("/api/v1/checkauthn") { request, context in
            await respond(request, context, requestor: nil, shortPath: "/checkauthn") { call throws(TesseraError) in
                try await authentication(call)
            }
        }
        router.get("/api/v1/checkauthn/:code") { request, context in
            let code = context.parameters.get("code") ?? ""
            return await respond(request, context, requestor: nil, shortPath: "/checkauthn/\(code)") { call throws(TesseraError) in
                try await authentication(call, code: code)
            }
        }
    }

    /// The authN token of the calling device, or the endpoint's error when it has none.
    func authentication(_ call: Call) async throws(TesseraError) -> Response {
        let (device, description) = try call.device()
        let session = try await services.sessionState(device: device, deviceUser: description.deviceUser).require()
        guard call.format == .json else { return V1Rendering.response(AuthenticationBody(session), root: "authentication", format: call.format) }
        if let encoded = encodedAuthentications.value(for: session.id) { return V1Rendering.json(encoded: encoded) }
        let encoded = V1Rendering.json(AuthenticationBody(session))
        encodedAuthentications.set(session.id, encoded)
        return V1Rendering.json(encoded: encoded)
    }

    /// The authN token of the login made with a registration code (second screen, older clients).
    func authentication(_ call: Call, code: String) async throws(TesseraError) -> Response {
        let (_, login) = try await services.pendingLogin(tenant: call.tenant, code: code)
        let session = try await services.sessionState(completedBy: login).require()
        return V1Rendering.response(AuthenticationBody(session), root: "authentication", format: call.format)
    }
}
