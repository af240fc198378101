import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// Tessera's service-provider endpoints at a SAML provider (`kind: saml`): its metadata, the
/// assertion consumer service (HTTP-POST) and Single Logout (HTTP-Redirect and HTTP-POST).
/// Sign-in starts at `/idp/{provider}/login` and logout at `/idp/{provider}/logout`, as for
/// every provider (``ProviderPages``).
struct SAMLPages: Sendable {
    let services: Services
    let pages: Pages
    let forms: BrowserForms
    let providerPages: ProviderPages

    /// The AuthnRequest ID of attempt `state` in `browser`: an HMAC, so nothing is stored and only
    /// that browser's Response is taken (an NCName: `_` first).
    static func requestID(forms: BrowserForms, state: String, providerID: String, browser: String) -> String {
        "_" + forms.token(.samlRequest(state: state, providerID: providerID), browser: browser)
    }

    func addRoutes(to router: Routes) {
        router.get("/idp/:provider/saml/metadata") { _, context in
            guard let provider = services.directory.providers[context.parameters.get("provider") ?? ""] as? SAMLProvider else {
                return pages.message("Not found", "No SAML provider has this name.", status: .notFound)
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/samlmetadata+xml"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: services.serviceProviderMetadata(of: provider))))
        }
        // The identity provider posts its Response here (HTTP-POST binding), RelayState = the attempt.
        router.post("/idp/:provider/saml/acs") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await providerPages.page {
                let form = try await RequestParameters(request)
                let state = form["RelayState"] ?? ""
                guard let (attempt, login, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      let provider = services.directory.providers[providerID] as? SAMLProvider
                else { return pages.message(ProviderPages.linkExpired.0, ProviderPages.linkExpired.1, status: .badRequest) }
                let client = services.clientAddress(request, context)
                guard let browserID = BrowserForms.cookie(BrowserForms.cookieName, in: request) else {
                    // A cross-site POST does not carry the browser's SameSite=Lax cookie: one
                    // press on a page of ours posts the same form again, with it.
                    guard form["resubmitted"] == nil else {
                        return providerPages.refused(.missingToken, what: "SAML response", tenant: tenant, client: client)
                    }
                    return pages.render("continue", ["title": "Continue", "providerName": provider.displayName,
                                                     "action": "/idp/\(providerID)/saml/acs", "response": form["SAMLResponse"] ?? "",
                                                     "relayState": state])
                }
                do {
                    let (subject, sealed) = try await services.acceptSAMLResponse(
                        provider: provider, state: state, response: form["SAMLResponse"] ?? "",
                        requestID: Self.requestID(forms: forms, state: state, providerID: providerID, browser: browserID))
                    return providerPages.confirmation(provider: provider, tenant: tenant, login: login, state: state, subject: subject,
                                                      browser: BrowserForms.Browser(id: browserID, setCookie: nil), extraCookie: nil, upstream: sealed)
                } catch let error as TesseraError {
                    throw providerPages.upstreamFailure(error, what: "a SAML sign-in", tenant: tenant, providerID: providerID, client: client)
                }
            }
        }
        // Single Logout: the provider's LogoutRequest (it ended its session), or its LogoutResponse
        // to Tessera's request (the browser goes on to the programmer's redirect URL).
        router.get("/idp/:provider/saml/slo") { request, context in
            await singleLogout(providerID: context.parameters.get("provider") ?? "", binding: .redirect(query: request.uri.query ?? ""))
        }
        router.post("/idp/:provider/saml/slo") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await providerPages.page {
                let form = try await RequestParameters(request)
                guard let message = form["SAMLRequest"] ?? form["SAMLResponse"] else {
                    throw TesseraError.upstreamLogin(.invalidResponse("the logout message is missing"))
                }
                return await singleLogout(providerID: providerID, binding: .post(message: message, relayState: form["RelayState"]))
            }
        }
    }

    private func singleLogout(providerID: String, binding: SAMLServiceProvider.Binding) async -> Response {
        await providerPages.page {
            guard let provider = services.directory.providers[providerID] as? SAMLProvider else {
                return pages.message("Not found", "No SAML provider has this name.", status: .notFound)
            }
            let outcome = try await services.counted(.logout, dialect: "web") { () async throws(TesseraError) in
                try await services.samlLogout(provider: provider, binding: binding)
            }
            switch outcome {
            case .answered(let url?, _), .returned(let url?):
                return ProviderPages.redirect(to: url, status: .found)
            case .answered(nil, _), .returned(nil):
                return pages.message("Signed out", "You are signed out. You can close this page.", status: .ok)
            }
        }
    }
}
