import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// Tessera's own second-screen page: `GET /activate` (enter the code, pick the provider),
/// `POST /activate` (sends the browser to the provider's login page), `GET /activate/done`.
struct ActivationPages: Sendable {
    let services: Services
    let pages: Pages
    let forms: BrowserForms

    func addRoutes(to router: Routes) {
        router.get("/activate") { request, _ in
            let query = RequestParameters(query: request.uri.query)
            guard let tenant = tenant(query["requestor"]) else {
                return pages.message("Unknown service", "This activation page does not know that service.", status: .notFound)
            }
            return form(tenant: tenant, code: query["code"].map { String($0.prefix(16)) } ?? "", provider: nil, error: nil, status: .ok,
                        browser: forms.browser(of: request))
        }
        router.post("/activate") { request, context in
            let form: RequestParameters
            do throws(TesseraError) { form = try await RequestParameters(request) } catch { return pages.message(for: error) }
            guard let tenant = tenant(form["requestor"]) else {
                return pages.message("Unknown service", "This activation page does not know that service.", status: .notFound)
            }
            let code = String((form["code"] ?? "").prefix(16))
            let provider = form["provider"] ?? ""
            let client = services.clientAddress(request, context)
            // Another site's form (or a script's POST without this browser's page) begins nothing.
            if let refusal = forms.check(request, form: form, purpose: .activation) {
                services.logger.notice("security: activation form refused: \(refusal.rawValue)", metadata: [
                    "event": "form-refused", "tenant": .string(tenant.id), "client": .string(client)])
                return pages.message("Start again", "This page was not opened from this site. Open the activation page again.", status: .forbidden)
            }
            do throws(TesseraError) {
                let done = "/activate/done?requestor=\(tenant.id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
                let state = try await services.beginLogin(tenant: tenant, code: code, providerID: provider, returnURL: done, client: client)
                return ProviderPages.redirect(to: ProviderPages.loginPath(provider: provider, state: state), status: .seeOther)
            } catch {
                let text = switch error {
                case .loginCode(.expired): "This code has expired. Ask your TV for a new code."
                case .loginCode(.alreadyUsed): "This code has already been used."
                case .loginCode: "This code is not valid. Check the code on your TV."
                case .unknownIntegration: "Choose one of the listed providers."
                case .tooManyRequests: "Too many attempts. Wait a few minutes and try again."
                default: "Something went wrong. Try again in a moment."
                }
                return self.form(tenant: tenant, code: code, provider: provider, error: text, status: Pages.status(of: error),
                                 browser: forms.browser(of: request))
            }
        }
        router.get("/activate/done") { request, _ in
            let name = tenant(RequestParameters(query: request.uri.query)["requestor"])?.name ?? "your service"
            return pages.render("message", ["title": "You're signed in", "heading": "You're signed in", "tenantName": name,
                                            "text": "\(name) is activated. Go back to your TV: it will continue by itself."])
        }
    }

    /// The tenant named, or the first configured one when none is named.
    private func tenant(_ id: String?) -> Tenant? {
        guard let id, !id.isEmpty else { return services.directory.tenantOrder.first.flatMap(services.directory.tenant) }
        return services.directory.tenant(id)
    }

    private func form(tenant: Tenant, code: String, provider: String?, error: String?, status: HTTPResponse.Status,
                      browser: BrowserForms.Browser) -> Response {
        let providers: [[String: Any]] = tenant.providerIDs.compactMap { services.directory.provider($0, for: tenant) }.map {
            ["id": $0.id, "name": $0.displayName, "selected": $0.id == provider]
        }
        var values: [String: Any] = ["title": "Activate \(tenant.name)", "tenantName": tenant.name, "requestor": tenant.id,
                                     "code": code, "providers": providers, "csrf": forms.token(.activation, browser: browser.id)]
        if let error { values["error"] = error }
        return pages.render("activate", values, status: status, headers: ProviderPages.cookies([browser.setCookie]))
    }
}
