import Foundation
import Hummingbird
import TesseraCore
import TesseraServices
import XMLCoder

/// Apple partner SSO (adobe-pass.md 8.9, 10.2): `POST /api/v2/{sp}/sessions/sso/Apple` tells the
/// app whether Apple's framework can sign the subscriber in (and gives it the SAML request), or
/// falls back to a regular session; `POST /api/v2/{sp}/profiles/sso/Apple` turns the SAML
/// assertion the framework returned into the application's `appleSSO` profile.
///
/// `AP-Partner-Framework-Status` is Base64 JSON: `frameworkPermissionInfo.accessStatus` must be
/// `granted`, `frameworkProviderInfo.id` the platform mapping id of one of the tenant's providers,
/// and `frameworkProviderInfo.expirationDate` (ms) in the future.
///
/// Adobe's page answers the profile with 201; its OpenAPI document and its degradation sample
/// with 200. Tessera answers 200, which every client of the document accepts.
extension RestV2 {
    /// The framework status header's JSON.
    struct PartnerFrameworkStatus: Decodable {
        struct Permission: Decodable {
            let accessStatus: String?
        }
        struct ProviderInfo: Decodable {
            let id: String?
            let expirationDate: Milliseconds?
        }
        /// Adobe writes the time as a string of milliseconds; a number is taken too.
        struct Milliseconds: Decodable {
            let value: Double?
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let number = try? container.decode(Double.self) { value = number } else { value = Double(try container.decode(String.self)) }
            }
        }
        let frameworkPermissionInfo: Permission?
        let frameworkProviderInfo: ProviderInfo?
    }

    /// The SAML AuthnRequest's element, encoded with XMLCoder.
    struct AuthnRequest: Encodable {
        let issuer: String
        enum CodingKeys: String, CodingKey { case issuer = "saml:Issuer" }
    }

    func addPartnerRoutes(to router: V1Routes) {
        router.post("/api/v2/:sp/sessions/sso/:partner") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                try Self.requireApple(context)
                guard let (device, description) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
                let parameters = try SessionParameters(try await RequestParameters(request), tenant: call.tenant, services: services)
                let identities = try await call.identities()
                let provider: any IdentityProvider
                do throws(TesseraError) {
                    provider = try partnerProvider(call)
                } catch {
                    // The framework cannot sign in: the regular flow, for the provider it named if any.
                    var mappingID: String?
                    if case .partnerFrameworkStatus(let problem) = error, problem == .providerIDMismatch { mappingID = Self.statusMappingID(call) }
                    let named = mappingID.flatMap { services.partnerProvider(tenant: call.tenant, mappingID: $0) }
                    return try await fallback(call, device: device, description: description, parameters: parameters, providerID: named?.id,
                                              identities: identities, reason: "pfs_fallback")
                }
                if let shortcut = try await authorizeWithoutLogin(call, device: device, providerID: provider.id, identities: identities),
                   shortcut.reasonType == "degraded" {
                    return Self.json(shortcut)
                }
                guard let trust = provider.partnerTrust else {
                    return try await fallback(call, device: device, description: description, parameters: parameters, providerID: provider.id,
                                              identities: identities, reason: "configuration_fallback")
                }
                guard parameters.domainName != nil, parameters.redirectURL != nil else {
                    return try await fallback(call, device: device, description: description, parameters: parameters, providerID: provider.id,
                                              identities: identities, reason: "missing_parameters_fallback")
                }
                var body = SessionBody(actionName: "partner_profile", actionType: "direct", reasonType: "none",
                                       sessionId: UUID.random().uuidString.lowercased(), serviceProvider: call.tenant.id)
                body.url = "/api/v2/\(call.tenant.id)/profiles/sso/Apple"
                body.mvpd = provider.id
                body.authenticationRequest = PartnerAuthenticationRequest(
                    type: "saml", request: Self.authnRequest(issuer: trust.audience ?? call.tenant.id, now: services.clock.now()),
                    attributesNames: ["uid", "NameID", "uniqueId"])
                return Self.json(body)
            }
        }
        router.post("/api/v2/:sp/profiles/sso/:partner") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                try Self.requireApple(context)
                guard let (device, _) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
                let provider = try partnerProvider(call)
                let form = try await RequestParameters(request)
                guard let saml = form["SAMLResponse"], !saml.isEmpty else { throw .invalidPartnerAssertion("SAMLResponse is missing") }
                let session = try await services.counted(.login, dialect: "rest-v2") { () async throws(TesseraError) in
                    try await services.startPartnerProfile(tenant: call.tenant, device: device, applicationID: call.applicationID,
                                                           providerID: provider.id, samlResponse: saml, clientAddress: call.clientAddress)
                }
                return Self.json(try await profilesBody([session], tenant: call.tenant))
            }
        }
    }

    static func requireApple(_ context: TesseraRequestContext) throws(TesseraError) {
        guard context.parameters.get("partner")?.lowercased() == "apple" else { throw .unknownPartner }
    }

    /// The provider the framework status names, when the status allows partner SSO.
    func partnerProvider(_ call: Call) throws(TesseraError) -> any IdentityProvider {
        let status = try Self.frameworkStatus(call)
        switch status.frameworkPermissionInfo?.accessStatus {
        case nil: throw .partnerFrameworkStatus(.permissionAccessNotPresent)
        case "granted": break
        case "notDetermined": throw .partnerFrameworkStatus(.permissionAccessNotDetermined)
        default: throw .partnerFrameworkStatus(.permissionAccessNotGranted)
        }
        guard let mappingID = status.frameworkProviderInfo?.id, !mappingID.isEmpty else { throw .partnerFrameworkStatus(.providerIDNotDetermined) }
        guard let milliseconds = status.frameworkProviderInfo?.expirationDate?.value,
              Date(timeIntervalSince1970: milliseconds / 1000) > services.clock.now()
        else { throw .partnerFrameworkStatus(.providerInfoExpired) }
        guard let provider = services.partnerProvider(tenant: call.tenant, mappingID: mappingID) else {
            throw .partnerFrameworkStatus(.providerIDMismatch)
        }
        return provider
    }

    static func frameworkStatus(_ call: Call) throws(TesseraError) -> PartnerFrameworkStatus {
        guard let header = call.request.headers.value(.partnerFrameworkStatus), !header.isEmpty, header.utf8.count <= 4096,
              let data = Data(lenientBase64: header), let status = try? JSONDecoder().decode(PartnerFrameworkStatus.self, from: data)
        else { throw .partnerFrameworkStatus(.permissionAccessNotPresent) }
        return status
    }

    static func statusMappingID(_ call: Call) -> String? { try? frameworkStatus(call).frameworkProviderInfo?.id }

    /// The regular session in place of partner SSO, with the reason it fell back.
    private func fallback(_ call: Call, device: DeviceKey, description: DeviceDescription, parameters: SessionParameters, providerID: String?,
                          identities: [SingleSignOnIdentity], reason: String) async throws(TesseraError) -> Response {
        if let providerID, let shortcut = try await authorizeWithoutLogin(call, device: device, providerID: providerID, identities: identities) {
            return Self.json(shortcut)
        }
        let issued = try await services.startProfileLogin(tenant: call.tenant, device: device, description: description, providerID: providerID,
                                                          request: parameters.profileRequest(call, providerID: providerID, identities: identities))
        var body = sessionBody(issued.login, code: issued.code, tenant: call.tenant, resumed: false)
        body.reasonType = reason
        return Self.json(body)
    }

    /// Base64 of a SAML 2.0 AuthnRequest from `issuer` (Tessera's entity for the partner).
    static func authnRequest(issuer: String, now: Date) -> String {
        let attributes = [
            "xmlns:samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "xmlns:saml": "urn:oasis:names:tc:SAML:2.0:assertion",
            "ID": "_" + UUID.random().uuidString.lowercased(), "Version": "2.0", "IssueInstant": now.formatted(.iso8601),
        ]
        let data = (try? XMLEncoder().encode(AuthnRequest(issuer: issuer), withRootKey: "samlp:AuthnRequest", rootAttributes: attributes)) ?? Data()
        return data.base64EncodedString()
    }
}
