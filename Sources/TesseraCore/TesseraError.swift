import Foundation

/// What went wrong, in the core's terms: a missing parameter, an expired session, a foreign
/// tenant… Each front door owns a catalogue that maps a case to its dialect's status, code and
/// message (v1: `ClientlessV1/V1Errors.swift`); a new dialect adds its catalogue without touching
/// another's, and nothing here knows a status code or a dialect's parameter name.
public enum TesseraError: Error, Sendable, Equatable, CustomStringConvertible {
    // Parameters
    case invalidRequestor
    case invalidParameter(Parameter, Problem)
    case invalidDeviceInfo(String)
    case unknownIntegration(String)
    /// A pending login's code (Adobe: registration code).
    case loginCode(CodeProblem)
    // Callers
    case missingCredentials
    case invalidAccessToken(String)
    case accessTokenForAnotherTenant
    case invalidLegacySignature(String)
    /// The caller names an application the tenant does not have.
    case unknownApplication
    /// A session proof that none of the application's keys decrypts.
    case undecryptableProof
    /// A direct sign-in (password or keyed signature) was refused.
    case signIn(SignInFailure)
    // Sessions and decisions
    case noSession
    case sessionExpired
    case authorizationNotFound
    case authorizationExpired
    case authorizationDenied(details: String?)
    case parentalControl(details: String?)
    case malformedResource(String)
    case tooManyResources(limit: Int)
    case preauthorizationNotAuthenticated(expired: Bool)
    case temporaryAccessDurationExceeded
    case temporaryAccessResourcesExceeded
    case invalidTemporaryAccessIdentity
    case metadataNotFound
    case metadataEncryptionFailed
    /// A signed SSO token (platform identity or service token) that does not verify, with why.
    case invalidSingleSignOnToken(SSOKey.Scheme, String)
    /// A degradation rule denies every resource of the provider.
    case deniedByDegradation(details: String?)
    /// The caller accepts no media type the dialect answers in.
    case notAcceptable
    /// A partner framework's status that does not allow its single sign-on.
    case partnerFrameworkStatus(PartnerStatusProblem)
    /// A partner's SAML assertion that does not verify, with why.
    case invalidPartnerAssertion(String)
    /// A partner single sign-on Tessera does not take (REST v2 takes Apple's only).
    case unknownPartner
    // Dynamic Client Registration (RFC 7591 / 6749 shape)
    case clientRegistration(ClientRegistrationError)
    // Transport
    case malformedRequest(String)
    /// A body over the limit (bytes).
    case payloadTooLarge(limit: Int)
    /// A method the path does not have; `allowed` are the ones it has.
    case methodNotAllowed(allowed: [String])
    case tooManyRequests
    case storageFailure
    /// A sign-in at an upstream (OpenID Connect) provider did not give a subscriber.
    case upstreamLogin(UpstreamProblem)

    /// A request's parameter, by what it means; each dialect names it its own way.
    public enum Parameter: Sendable, Equatable {
        case deviceID, loginCode, provider, redirectURL, domainName, ttl, resource, deviceUser, deviceType, appID
        /// A direct sign-in's account, client type and token; a keyed signature's parts.
        case account, clientType, token, signature, nonce, userID, expiry
        /// A user-session sign-in's password; a session proof's timestamp; a password change's
        /// state token and new password.
        case password, timestamp, stateToken, newPassword
    }

    public enum Problem: Sendable, Equatable {
        case missing, malformed, tooLong, notAllowed
        /// Outside the window the server accepts (a signed timestamp).
        case stale
    }

    /// Why an upstream provider's sign-in gave no subscriber.
    public enum UpstreamProblem: Sendable, Equatable {
        /// The provider said no (its `error`: `access_denied`, `login_required` …).
        case refused(String)
        /// The provider did not answer in time, answered 5xx, or could not be reached.
        case unavailable
        /// What the provider sent does not hold (an id_token's signature, issuer, audience,
        /// nonce, expiry; a token answer without an id_token).
        case invalidResponse(String)
    }

    public enum CodeProblem: String, Sendable {
        case unknown, expired, alreadyUsed
    }

    public enum ClientRegistrationError: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidRedirectURI = "invalid_redirect_uri"
        case invalidSoftwareStatement = "invalid_software_statement"
        case unapprovedSoftwareStatement = "unapproved_software_statement"
        case invalidClient = "invalid_client"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
    }

    /// What went wrong, in the core's words: for logs, and for front doors whose catalogue
    /// has no text of its own for it.
    public var description: String {
        switch self {
        case .invalidRequestor: "the tenant is missing or unknown"
        case .invalidParameter(let parameter, let problem): "the \(parameter) parameter is \(problem)"
        case .invalidDeviceInfo: "the device information is missing or invalid"
        case .unknownIntegration(let provider): "the tenant does not offer the provider \(provider)"
        case .loginCode(let problem): "the login code is \(problem)"
        case .missingCredentials: "the caller gave no credentials"
        case .invalidAccessToken: "the caller's access token is invalid"
        case .accessTokenForAnotherTenant: "the caller's access token is for another tenant"
        case .invalidLegacySignature: "the caller's signature is invalid"
        case .unknownApplication: "the application is unknown"
        case .undecryptableProof: "the session proof does not decrypt"
        case .signIn(let failure): "the sign-in was refused: \(failure)"
        case .noSession: "there is no session"
        case .sessionExpired: "the session has expired"
        case .authorizationNotFound: "there is no decision for the resource"
        case .authorizationExpired: "the decision for the resource has expired"
        case .authorizationDenied: "the provider denied the resource"
        case .parentalControl: "parental controls denied the resource"
        case .malformedResource: "the resource is malformed"
        case .tooManyResources(let limit): "more than \(limit) resources"
        case .preauthorizationNotAuthenticated(let expired): expired ? "the session has expired" : "there is no session"
        case .temporaryAccessDurationExceeded: "the temporary access has used up its time"
        case .temporaryAccessResourcesExceeded: "the temporary access has used up its resources"
        case .invalidTemporaryAccessIdentity: "the identity for temporary access is invalid"
        case .metadataNotFound: "the subscriber has no metadata"
        case .metadataEncryptionFailed: "the metadata could not be encrypted"
        case .invalidSingleSignOnToken(let scheme, _): "the \(scheme.rawValue) single sign-on token is invalid"
        case .deniedByDegradation: "a degradation rule denies the resource"
        case .notAcceptable: "the caller accepts no media type the server answers in"
        case .partnerFrameworkStatus(let problem): "the partner framework status: \(problem)"
        case .invalidPartnerAssertion: "the partner's assertion is invalid"
        case .unknownPartner: "no such single sign-on partner"
        case .clientRegistration(let e): "client registration: \(e.rawValue)"
        case .malformedRequest: "the request is malformed"
        case .payloadTooLarge(let limit): "the body is larger than \(limit) bytes"
        case .methodNotAllowed(let allowed): "the resource answers \(allowed.joined(separator: ", ")) only"
        case .tooManyRequests: "too many requests"
        case .storageFailure: "the store failed"
        case .upstreamLogin(.refused(let error)): "the provider refused the sign-in (\(error))"
        case .upstreamLogin(.unavailable): "the provider did not answer"
        case .upstreamLogin(.invalidResponse(let why)): "the provider's answer does not hold: \(why)"
        }
    }

    /// Extra text for the caller: what exactly was wrong.
    public var details: String? {
        switch self {
        case .invalidDeviceInfo(let d), .invalidAccessToken(let d), .invalidLegacySignature(let d), .malformedRequest(let d), .malformedResource(let d): d
        case .authorizationDenied(let d), .parentalControl(let d), .deniedByDegradation(let d): d
        case .invalidSingleSignOnToken(_, let d), .invalidPartnerAssertion(let d): d
        case .unknownIntegration(let provider): "Unknown provider: \(provider)"
        default: nil
        }
    }
}
