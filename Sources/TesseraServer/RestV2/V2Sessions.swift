import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `GET /api/v2/{sp}/configuration`, and the authentication sessions: `POST /{sp}/sessions`
/// (the first screen), `POST /{sp}/sessions/{code}` (a second screen resumes it), `GET
/// /{sp}/sessions/{code}` (a second screen checks a typed code), and the browser's `GET
/// /api/v2/authenticate/{sp}/{code}` into the provider's login.
extension RestV2 {
    struct ConfigurationBody: Encodable {
        struct Requestor: Encodable {
            let id: String
            let name: String
            let domains: [Domain]
            let mvpds: [Provider]
        }
        struct Domain: Encodable {
            let name: String
            let mvpdInitiated: Bool
        }
        /// Booleans that are false are left out, as Adobe's samples do.
        struct Provider: Encodable {
            let id: String
            let displayName: String
            let logoUrl: String?
            let isTempPass: Bool?
            let isProxy: Bool?
            let platformMappingId: String?
            let enablePlatformServices: Bool?
            let displayInPlatformPicker: Bool?
            let boardingStatus: String?
        }
        let requestor: Requestor
    }

    /// `SessionResponse`: notBefore and notAfter are strings (adobe-pass.md 7).
    struct SessionBody: Encodable {
        var actionName: String
        var actionType: String
        var reasonType: String
        var missingParameters: [String]?
        var url: String?
        var code: String?
        let sessionId: String
        var mvpd: String?
        let serviceProvider: String
        var notBefore: String?
        var notAfter: String?
        /// Partner SSO only: the request the partner's framework signs the subscriber in with.
        var authenticationRequest: PartnerAuthenticationRequest?
    }

    /// `SessionResponse.authenticationRequest` of a partner session (adobe-pass.md 8.9).
    struct PartnerAuthenticationRequest: Encodable {
        let type: String
        let request: String
        let attributesNames: [String]
    }

    /// `SessionStatusResponse`.
    struct SessionStatusBody: Encodable {
        let existingParameters: [String: String]
        let missingParameters: [String]
        let device: [String: DeviceValue]?
        let notBefore: String
        let notAfter: String
    }

    enum DeviceValue: Encodable {
        case text(String)
        case object([String: String])
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .object(let object): try container.encode(object)
            }
        }
    }

    func addConfigurationRoutes(to router: V1Routes) {
        router.get("/api/v2/:sp/configuration") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                _ = try call.device(required: false)
                let tenant = call.tenant
                let providers = tenant.providerIDs.compactMap { services.directory.providers[$0] }.map { provider in
                    let directory = provider as? DirectoryProvider
                    return ConfigurationBody.Provider(
                        id: provider.id, displayName: provider.displayName, logoUrl: provider.logoURL,
                        isTempPass: provider is any TemporaryAccessGranting ? true : nil,
                        isProxy: directory?.proxyProviderID != nil ? true : nil,
                        platformMappingId: provider.platformMappingID,
                        enablePlatformServices: provider.platformMappingID != nil ? true : nil,
                        displayInPlatformPicker: provider.platformMappingID != nil ? true : nil,
                        boardingStatus: provider.platformMappingID != nil ? "supported" : nil)
                }
                return Self.json(ConfigurationBody(requestor: .init(
                    id: tenant.id, name: tenant.name, domains: tenant.domains.map { .init(name: $0, mvpdInitiated: false) }, mvpds: providers)))
            }
        }
    }

    /// The session parameters of a form body, each checked: the provider integrated with the
    /// tenant, the domain and redirect URL within its domains.
    struct SessionParameters {
        var providerID: String?
        var domainName: String?
        var redirectURL: String?

        init(_ parameters: RequestParameters, tenant: Tenant, services: Services) throws(TesseraError) {
            func value(_ name: String, limit: Int, _ parameter: TesseraError.Parameter) throws(TesseraError) -> String? {
                guard let value = parameters[name], !value.isEmpty else { return nil }
                guard value.utf8.count <= limit, !value.containsNewline else { throw .invalidParameter(parameter, .malformed) }
                return value
            }
            providerID = try value("mvpd", limit: 128, .provider)
            // Adobe's name, and v1's (which some clients carry over).
            let domain = try value("domainName", limit: 253, .domainName)
            domainName = domain != nil ? domain : try value("domain_name", limit: 253, .domainName)
            let redirect = try value("redirectUrl", limit: 2048, .redirectURL)
            redirectURL = redirect != nil ? redirect : try value("redirect_url", limit: 2048, .redirectURL)
            if let providerID, services.directory.provider(providerID, for: tenant) == nil { throw .unknownIntegration(providerID) }
            let policy = tenant.redirectPolicy
            if let domainName, !policy.allows(domainName: domainName) { throw .invalidParameter(.domainName, .notAllowed) }
            if let redirectURL, !policy.allows(url: redirectURL) { throw .invalidParameter(.redirectURL, .notAllowed) }
        }

        /// What a login for the calling application asks for: these parameters, and the SSO keys
        /// of the identities the device presented whose trust covers `providerID` (all, without one).
        func profileRequest(_ call: Call, providerID: String?, identities: [SingleSignOnIdentity]) -> ProfileRequest {
            ProfileRequest(applicationID: call.applicationID, domainName: domainName, redirectURL: redirectURL,
                           ssoKeys: identities.filter { identity in providerID.map(identity.providerIDs.contains) ?? true }.map(\.key))
        }
    }

    /// Which of a login's parameters are still missing, by their v2 names.
    static func missing(_ login: PendingLogin) -> [String] {
        var names: [String] = []
        if login.providerID == nil { names.append("mvpd") }
        if login.description.profile?.domainName == nil { names.append("domainName") }
        if login.description.profile?.redirectURL == nil { names.append("redirectUrl") }
        return names
    }

    func addSessionRoutes(to router: V1Routes) {
        router.post("/api/v2/:sp/sessions") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                guard let (device, description) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
                let parameters = try SessionParameters(try await RequestParameters(request), tenant: call.tenant, services: services)
                let identities = try await call.identities()
                if let providerID = parameters.providerID,
                   let shortcut = try await authorizeWithoutLogin(call, device: device, providerID: providerID, identities: identities) {
                    return Self.json(shortcut)
                }
                let issued = try await services.startProfileLogin(tenant: call.tenant, device: device, description: description,
                                                                  providerID: parameters.providerID,
                                                                  request: parameters.profileRequest(call, providerID: parameters.providerID, identities: identities))
                return Self.json(sessionBody(issued.login, code: issued.code, tenant: call.tenant, resumed: false))
            }
        }
        router.post("/api/v2/:sp/sessions/:code") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                let code = context.parameters.get("code") ?? ""
                let parameters = try SessionParameters(try await RequestParameters(request), tenant: call.tenant, services: services)
                var login = try await services.profileLogin(tenant: call.tenant, code: code)
                login = try await services.resumeProfileLogin(login, providerID: parameters.providerID, domainName: parameters.domainName,
                                                              redirectURL: parameters.redirectURL)
                return Self.json(sessionBody(login, code: RegistrationCode.normalize(code) ?? code, tenant: call.tenant, resumed: true))
            }
        }
        let status: @Sendable (Request, TesseraRequestContext) async -> Response = { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                let login = try await services.profileLogin(tenant: call.tenant, code: context.parameters.get("code") ?? "")
                var existing = ["serviceProvider": call.tenant.id]
                existing["mvpd"] = login.providerID
                existing["domainName"] = login.description.profile?.domainName
                existing["redirectUrl"] = login.description.profile?.redirectURL
                return Self.json(SessionStatusBody(
                    existingParameters: existing, missingParameters: Self.missing(login), device: Self.device(login.description),
                    notBefore: String(login.createdAt.epochMilliseconds), notAfter: String(login.expiresAt.epochMilliseconds)))
            }
        }
        router.get("/api/v2/:sp/sessions/:code", use: status)
        // The path of one of Adobe's samples (adobe-pass.md 15.5).
        router.get("/api/v2/sessions/:sp/:code", use: status)

        // The browser: no bearer; the code is the link. Errors are pages (text/html), as Adobe's.
        router.get("/api/v2/authenticate/:sp/:code") { request, context in
            do {
                guard let tenant = services.directory.tenant(context.parameters.get("sp") ?? "") else { throw TesseraError.invalidRequestor }
                let login = try await services.profileLogin(tenant: tenant, code: context.parameters.get("code") ?? "")
                guard let providerID = login.providerID else { throw TesseraError.invalidParameter(.provider, .missing) }
                guard let redirect = login.description.profile?.redirectURL else { throw TesseraError.invalidParameter(.redirectURL, .missing) }
                let client = services.configuration.trustedProxies.clientAddress(peer: context.peerAddress,
                                                                                forwardedFor: request.headers.value(.forwardedFor))
                let state = try await services.beginLogin(tenant: tenant, code: context.parameters.get("code") ?? "", providerID: providerID,
                                                          returnURL: redirect, client: client)
                return ProviderPages.redirect(to: ProviderPages.loginPath(provider: providerID, state: state), status: .found)
            } catch let error as TesseraError {
                return pages.message(for: error)
            } catch {
                return pages.message(for: .storageFailure)
            }
        }
    }

    /// The session answer for a pending login: `authenticate` when every parameter is there,
    /// else `resume` (first screen) or `retry` (a second screen that still left some out).
    func sessionBody(_ login: PendingLogin, code: String, tenant: Tenant, resumed: Bool) -> SessionBody {
        let missing = Self.missing(login)
        var body: SessionBody
        if missing.isEmpty {
            body = SessionBody(actionName: "authenticate", actionType: "interactive", reasonType: "none", sessionId: login.id.uuidString.lowercased(),
                               serviceProvider: tenant.id)
            body.url = "/api/v2/authenticate/\(tenant.id)/\(code)"
        } else {
            body = SessionBody(actionName: resumed ? "retry" : "resume", actionType: "direct", reasonType: "none",
                               sessionId: login.id.uuidString.lowercased(), serviceProvider: tenant.id)
            body.missingParameters = missing
            body.url = "/api/v2/\(tenant.id)/sessions/\(code)"
        }
        body.code = code
        body.mvpd = login.providerID
        body.notBefore = String(login.createdAt.epochMilliseconds)
        body.notAfter = String(login.expiresAt.epochMilliseconds)
        return body
    }

    /// A session that needs no login: a profile the application has (or an SSO one), a TempPass,
    /// or a provider degraded with AuthNAll. Nil: the device must sign in.
    func authorizeWithoutLogin(_ call: Call, device: DeviceKey, providerID: String,
                               identities: [SingleSignOnIdentity]) async throws(TesseraError) -> SessionBody? {
        func authorize(_ reason: String) -> SessionBody {
            var body = SessionBody(actionName: "authorize", actionType: "direct", reasonType: reason, sessionId: UUID.random().uuidString.lowercased(),
                                   serviceProvider: call.tenant.id)
            body.mvpd = providerID
            body.url = "/api/v2/\(call.tenant.id)/decisions/authorize/\(providerID)"
            return body
        }
        let profiles = try await services.profiles(tenant: call.tenant, device: device, applicationID: call.applicationID, identities: identities)
        if let profile = profiles.first(where: { $0.subject.providerID == providerID }) {
            if profile.trialID != nil { return authorize("temporary") }
            if DegradationRule.isDegraded(profile.subject) { return authorize("degraded") }
            return authorize(profile.kind == .ssoProfile ? "authenticatedSSO" : "authenticated")
        }
        if services.directory.providers[providerID] is any TemporaryAccessGranting {
            // The trial starts at the first decision; a malformed identity is refused now already.
            _ = try call.temporaryAccessIdentity()
            return authorize("temporary")
        }
        if try await services.degradationRule(tenant: call.tenant, providerID: providerID, authorization: false) != nil {
            _ = try await services.startDegradedProfile(tenant: call.tenant, device: device, applicationID: call.applicationID,
                                                        providerID: providerID, identities: identities)
            return authorize("degraded")
        }
        return nil
    }

    /// The first screen's device as `SessionStatusResponse.device` gives it (Adobe's `Device`).
    static func device(_ description: DeviceDescription) -> [String: DeviceValue]? {
        guard let json = description.deviceInfoJSON, let info = try? DeviceInfo(encoded: Data(json.utf8).base64EncodedString()) else { return nil }
        var device: [String: DeviceValue] = [:]
        if let model = info.fields["model"] { device["model"] = .text(model) }
        if let type = info.fields["primaryHardwareType"] { device["type"] = .text(type) }
        var system: [String: String] = [:]
        system["name"] = info.fields["osName"]
        system["vendor"] = info.fields["osVendor"]
        system["family"] = info.fields["osFamily"]
        if !system.isEmpty { device["operatingSystem"] = .object(system) }
        return device
    }
}
