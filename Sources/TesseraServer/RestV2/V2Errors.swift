import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// REST API v2's error catalogue (adobe-pass.md 11.2): each core error as Adobe's enhanced error,
/// at the top level of a 4xx/5xx answer or under `error` of one decision while the call answers 200.
///
/// Where the catalogue has no code (an SSO token that does not verify, a domain name outside the
/// tenant's domains, an `Accept` that is not JSON, a body too large), the code follows its
/// `invalid_header_*` / `invalid_parameter_*` pattern; each is marked below.
enum V2Errors {
    struct Entry: Sendable, Equatable {
        let status: Int
        let code: String
        let action: String
        let message: String
        let details: String?
    }

    static func entry(_ error: TesseraError) -> Entry {
        let (status, code, action, message) = describe(error)
        return Entry(status: status, code: code, action: action, message: message, details: error.details)
    }

    private static func describe(_ error: TesseraError) -> (Int, String, String, String) {
        switch error {
        case .invalidRequestor:
            return (400, "invalid_parameter_service_provider", "none", "The service provider parameter value is missing or invalid.")
        case .invalidParameter(let parameter, _):
            switch parameter {
            case .deviceID: return (400, "invalid_header_device_identifier", "none", "The device identifier header value is missing or invalid.")
            case .loginCode: return (400, "invalid_parameter_code", "none", "The code parameter value is missing or invalid.")
            case .provider: return (400, "invalid_parameter_mvpd", "none", "The mvpd parameter value is missing or invalid.")
            case .redirectURL: return (400, "invalid_parameter_redirect_url", "none", "The redirect url parameter value is missing or invalid.")
            // Not in the catalogue: the redirect URL's code, for the other half of the same check.
            case .domainName: return (400, "invalid_parameter_domain_name", "none", "The domain name parameter value is missing or invalid.")
            case .resource: return (400, "invalid_parameter_resources", "none", "The resources parameter value is missing or invalid.")
            default: return (400, "invalid_request", "none", "The request is missing a parameter or has an invalid one.")
            }
        case .malformedResource:
            return (400, "invalid_parameter_resources", "none", "The resources parameter value is missing or invalid.")
        case .invalidDeviceInfo:
            return (400, "invalid_header_device_info", "none", "The device information header value is missing or invalid.")
        case .unknownIntegration:
            return (400, "invalid_integration", "none", "The service provider and MVPD integration is missing or disabled.")
        case .loginCode(.unknown):
            return (400, "invalid_parameter_code", "none", "The code parameter value is missing or invalid.")
        case .loginCode:
            return (400, "invalid_authentication_session", "none", "The authentication session is invalid or has expired.")
        case .missingCredentials, .invalidAccessToken, .invalidLegacySignature, .signIn, .unknownApplication, .undecryptableProof:
            return (401, "invalid_access_token_client_application", "application-registration",
                    "The access token is missing, invalid or expired for this client application.")
        case .accessTokenForAnotherTenant:
            return (401, "invalid_access_token_service_provider", "application-registration",
                    "The access token was issued for another service provider.")
        case .noSession, .preauthorizationNotAuthenticated(expired: false):
            return (403, "authenticated_profile_missing", "authentication", "The authenticated profile is missing.")
        case .sessionExpired, .preauthorizationNotAuthenticated(expired: true):
            return (403, "authenticated_profile_expired", "authentication", "The authenticated profile has expired.")
        case .authorizationNotFound, .authorizationExpired:
            return (403, "authorization_denied_by_mvpd", "none",
                    "The MVPD has returned a \"Deny\" decision when requesting authorization for the specified resource.")
        case .authorizationDenied:
            return (403, "authorization_denied_by_mvpd", "none",
                    "The MVPD has returned a \"Deny\" decision when requesting authorization for the specified resource.")
        case .parentalControl:
            return (403, "authorization_denied_by_parental_controls", "none",
                    "The MVPD has returned a \"Deny\" decision due to parental control settings for the specified resource.")
        case .deniedByDegradation:
            return (403, "authorization_denied_by_degradation_rule", "none",
                    "The integration has an AuthZNone rule applied for the requested resources")
        case .tooManyResources:
            return (403, "too_many_resources", "configuration", "The request contains too many resources.")
        case .temporaryAccessDurationExceeded:
            return (403, "temporary_access_duration_limit_exceeded", "authentication", "The temporary access duration limit has been exceeded.")
        case .temporaryAccessResourcesExceeded:
            return (403, "temporary_access_resources_limit_exceeded", "authentication", "The temporary access resources limit has been exceeded.")
        case .invalidTemporaryAccessIdentity:
            return (400, "invalid_header_identity_for_temporary_access", "none",
                    "The identity for temporary access header value is missing or invalid.")
        case .metadataNotFound, .metadataEncryptionFailed:
            return (500, "invalid_configuration_user_metadata_certificate", "configuration",
                    "The user metadata certificate configuration is missing or invalid.")
        // Not in the catalogue (Adobe documents none for a token that fails): the header's name.
        case .invalidSingleSignOnToken(let scheme, _):
            return scheme == .platform
                ? (400, "invalid_header_subject_token", "none", "The platform subject token header value is invalid.")
                : (400, "invalid_header_service_token", "none", "The service token header value is invalid.")
        case .partnerFrameworkStatus(let problem):
            let (code, message) = partnerStatusEntry(problem)
            return (400, code, "none", message)
        case .invalidPartnerAssertion:
            return (400, "invalid_parameter_saml_response", "none", "The SAML response parameter value is missing or invalid.")
        case .unknownPartner:
            return (400, "invalid_parameter_partner", "none", "The partner parameter value is missing or invalid.")
        // Not in the catalogue: v2 answers JSON only, and says so.
        case .notAcceptable:
            return (406, "invalid_header_accept", "none", "The Accept header must allow application/json.")
        case .malformedRequest:
            return (400, "invalid_request", "none", "The request is malformed.")
        case .payloadTooLarge(let limit):
            return (413, "payload_too_large", "none", "The request body is larger than \(limit) bytes.")
        case .methodNotAllowed(let allowed):
            return (405, "method_not_allowed", "none", "This resource answers \(allowed.joined(separator: ", ")) only.")
        case .tooManyRequests:
            return (429, "too_many_requests", "retry", "Too Many Requests")
        case .clientRegistration:
            return (400, "invalid_request", "none", "The request is malformed.")
        case .storageFailure:
            return (500, "internal_server_error", "retry", "The request could not be completed. Retry later.")
        // A sign-in at an upstream provider happens on the pages; should v2 ever carry it: a gateway's status.
        case .upstreamLogin(.unavailable):
            return (502, "network_connection_failure", "retry", "The MVPD did not answer. Retry later.")
        case .upstreamLogin:
            return (403, "authentication_denied_by_mvpd", "authentication", "The MVPD did not sign the subscriber in.")
        }
    }

    /// The partner framework status codes and messages (adobe-pass.md 10.2, 11.2).
    static func partnerStatusEntry(_ problem: PartnerStatusProblem) -> (code: String, message: String) {
        switch problem {
        case .permissionAccessNotPresent:
            ("invalid_header_pfs_permission_access_not_present", "The partner framework status header value is missing the permission access information.")
        case .permissionAccessNotDetermined:
            ("invalid_header_pfs_permission_access_not_determined", "The user has not decided whether to grant the application access to the subscription information.")
        case .permissionAccessNotGranted:
            ("invalid_header_pfs_permission_access_not_granted", "The user has not granted the application access to the subscription information.")
        case .providerIDNotDetermined:
            ("invalid_header_pfs_provider_id_not_determined", "The partner framework status header value is missing the provider identifier.")
        case .providerIDMismatch:
            ("invalid_header_pfs_provider_id_mismatch", "The provider identifier of the partner framework status does not match the mvpd.")
        case .providerInfoExpired:
            ("invalid_header_pfs_provider_info_expired", "The partner framework provider information has expired.")
        }
    }

    /// The error object (`ErrorInformation`).
    struct Body: Encodable {
        let action: String
        let status: Int
        let code: String
        let message: String
        let details: String?
        let helpUrl: String
        let trace: String
    }

    static func body(_ error: TesseraError, helpURL: String, trace: String) -> Body {
        let entry = entry(error)
        return Body(action: entry.action, status: entry.status, code: entry.code, message: entry.message, details: entry.details,
                    helpUrl: helpURL, trace: trace)
    }

    /// A top-level error answer.
    static func response(_ error: TesseraError, helpURL: String, trace: String) -> Response {
        let body = body(error, helpURL: helpURL, trace: trace)
        var response = RestV2.json(body, status: HTTPResponse.Status(code: body.status))
        if case .methodNotAllowed(let allowed) = error { response.headers[.allow] = allowed.joined(separator: ", ") }
        return response
    }
}
