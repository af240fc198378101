import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `GET /api/v2/{sp}/logout/{mvpd}` (seed 001) and `GET /api/v2/{sp}/logout` (every provider of
/// the device; named only in Adobe's FAQ, answered in the same shape): the profiles go, with the
/// SSO profiles of the identities the device presents, and the `logouts` map says what follows
/// for each provider.
extension RestV2 {
    struct LogoutsBody: Encodable {
        let logouts: [String: LogoutBody]
    }

    /// `MvpdLogoutResponse`.
    struct LogoutBody: Encodable {
        let actionName: String
        let actionType: String
        let mvpd: String
        var url: String?
    }

    func addLogoutRoutes(to router: V1Routes) {
        let one: @Sendable (Request, TesseraRequestContext, String, String) async -> Response = { request, context, sp, mvpd in
            await respond(request, context, serviceProvider: sp) { call throws(TesseraError) in
                try await logout(call, providerID: mvpd)
            }
        }
        router.get("/api/v2/:sp/logout/:mvpd") { request, context in
            await one(request, context, context.parameters.get("sp") ?? "", context.parameters.get("mvpd") ?? "")
        }
        // The path of Adobe's TempPass sample (adobe-pass.md 15.5).
        router.get("/api/v2/logout/:sp/:mvpd") { request, context in
            await one(request, context, context.parameters.get("sp") ?? "", context.parameters.get("mvpd") ?? "")
        }
        router.get("/api/v2/:sp/logout") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                try await logout(call, providerID: nil)
            }
        }
    }

    private func logout(_ call: Call, providerID: String?) async throws(TesseraError) -> Response {
        guard let (device, _) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
        let parameters = RequestParameters(query: call.request.uri.query)
        let redirect = parameters["redirectUrl"] ?? parameters["redirect_url"]
        if let redirect, !redirect.isEmpty, !call.tenant.redirectPolicy.allows(url: redirect) {
            throw .invalidParameter(.redirectURL, .notAllowed)
        }
        if let providerID, services.directory.provider(providerID, for: call.tenant) == nil { throw .unknownIntegration(providerID) }
        let identities = try await call.identities()
        let plan = try await services.counted(.logout, dialect: "rest-v2") { () async throws(TesseraError) in
            try await services.logoutProfiles(tenant: call.tenant, device: device, applicationID: call.applicationID,
                                              providerID: providerID, identities: identities)
        }
        var logouts: [String: LogoutBody] = [:]
        for step in plan.steps {
            let provider = step.session.subject.providerID
            var hint: String?
            if case .providerLogoutPage(let id) = step.followUp, let idToken = plan.idTokens[step.session.id] {
                hint = services.sealedForURL(idToken, .logoutHint(providerID: id))
            }
            let body = logoutBody(step.followUp, providerID: provider, tenant: call.tenant, device: device, redirect: redirect, hint: hint)
            // One entry per provider: an SSO profile's partner logout or provider page outranks
            // "complete"; of two provider pages, the one that carries the id_token hint.
            if let held = logouts[provider], Self.rank(held) > Self.rank(body) || (Self.rank(held) == Self.rank(body) && hint == nil) { continue }
            logouts[provider] = body
        }
        if let providerID, logouts.isEmpty {
            logouts[providerID] = LogoutBody(actionName: "invalid", actionType: "none", mvpd: providerID)
        }
        return Self.json(LogoutsBody(logouts: logouts))
    }

    static func rank(_ body: LogoutBody) -> Int {
        switch body.actionName {
        case "partner_logout": 3
        case "logout": 2
        case "complete": 1
        default: 0
        }
    }

    private func logoutBody(_ followUp: LogoutPlan.FollowUp, providerID: String, tenant: Tenant, device: DeviceKey, redirect: String?,
                            hint: String?) -> LogoutBody {
        switch followUp {
        case .providerLogoutPage(let provider):
            var body = LogoutBody(actionName: "logout", actionType: "interactive", mvpd: provider)
            body.url = ProviderPages.logoutURL(base: services.configuration.publicBaseURL, provider: provider, tenantID: tenant.id,
                                               redirect: redirect, hint: hint)
            return body
        case .partnerLogout(let provider):
            return LogoutBody(actionName: "partner_logout", actionType: "partner_interactive", mvpd: provider)
        case .complete:
            return LogoutBody(actionName: "complete", actionType: "none", mvpd: providerID)
        case .invalid:
            return LogoutBody(actionName: "invalid", actionType: "none", mvpd: providerID)
        }
    }
}
