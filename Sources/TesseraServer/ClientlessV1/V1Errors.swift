import TesseraCore
import TesseraServices

/// What of v1's catalogue depends on the endpoint: the status of a device with no session
/// (checkauthn 403, tokens/authn 404, tokens/authz 412…), of an expired one (410 on the token
/// calls), of an unknown registration code (404 on a lookup, 400 when a browser starts a login
/// with it), and the name of the provider parameter (`mso_id`, but `mvpd` on regcode).
struct V1Endpoint: Sendable {
    var sessionMissing = 403
    var sessionExpired = 403
    var unknownCode = 404
    var providerParameter = "mso_id"

    static let standard = V1Endpoint()
}

/// v1's error catalogue: each core error as Adobe's enhanced error (status, code, action,
/// message). Codes come from Adobe's enhanced error catalogue. The v1 catalogue has no code for
/// some parameters of the browser flow (reg_code, mso_id, redirect_url, ttl); there the v2 code
/// of the same parameter is used (`invalid_parameter_code`, `invalid_parameter_mvpd`, …), and
/// `invalid_parameter_domain_name` / `invalid_parameter_ttl` follow the same naming.
enum V1Errors {
    struct Entry: Sendable, Equatable {
        let status: Int
        let code: String
        let action: String
        let message: String
        let details: String?
    }

    static func entry(_ error: TesseraError, _ endpoint: V1Endpoint = .standard) -> Entry {
        let status = status(error, endpoint)
        return Entry(status: status, code: code(error), action: action(error), message: message(error, status: status, endpoint: endpoint),
                     details: error.details)
    }

    /// A parameter's name on the wire.
    static func name(of parameter: TesseraError.Parameter, at endpoint: V1Endpoint = .standard) -> String {
        switch parameter {
        case .deviceID: "deviceId"
        case .loginCode: "reg_code"
        case .provider: endpoint.providerParameter
        case .redirectURL: "redirect_url"
        case .domainName: "domain_name"
        case .ttl: "ttl"
        case .resource: "resource"
        case .deviceUser: "deviceUser"
        case .deviceType: "deviceType"
        case .appID: "appId"
        // Parameters of direct sign-ins, which v1 does not have.
        case .account: "account"
        case .clientType: "clientType"
        case .token: "token"
        case .signature: "signature"
        case .nonce: "nonce"
        case .userID: "userId"
        case .expiry: "expireTime"
        case .password: "password"
        case .timestamp: "timestamp"
        case .stateToken: "state_token"
        case .newPassword: "new_password"
        }
    }

    /// The status: fixed per case, but per endpoint for a missing or expired session and an unknown code.
    static func status(_ error: TesseraError, _ endpoint: V1Endpoint) -> Int {
        switch error {
        case .invalidRequestor, .invalidParameter, .invalidDeviceInfo, .unknownIntegration, .malformedRequest: 400
        case .loginCode(.alreadyUsed): 400
        case .loginCode: endpoint.unknownCode
        case .missingCredentials, .invalidAccessToken, .accessTokenForAnotherTenant, .invalidLegacySignature, .signIn: 401
        // Errors of other dialects' calls, which v1 never makes.
        case .unknownApplication, .undecryptableProof: 401
        case .noSession: endpoint.sessionMissing
        case .sessionExpired: endpoint.sessionExpired
        case .authorizationNotFound, .metadataNotFound: 404
        case .authorizationExpired: 410
        case .authorizationDenied, .parentalControl, .tooManyResources, .temporaryAccessDurationExceeded, .temporaryAccessResourcesExceeded: 403
        case .malformedResource, .invalidTemporaryAccessIdentity, .invalidSingleSignOnToken: 400
        case .partnerFrameworkStatus, .invalidPartnerAssertion, .unknownPartner: 400
        case .deniedByDegradation: 403
        case .notAcceptable: 406
        case .preauthorizationNotAuthenticated: 412
        case .metadataEncryptionFailed: 500
        case .clientRegistration: 400
        case .tooManyRequests: 429
        case .storageFailure: 500
        // A sign-in at an upstream provider happens on the pages; should v1 ever carry it: a gateway's status.
        case .upstreamLogin(.unavailable): 502
        case .upstreamLogin: 403
        case .payloadTooLarge: 413
        case .methodNotAllowed: 405
        }
    }

    static func code(_ error: TesseraError) -> String {
        switch error {
        case .invalidRequestor: "invalid_requestor"
        case .invalidParameter(let parameter, _):
            switch parameter {
            case .deviceID: "invalid_device_id"
            case .loginCode: "invalid_parameter_code"
            case .provider: "invalid_parameter_mvpd"
            case .redirectURL: "invalid_parameter_redirect_url"
            case .domainName: "invalid_parameter_domain_name"
            case .ttl: "invalid_parameter_ttl"
            case .resource: "missing_resource"
            case .deviceUser, .deviceType, .appID: "malformed_authz_request"
            case .account, .clientType, .token, .signature, .nonce, .userID, .expiry, .password, .timestamp, .stateToken, .newPassword:
                "invalid_request"
            }
        case .invalidDeviceInfo: "invalid_device_info"
        case .unknownIntegration: "unknown_integration"
        case .loginCode: "invalid_parameter_code"
        case .missingCredentials, .invalidAccessToken, .invalidLegacySignature, .signIn, .unknownApplication, .undecryptableProof:
            "invalid_access_token_client_application"
        case .accessTokenForAnotherTenant: "invalid_access_token_service_provider"
        case .noSession: "authentication_session_missing"
        case .sessionExpired: "authentication_session_expired"
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
        case .upstreamLogin(.unavailable): "network_connection_failure"
        case .upstreamLogin: "authentication_denied_by_mvpd"
        // No v1 code says "too large"; this one is Tessera's, and it is not of the retry class.
        case .payloadTooLarge: "payload_too_large"
        case .tooManyRequests: "too_many_requests"
        case .deniedByDegradation: "authorization_denied_by_degradation_rule"
        // No v1 code for these (v1 takes no SSO tokens and answers XML as well): Tessera's, in v2's pattern.
        case .invalidSingleSignOnToken(let scheme, _): scheme == .platform ? "invalid_header_subject_token" : "invalid_header_service_token"
        case .notAcceptable: "invalid_header_accept"
        case .partnerFrameworkStatus(let problem): V2Errors.partnerStatusEntry(problem).code
        case .invalidPartnerAssertion: "invalid_parameter_saml_response"
        case .unknownPartner: "invalid_parameter_partner"
        }
    }

    static func action(_ error: TesseraError) -> String {
        switch error {
        case .missingCredentials, .invalidAccessToken, .accessTokenForAnotherTenant, .invalidLegacySignature: "application-registration"
        case .noSession, .sessionExpired, .preauthorizationNotAuthenticated,
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
    static func message(_ error: TesseraError, status: Int, endpoint: V1Endpoint) -> String {
        switch error {
        case .invalidRequestor: "The requestor parameter is missing or invalid."
        case .invalidParameter(let parameter, .missing): "Required '\(name(of: parameter, at: endpoint))' is not present"
        case .invalidParameter(let parameter, .tooLong): "The \(name(of: parameter, at: endpoint)) parameter value is too long."
        case .invalidParameter(let parameter, .notAllowed): "The \(name(of: parameter, at: endpoint)) parameter value is not allowed for this requestor."
        case .invalidParameter(let parameter, .malformed), .invalidParameter(let parameter, .stale):
            "The \(name(of: parameter, at: endpoint)) parameter value is missing or invalid."
        case .invalidDeviceInfo: "The device information is missing or invalid."
        case .unknownIntegration: "The integration between the specified requestor and MVPD is missing or disabled."
        case .loginCode(.unknown): "The registration code is unknown."
        case .loginCode(.expired): "The registration code has expired."
        case .loginCode(.alreadyUsed): "The registration code has already been used."
        case .missingCredentials: "Not Authorized: the access token is missing."
        case .invalidAccessToken: "The access token is invalid or expired for this client application."
        case .accessTokenForAnotherTenant: "The access token was issued for another requestor."
        case .invalidLegacySignature, .signIn, .unknownApplication, .undecryptableProof: "Not Authorized"
        case .noSession, .sessionExpired:
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
        case .upstreamLogin(.unavailable): "The MVPD did not answer. Retry later."
        case .upstreamLogin: "The MVPD did not sign the subscriber in."
        case .deniedByDegradation: "The integration has an AuthZNone rule applied for the requested resources"
        case .invalidSingleSignOnToken(let scheme, _):
            scheme == .platform ? "The platform subject token header value is invalid." : "The service token header value is invalid."
        case .notAcceptable: "The Accept header must allow application/json."
        case .partnerFrameworkStatus, .invalidPartnerAssertion, .unknownPartner: "The partner single sign-on request is invalid."
        }
    }

}
