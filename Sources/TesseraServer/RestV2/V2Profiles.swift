import Crypto
import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `GET /api/v2/{sp}/profiles`, `/profiles/{mvpd}` and `/profiles/code/{code}`: the profiles a
/// device (or a code's login) has, as Adobe's `Profile` object (adobe-pass.md 9).
extension RestV2 {
    /// `ProfilesResponse`.
    struct ProfilesBody: Encodable {
        let profiles: [String: ProfileBody]
    }

    /// `MvpdProfileResponse`: notBefore and notAfter are numbers (ms).
    struct ProfileBody: Encodable {
        let notBefore: Int64
        let notAfter: Int64
        let issuer: String
        let type: String
        let attributes: [String: Attribute]
    }

    struct Attribute: Encodable {
        let value: AttributeValue
        let state: String
    }

    enum AttributeValue: Encodable {
        case metadata(MetadataValue)
        case number(Int64)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .metadata(let value): try value.encode(to: encoder)
            case .number(let number):
                var container = encoder.singleValueContainer()
                try container.encode(number)
            }
        }
    }

    /// The profile type of a session (adobe-pass.md 9) and who issued it.
    static func kind(of session: Session) -> (type: String, issuer: String) {
        if session.trialID != nil { return ("temporary", "Adobe") }
        if DegradationRule.isDegraded(session.subject) { return ("degraded", "Adobe") }
        // A partner (Apple) profile is the application's own, made from the partner's assertion.
        if SSOKey.scheme(of: session.ssoKey) == .partner { return ("appleSSO", "Apple") }
        guard session.kind == .ssoProfile else { return ("regular", session.subject.providerID) }
        switch SSOKey.scheme(of: session.ssoKey) {
        case .platform: return ("platformSSO", session.subject.providerID)
        case .serviceToken: return ("serviceTokenSSO", session.subject.providerID)
        case .partner: return ("appleSSO", "Apple")
        case nil: return ("regular", session.subject.providerID)
        }
    }

    /// `known`: the session's trial when the caller has just read or started it (no second read).
    func profileBody(_ session: Session, tenant: Tenant, known: TemporaryAccess? = nil) async throws(TesseraError) -> ProfileBody {
        let (type, issuer) = Self.kind(of: session)
        var attributes: [String: Attribute] = [:]
        var notAfter = session.expiresAt
        let trial = known != nil && known?.id == session.trialID ? known : try await services.trial(of: session)
        if let trial {
            // A TempPass: its user id names the trial, not a subscriber; it lasts as long as the trial.
            let digest = Insecure.SHA1.hash(data: Data(trial.id.canonicalText.utf8)).map { String(format: "%02x", $0) }.joined()
            let provider = services.directory.providers[session.subject.providerID] as? any TemporaryAccessGranting
            if let started = trial.startedAt, let duration = provider?.duration { notAfter = min(notAfter, started.addingTimeInterval(duration)) }
            attributes["userID"] = Attribute(value: .metadata(.string("temppass_" + digest)), state: "plain")
            attributes["expiration_date"] = Attribute(value: .number(notAfter.epochMilliseconds), state: "plain")
            if let limit = provider?.resourceLimit {
                attributes["remaining_resources"] = Attribute(value: .number(Int64(max(0, limit - trial.resources.count))), state: "plain")
                attributes["used_assets"] = Attribute(value: .metadata(.list(trial.resources)), state: "plain")
            }
        } else {
            for (key, attribute) in try await services.profileAttributes(session: session, tenant: tenant) {
                attributes[key] = Attribute(value: .metadata(attribute.value), state: attribute.encrypted ? "enc" : "plain")
            }
        }
        if session.kind == .ssoProfile { attributes["mvpd"] = Attribute(value: .metadata(.string(session.subject.providerID)), state: "plain") }
        return ProfileBody(notBefore: session.createdAt.epochMilliseconds, notAfter: notAfter.epochMilliseconds, issuer: issuer, type: type,
                           attributes: attributes)
    }

    func profilesBody(_ sessions: [Session], tenant: Tenant, known: TemporaryAccess? = nil) async throws(TesseraError) -> ProfilesBody {
        var profiles: [String: ProfileBody] = [:]
        for session in sessions where profiles[session.subject.providerID] == nil {
            profiles[session.subject.providerID] = try await profileBody(session, tenant: tenant, known: known)
        }
        return ProfilesBody(profiles: profiles)
    }

    /// The application's profile at `providerID` on the device (``Services/profile(tenant:device:applicationID:providerID:identities:temporaryAccessIdentity:)``),
    /// with the TempPass identity header read only when a TempPass starts.
    func profile(_ call: Call, device: DeviceKey, providerID: String,
                 identities: [SingleSignOnIdentity]) async throws(TesseraError) -> (session: Session, trial: TemporaryAccess?)? {
        try await services.profile(tenant: call.tenant, device: device, applicationID: call.applicationID, providerID: providerID,
                                   identities: identities) { () throws(TesseraError) in try call.temporaryAccessIdentity() }
    }

    func addProfileRoutes(to router: V1Routes) {
        router.get("/api/v2/:sp/profiles") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                guard let (device, _) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
                let sessions = try await services.profiles(tenant: call.tenant, device: device, applicationID: call.applicationID,
                                                           identities: try await call.identities())
                return Self.json(try await profilesBody(sessions, tenant: call.tenant))
            }
        }
        router.get("/api/v2/:sp/profiles/:mvpd") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                guard let (device, _) = try call.device() else { throw .invalidParameter(.deviceID, .missing) }
                let providerID = context.parameters.get("mvpd") ?? ""
                guard let found = try await profile(call, device: device, providerID: providerID, identities: try await call.identities()) else {
                    return Self.json(ProfilesBody(profiles: [:]))
                }
                let fixed = found.session.trialID == nil
                if fixed, let encoded = encodedProfiles.value(for: found.session.id) { return Self.json(encoded: encoded) }
                let encoded = (try? Self.encoder.encode(try await profilesBody([found.session], tenant: call.tenant, known: found.trial))) ?? Data("{}".utf8)
                if fixed { encodedProfiles.set(found.session.id, encoded) }
                return Self.json(encoded: encoded)
            }
        }
        // Polled by the first screen until the login with its code completes; empty until then.
        router.get("/api/v2/:sp/profiles/code/:code") { request, context in
            await respond(request, context, serviceProvider: context.parameters.get("sp")) { call throws(TesseraError) in
                let (_, login) = try await services.pendingLogin(tenant: call.tenant, code: context.parameters.get("code") ?? "")
                guard login.description.profile != nil else { throw .loginCode(.unknown) }
                guard case .active(let session) = try await services.sessionState(completedBy: login) else {
                    return Self.json(ProfilesBody(profiles: [:]))
                }
                return Self.json(try await profilesBody([session], tenant: call.tenant))
            }
        }
    }
}
