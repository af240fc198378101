import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `POST /api/v2/{sp}/decisions/authorize/{mvpd}` and `…/preauthorize/{mvpd}`: a JSON body
/// `{"resources": [...]}` (ids or MRSS); one decision per resource under HTTP 200, a denial as
/// the item's `error` (adobe-pass.md 8.7). An authorize permit carries a media token.
extension RestV2 {
    struct DecisionsRequest: Decodable {
        let resources: [String]
    }

    struct DecisionsBody: Encodable {
        let decisions: [DecisionBody]
    }

    /// `DecisionResponse`.
    struct DecisionBody: Encodable {
        let resource: String
        let serviceProvider: String
        let mvpd: String
        let source: String
        let authorized: Bool
        var token: TokenBody?
        var notBefore: Int64?
        var notAfter: Int64?
        var error: V2Errors.Body?
    }

    /// `MediaTokenResponse`.
    struct TokenBody: Encodable {
        let notBefore: Int64
        let notAfter: Int64
        let serializedToken: String
    }

    static let decisionsBodyLimit = 64 * 1024

    /// The errors that deny one resource (an item's `error`); any other ends the whole call.
    static func deniesItem(_ error: TesseraError) -> Bool {
        switch error {
        case .authorizationDenied, .parentalControl, .deniedByDegradation, .temporaryAccessDurationExceeded,
             .temporaryAccessResourcesExceeded, .malformedResource, .invalidParameter(.resource, _):
            true
        default: false
        }
    }

    func addDecisionRoutes(to router: V1Routes) {
        router.post("/api/v2/:sp/decisions/authorize/:mvpd") { request, context in
            await decisions(request, context, preauthorize: false)
        }
        router.post("/api/v2/:sp/decisions/preauthorize/:mvpd") { request, context in
            await decisions(request, context, preauthorize: true)
        }
    }

    private func decisions(_ request: Request, _ context: TesseraRequestContext, preauthorize: Bool) async -> Response {
        await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
            guard let (device, _) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
            let providerID = context.parameters.get("mvpd") ?? ""
            let body: DecisionsRequest?
            do throws(TesseraError) { body = try await JSONBody.decode(request, as: DecisionsRequest.self, limit: Self.decisionsBodyLimit) } catch {
                if case .payloadTooLarge = error { throw error }
                throw .invalidParameter(.resource, .malformed)
            }
            guard let resources = body?.resources, !resources.isEmpty else { throw .invalidParameter(.resource, .missing) }
            let limit = preauthorize ? call.tenant.policies.preauthorizeLimit : call.tenant.policies.authorizeLimit
            guard resources.count <= limit else { throw .tooManyResources(limit: limit) }
            guard let session = try await profile(call, device: device, providerID: providerID, identities: try await call.identities())?.session else {
                throw .noSession
            }
            var decisions: [DecisionBody] = []
            for raw in resources {
                decisions.append(try await decision(raw, session: session, call: call, preauthorize: preauthorize))
            }
            return Self.json(DecisionsBody(decisions: decisions))
        }
    }

    private func decision(_ raw: String, session: Session, call: Call, preauthorize: Bool) async throws(TesseraError) -> DecisionBody {
        let tenant = call.tenant
        func denied(_ error: TesseraError, source: Services.DecisionSource) -> DecisionBody {
            var body = DecisionBody(resource: raw, serviceProvider: tenant.id, mvpd: session.subject.providerID, source: source.rawValue, authorized: false)
            body.error = V2Errors.body(error, helpURL: services.configuration.helpURL, trace: call.context.requestID)
            return body
        }
        let fallbackSource = Services.DecisionSource(profile: session)
        let resource: ResourceRequest
        do { resource = try ResourceRequest(parsing: raw) } catch { return denied(error, source: fallbackSource) }
        if preauthorize {
            let (source, denial) = try await services.preauthorize(profile: session, tenant: tenant, resource: resource)
            if let denial { return denied(denial, source: source) }
            return DecisionBody(resource: resource.raw, serviceProvider: tenant.id, mvpd: session.subject.providerID, source: source.rawValue,
                                authorized: true)
        }
        let decided: Services.ProfileDecision
        do { decided = try await services.decide(profile: session, tenant: tenant, resource: resource) } catch {
            guard Self.deniesItem(error) else { throw error }
            if case .deniedByDegradation = error { return denied(error, source: .degradation) }
            return denied(error, source: fallbackSource)
        }
        let (token, claims) = try await services.signMediaToken(session: session, tenant: tenant, resource: resource, until: decided.until)
        var body = DecisionBody(resource: resource.raw, serviceProvider: tenant.id, mvpd: session.subject.providerID,
                                source: decided.source.rawValue, authorized: true)
        body.token = TokenBody(notBefore: claims.iat.value.epochMilliseconds, notAfter: claims.exp.value.epochMilliseconds, serializedToken: token)
        if let until = decided.until {
            body.notBefore = services.clock.now().epochMilliseconds
            body.notAfter = until.epochMilliseconds
        }
        return body
    }
}
