import Foundation

/// Every error a front door can answer with. Each case knows its code, HTTP status, recommended
/// action and message; a front door only renders them in its dialect's shape.
///
/// Codes come from Adobe's enhanced error catalogue. The v1 catalogue has no code for some
/// parameters of the browser flow (reg_code, mso_id, redirect_url, ttl); there the v2 code of the
/// same parameter is used (`invalid_parameter_code`, `invalid_parameter_mvpd`, …), and
/// `invalid_parameter_domain_name` / `invalid_parameter_ttl` follow the same naming.
public enum TesseraError: Error, Sendable, Equatable {
    // Parameters
    case invalidRequestor
    case invalidParameter(Parameter, Problem)
    case invalidDeviceInfo(String)
    case unknownIntegration(String)
    case registrationCode(CodeProblem, status: Int)
    // Callers
    case missingCredentials
    case invalidAccessToken(String)
    case accessTokenForAnotherTenant
    case invalidLegacySignature(String)
    // Sessions and decisions (status depends on the endpoint, as in Adobe's catalogue)
    case notAuthenticated(status: Int)
    case authenticationExpired(status: Int)
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

    public enum Parameter: String, Sendable {
        case deviceID = "deviceId", registrationCode = "reg_code", provider = "mso_id", mvpd = "mvpd"
        case redirectURL = "redirect_url", domainName = "domain_name", ttl = "ttl", resource = "resource"
        case deviceUser = "deviceUser", deviceType = "deviceType", appID = "appId"
    }

    public enum Problem: Sendable, Equatable {
        case missing, malformed, tooLong, notAllowed
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

    public var status: Int {
        switch self {
        case .invalidRequestor, .invalidParameter, .invalidDeviceInfo, .unknownIntegration, .malformedRequest: 400
        case .registrationCode(_, let status): status
        case .missingCredentials, .invalidAccessToken, .accessTokenForAnotherTenant, .invalidLegacySignature: 401
        case .notAuthenticated(let status), .authenticationExpired(let status): status
        case .authorizationNotFound, .metadataNotFound: 404
        case .authorizationExpired: 410
        case .authorizationDenied, .parentalControl, .tooManyResources, .temporaryAccessDurationExceeded, .temporaryAccessResourcesExceeded: 403
        case .malformedResource, .invalidTemporaryAccessIdentity: 400
        case .preauthorizationNotAuthenticated: 412
        case .metadataEncryptionFailed: 500
        case .clientRegistration: 400
        case .tooManyRequests: 429
        case .storageFailure: 500
        case .payloadTooLarge: 413
        case .methodNotAllowed: 405
        }
    }

    public var code: String {
        switch self {
        case .invalidRequestor: "invalid_requestor"
        case .invalidParameter(let parameter, _):
            switch parameter {
            case .deviceID: "invalid_device_id"
            case .registrationCode: "invalid_parameter_code"
            case .provider, .mvpd: "invalid_parameter_mvpd"
            case .redirectURL: "invalid_parameter_redirect_url"
            case .domainName: "invalid_parameter_domain_name"
            case .ttl: "invalid_parameter_ttl"
            case .resource: "missing_resource"
            case .deviceUser, .deviceType, .appID: "malformed_authz_request"
            }
        case .invalidDeviceInfo: "invalid_device_info"
        case .unknownIntegration: "unknown_integration"
        case .registrationCode: "invalid_parameter_code"
        case .missingCredentials, .invalidAccessToken, .invalidLegacySignature: "invalid_access_token_client_application"
        case .accessTokenForAnotherTenant: "invalid_access_token_service_provider"
        case .notAuthenticated: "authentication_session_missing"
        case .authenticationExpired: "authentication_session_expired"
        case .authorizationNotFound: "authorization_not_found"
        case .authorizationExpired: "authorization_expired"
        case .authorizationDenied: "authorization_denied_by_mvpd"
        case .parentalControl: "authorization_denied_by_parental_controls"
        case .malformedResource: "malformed_authz_request"
        case .tooManyResources: "too_many_resources"
        case .preauthorizationNotAuthenticated(let expired):
            expired ? "preauthorization_authentication_session_expired" : "preauthorization_authentication_session_missing"
        case .temporaryAccessDurationExceeded: "temporary_access_duration_limit_exceeded"
        case .temporaryAccessResourcesExceeded: "temporary_access_resources_limit_exceeded"
        case .invalidTemporaryAccessIdentity: "invalid_header_identity_for_temporary_access"
        // The v1 catalogue has no code for "this subscriber has no metadata"; this one is Tessera's.
        case .metadataNotFound: "user_metadata_not_found"
        case .metadataEncryptionFailed: "invalid_configuration_user_metadata_certificate"
        case .clientRegistration(let e): e.rawValue
        case .malformedRequest, .storageFailure, .methodNotAllowed: "internal_error"
        // No v1 code says "too large"; this one is Tessera's, and it is not of the retry class.
        case .payloadTooLarge: "payload_too_large"
        case .tooManyRequests: "too_many_requests"
        }
    }

    public var action: String {
        switch self {
        case .missingCredentials, .invalidAccessToken, .accessTokenForAnotherTenant, .invalidLegacySignature: "application-registration"
        case .notAuthenticated, .authenticationExpired, .preauthorizationNotAuthenticated,
             .temporaryAccessDurationExceeded, .temporaryAccessResourcesExceeded: "authentication"
        case .tooManyResources, .metadataEncryptionFailed: "configuration"
        case .authorizationNotFound, .authorizationExpired: "authorization"
        case .unknownIntegration: "configuration"
        case .tooManyRequests, .storageFailure: "retry"
        default: "none"
        }
    }

    /// The user-facing message. Where Adobe's pages quote the legacy message of an endpoint
    /// (checkauthn's "Authentication token expired", tokens' "Not Found"), that one is used.
    public var message: String {
        switch self {
        case .invalidRequestor: "The requestor parameter is missing or invalid."
        case .invalidParameter(let parameter, .missing): "Required '\(parameter.rawValue)' is not present"
        case .invalidParameter(let parameter, .tooLong): "The \(parameter.rawValue) parameter value is too long."
        case .invalidParameter(let parameter, .notAllowed): "The \(parameter.rawValue) parameter value is not allowed for this requestor."
        case .invalidParameter(let parameter, .malformed): "The \(parameter.rawValue) parameter value is missing or invalid."
        case .invalidDeviceInfo: "The device information is missing or invalid."
        case .unknownIntegration: "The integration between the specified requestor and MVPD is missing or disabled."
        case .registrationCode(.unknown, _): "The registration code is unknown."
        case .registrationCode(.expired, _): "The registration code has expired."
        case .registrationCode(.alreadyUsed, _): "The registration code has already been used."
        case .missingCredentials: "Not Authorized: the access token is missing."
        case .invalidAccessToken: "The access token is invalid or expired for this client application."
        case .accessTokenForAnotherTenant: "The access token was issued for another requestor."
        case .invalidLegacySignature: "Not Authorized"
        case .notAuthenticated(let status), .authenticationExpired(let status):
            switch status {
            case 404: "Not Found"
            case 410: "Gone"
            case 412: "User not authenticated"
            default: "Authentication token expired"
            }
        case .authorizationNotFound, .metadataNotFound: "Not Found"
        case .authorizationExpired: "Gone"
        case .authorizationDenied: "User not authorized"
        case .parentalControl: "The authorization was denied by parental controls."
        case .malformedResource: "The resource parameter is not a valid resource id or MRSS fragment."
        case .tooManyResources(let limit): "Too many resources: at most \(limit) per request."
        case .preauthorizationNotAuthenticated: "User not authenticated"
        case .temporaryAccessDurationExceeded: "The temporary access duration limit has been exceeded."
        case .temporaryAccessResourcesExceeded: "The temporary access resources limit has been exceeded."
        case .invalidTemporaryAccessIdentity: "The identity for temporary access is missing or invalid."
        case .metadataEncryptionFailed: "The user metadata certificate is missing or invalid."
        case .clientRegistration(let e): e.rawValue
        case .malformedRequest: "The request is malformed."
        case .payloadTooLarge(let limit): "The request body is larger than \(limit) bytes."
        case .methodNotAllowed(let allowed): "This resource answers \(allowed.joined(separator: ", ")) only."
        case .tooManyRequests: "Too Many Requests"
        case .storageFailure: "The request could not be stored. Retry later."
        }
    }

    /// Extra text for the caller: what exactly was wrong.
    public var details: String? {
        switch self {
        case .invalidDeviceInfo(let d), .invalidAccessToken(let d), .invalidLegacySignature(let d), .malformedRequest(let d), .malformedResource(let d): d
        case .authorizationDenied(let d), .parentalControl(let d): d
        case .unknownIntegration(let provider): "Unknown provider: \(provider)"
        default: nil
        }
    }
}
