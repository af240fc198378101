import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices
import TesseraStore

/// The directory provider's side: its login page (`/idp/{provider}/login`) and, where the
/// provider has one, its logout page (`/idp/{provider}/logout`). A successful login sets the
/// provider's own browser-session cookie, so signing in again there needs no password until
/// its logout page ends it.
struct ProviderPages: Sendable {
    let services: Services
    let pages: Pages
    let forms: BrowserForms
    static let cookieName = "tessera_idp"
    static let browserSessionLifetime: TimeInterval = 12 * 3600

    static func loginPath(provider: String, state: String) -> String {
        "/idp/\(provider.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? provider)/login?state=\(state)"
    }

    /// The provider's logout page, which ends its browser session and then (REST v2 logout)
    /// sends the browser to `redirect`; absolute when the public base URL is configured.
    /// `hint`: the ended session's id_token sealed for the provider's page (an OpenID Connect
    /// provider's `id_token_hint`).
    static func logoutURL(base: String?, provider: String, tenantID: String, redirect: String?, hint: String? = nil) -> String {
        // Each value encoded whole (RFC 3986 unreserved characters only): a redirect URL's own query must survive.
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        func encoded(_ value: String) -> String { value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
        var path = "/idp/\(encoded(provider))/logout?requestor_id=\(encoded(tenantID))"
        if let redirect { path += "&redirect_url=" + encoded(redirect) }
        if let hint { path += "&hint=" + encoded(hint) }
        guard let base, !base.isEmpty else { return path }
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
    }

    /// Where the provider's logout page sends the browser afterwards: `redirect_url` when it is
    /// within the domains of the tenant `requestor_id` names; nil when none was asked for.
    /// Throws when one was asked for and is not allowed.
    func logoutReturn(_ parameters: RequestParameters) throws(TesseraError) -> (tenantID: String, url: String)? {
        guard let redirect = parameters["redirect_url"], !redirect.isEmpty else { return nil }
        guard let tenant = services.directory.tenant(parameters["requestor_id"] ?? "") else { throw .invalidRequestor }
        guard tenant.redirectPolicy.allows(url: redirect) else { throw .invalidParameter(.redirectURL, .notAllowed) }
        return (tenant.id, redirect)
    }

    static func redirect(to location: String, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers)
    }

    static let linkExpired = ("Link expired", "This sign-in link is no longer valid. Start again from your TV.")

    func addRoutes(to router: Routes) {
        // Shows the login form, or, when this browser is signed in at the provider already, the
        // confirmation. A GET never completes a code: a link in a mail must not sign a device in.
        router.get("/idp/:provider/login") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            let state = RequestParameters(query: request.uri.query)["state"] ?? ""
            return await page {
                guard let (attempt, login, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      let provider = services.directory.providers[providerID]
                else { return pages.message(Self.linkExpired.0, Self.linkExpired.1, status: .badRequest) }
                let browser = forms.browser(of: request)
                if let openID = provider as? OpenIDProvider {
                    // The provider's own pages sign the subscriber in; it sends the browser back to the callback.
                    let url = try await services.upstreamAuthorizationURL(
                        provider: openID, state: state, nonce: forms.token(.upstreamNonce(state: state, providerID: providerID), browser: browser.id),
                        verifier: forms.token(.upstreamVerifier(state: state, providerID: providerID), browser: browser.id))
                    return Self.redirect(to: url, status: .found, headers: Self.cookies([browser.setCookie]))
                }
                if let saml = provider as? SAMLProvider {
                    // An AuthnRequest whose ID only this browser's Response can answer.
                    let url = try await services.samlSignOnURL(provider: saml, state: state,
                                                               requestID: SAMLPages.requestID(forms: forms, state: state, providerID: providerID, browser: browser.id))
                    return Self.redirect(to: url, status: .found, headers: Self.cookies([browser.setCookie]))
                }
                if let cookie = BrowserForms.cookie(Self.cookieName, in: request),
                   let session = try await services.providerSession(cookie: cookie),
                   session.subject.providerID == providerID, session.expiresAt > services.clock.now() {
                    return confirmation(provider: provider, tenant: tenant, login: login, state: state, subject: session.subject,
                                        browser: browser, extraCookie: nil)
                }
                return loginForm(provider: provider, tenant: tenant, login: login, state: state, browser: browser, error: nil, status: .ok)
            }
        }
        router.post("/idp/:provider/login") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                let form = try await RequestParameters(request)
                let client = services.clientAddress(request, context)
                let state = form["state"] ?? ""
                guard let (attempt, login, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      let provider = services.directory.providers[providerID] as? any PasswordAuthenticating
                else { return pages.message(Self.linkExpired.0, Self.linkExpired.1, status: .badRequest) }
                if let refusal = forms.check(request, form: form, purpose: .providerLogin(state: state)) {
                    return refused(refusal, what: "login form", tenant: tenant, client: client)
                }
                guard services.loginGuard.admitsAddress(client) else { throw TesseraError.tooManyRequests }
                let browser = forms.browser(of: request)
                let username = String((form["username"] ?? "").prefix(256))
                let password = String((form["password"] ?? "").prefix(1024))
                // Locked or not, known user or not: the same answer, and the password is not looked at.
                if let until = services.loginGuard.lockedUntil(providerID: providerID, username: username) {
                    return locked(until: until)
                }
                guard let subject = provider.authenticate(username: username, password: password) else {
                    services.metrics.count(.login, dialect: "web", outcome: "refused")
                    guard try await services.recordWrongPassword(state: state, providerID: providerID, username: username, client: client) else {
                        return pages.message("Too many attempts", "Too many wrong passwords. Start again from your TV.", status: .unauthorized)
                    }
                    if let until = services.loginGuard.lockedUntil(providerID: providerID, username: username) {
                        return locked(until: until)
                    }
                    return loginForm(provider: provider, tenant: tenant, login: login, state: state, browser: browser,
                                     error: "Wrong username or password.", status: .unauthorized)
                }
                let cookie = Secret.generate()
                try await services.startProviderSession(cookie: cookie, subject: subject, lifetime: Self.browserSessionLifetime)
                let providerCookie = "\(Self.cookieName)=\(cookie); Path=/idp/\(providerID); Max-Age=\(Int(Self.browserSessionLifetime)); HttpOnly; SameSite=Lax\(forms.cookieSuffix)"
                return confirmation(provider: provider, tenant: tenant, login: login, state: state, subject: subject,
                                    browser: browser, extraCookie: providerCookie)
            }
        }
        // An OpenID Connect provider sends the browser back here (authorization code flow): the
        // code is redeemed, the id_token checked, and the confirmation shown as after a password.
        router.get("/idp/:provider/callback") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            let query = RequestParameters(query: request.uri.query)
            let state = query["state"] ?? ""
            return await page {
                guard let (attempt, login, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      let provider = services.directory.providers[providerID] as? OpenIDProvider
                else { return pages.message(Self.linkExpired.0, Self.linkExpired.1, status: .badRequest) }
                let client = services.clientAddress(request, context)
                // Only the browser that was sent to the provider can come back: the nonce and the
                // verifier are derived from its cookie.
                guard let browserID = BrowserForms.cookie(BrowserForms.cookieName, in: request) else {
                    return refused(.missingToken, what: "provider callback", tenant: tenant, client: client)
                }
                do {
                    if let error = query["error"] {
                        throw TesseraError.upstreamLogin(.refused(String(error.prefix(64).filter { $0.isLetter || $0 == "_" })))
                    }
                    let (subject, sealed) = try await services.redeemUpstreamCode(
                        provider: provider, state: state, code: query["code"] ?? "",
                        nonce: forms.token(.upstreamNonce(state: state, providerID: providerID), browser: browserID),
                        verifier: forms.token(.upstreamVerifier(state: state, providerID: providerID), browser: browserID))
                    return confirmation(provider: provider, tenant: tenant, login: login, state: state, subject: subject,
                                        browser: BrowserForms.Browser(id: browserID, setCookie: nil), extraCookie: nil, upstream: sealed)
                } catch let error as TesseraError {
                    throw upstreamFailure(error, what: "an upstream sign-in", tenant: tenant, providerID: providerID, client: client)
                }
            }
        }
        // The subscriber pressed a button on the confirmation page: activate the device, or not.
        router.post("/idp/:provider/confirm") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                let form = try await RequestParameters(request)
                let client = services.clientAddress(request, context)
                let state = form["state"] ?? "", userID = form["user"] ?? ""
                guard let (attempt, _, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      !userID.isEmpty
                else { return pages.message(Self.linkExpired.0, Self.linkExpired.1, status: .badRequest) }
                // The token names the subject the provider vouched for in this browser: it cannot be swapped.
                if let refusal = forms.check(request, form: form, purpose: .confirmation(state: state, providerID: providerID, userID: userID)) {
                    return refused(refusal, what: "confirmation", tenant: tenant, client: client)
                }
                guard form["decision"] == "confirm" else {
                    services.logger.notice("security: a subscriber declined to activate a device", metadata: [
                        "event": "confirmation-declined", "tenant": .string(tenant.id), "client": .string(client)])
                    return pages.message("Nothing was activated", "The device was not signed in. You can close this page.", status: .ok)
                }
                var upstream: Services.UpstreamGrant?
                if services.directory.providers[providerID] is any UpstreamProvider {
                    // What the provider's callback gave, sealed for this attempt, for this subscriber.
                    guard let grant = services.openUpstreamGrant(form["upstream"] ?? "", state: state), grant.claims.userID == userID else {
                        return pages.message(Self.linkExpired.0, Self.linkExpired.1, status: .badRequest)
                    }
                    upstream = grant
                }
                return try await finish(state: state, subject: Subject(userID: userID, providerID: providerID), returnURL: attempt.returnURL,
                                        upstream: upstream)
            }
        }
        // A GET only asks: another site can link to it, but not press the button.
        router.get("/idp/:provider/logout") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                guard let provider = services.directory.providers[providerID], provider.hasLogoutEndpoint else {
                    return pages.message("Not found", "This provider has no logout page.", status: .notFound)
                }
                if let openID = provider as? OpenIDProvider {
                    return try await upstreamLogout(openID, query: RequestParameters(query: request.uri.query))
                }
                if let saml = provider as? SAMLProvider {
                    return try await samlLogout(saml, query: RequestParameters(query: request.uri.query))
                }
                let browser = forms.browser(of: request)
                var values: [String: Any] = [
                    "title": "Sign out of \(provider.displayName)", "providerName": provider.displayName, "providerID": provider.id,
                    "csrf": forms.token(.providerLogout(providerID: providerID), browser: browser.id),
                ]
                if let back = try logoutReturn(RequestParameters(query: request.uri.query)) {
                    values["requestorID"] = back.tenantID
                    values["redirectURL"] = back.url
                }
                return pages.render("logout", values, headers: Self.cookies([browser.setCookie]))
            }
        }
        // Where an OpenID Connect provider's logout sends the browser back: on to the redirect URL
        // the logout URL named, checked again against the tenant's domains.
        router.get("/idp/:provider/logged-out") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                let state = RequestParameters(query: request.uri.query)["state"] ?? ""
                guard services.directory.providers[providerID] is OpenIDProvider,
                      let opened = services.openedFromURL(state, .logoutReturn(providerID: providerID)),
                      let split = opened.firstIndex(of: "\n"),
                      let tenant = services.directory.tenant(String(opened[..<split])),
                      case let url = String(opened[opened.index(after: split)...]), tenant.redirectPolicy.allows(url: url)
                else { return pages.message("Signed out", "You are signed out. You can close this page.", status: .ok) }
                return Self.redirect(to: url, status: .seeOther)
            }
        }
        router.post("/idp/:provider/logout") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                guard let provider = services.directory.providers[providerID], provider.hasLogoutEndpoint else {
                    return pages.message("Not found", "This provider has no logout page.", status: .notFound)
                }
                let form = try await RequestParameters(request)
                if let refusal = forms.check(request, form: form, purpose: .providerLogout(providerID: providerID)) {
                    let client = services.clientAddress(request, context)
                    return refused(refusal, what: "provider logout", tenant: nil, client: client)
                }
                if let cookie = BrowserForms.cookie(Self.cookieName, in: request) {
                    try await services.counted(.logout, dialect: "web") { () async throws(TesseraError) in
                        try await services.endProviderSession(cookie: cookie)
                    }
                }
                let clear = "\(Self.cookieName)=; Path=/idp/\(providerID); Max-Age=0; HttpOnly; SameSite=Lax\(forms.cookieSuffix)"
                if let back = try logoutReturn(form) {
                    return Self.redirect(to: back.url, status: .seeOther, headers: Self.cookies([clear]))
                }
                return pages.render("message", ["title": "Signed out", "heading": "Signed out of \(provider.displayName)",
                                                "text": "You are signed out of \(provider.displayName) in this browser.", "isError": false],
                                    headers: Self.cookies([clear]))
            }
        }
    }

    /// An OpenID Connect provider's logout: the browser goes through the provider's
    /// `end_session_endpoint` (with the ended session's id_token when the logout URL carries it,
    /// sealed) and comes back to `/idp/{provider}/logged-out`, which sends it on to the checked
    /// redirect URL. Without an end-session endpoint, straight to the redirect URL.
    private func upstreamLogout(_ provider: OpenIDProvider, query: RequestParameters) async throws -> Response {
        let back = try logoutReturn(query)
        let hint = query["hint"].flatMap { services.openedFromURL($0, .logoutHint(providerID: provider.id)) }
        let state = back.flatMap { services.sealedForURL($0.tenantID + "\n" + $0.url, .logoutReturn(providerID: provider.id)) }
        if let url = try await services.upstreamEndSessionURL(provider: provider, idTokenHint: hint, returnState: state) {
            return Self.redirect(to: url, status: .found)
        }
        if let back { return Self.redirect(to: back.url, status: .seeOther) }
        return pages.message("Signed out", "You are signed out. You can close this page.", status: .ok)
    }

    /// A SAML provider's logout: the browser goes through the provider's Single Logout service
    /// with a signed LogoutRequest for the ended session's subject (the logout URL carries it,
    /// sealed), and comes back to `/idp/{provider}/saml/slo`, which sends it on to the checked
    /// redirect URL. Without a subject or a Single Logout service, straight to the redirect URL.
    private func samlLogout(_ provider: SAMLProvider, query: RequestParameters) async throws -> Response {
        let back = try logoutReturn(query)
        let hint = query["hint"].flatMap { services.openedFromURL($0, .logoutHint(providerID: provider.id)) }
        if let url = try await services.samlLogoutURL(provider: provider, subject: hint, back: back) {
            return Self.redirect(to: url, status: .found)
        }
        if let back { return Self.redirect(to: back.url, status: .seeOther) }
        return pages.message("Signed out", "You are signed out. You can close this page.", status: .ok)
    }

    /// A failed sign-in at an upstream provider (OpenID Connect, SAML): counted, logged, and
    /// given back to be the page's error.
    func upstreamFailure(_ error: TesseraError, what: String, tenant: Tenant, providerID: String, client: String) -> TesseraError {
        services.metrics.count(.login, dialect: "web", outcome: error == .storageFailure ? "failed" : "refused")
        services.logger.notice("\(what) failed: \(error)", metadata: [
            "event": "upstream-login-failed", "tenant": .string(tenant.id), "provider": .string(providerID), "client": .string(client)])
        return error
    }

    /// `Set-Cookie` fields, one per cookie.
    static func cookies(_ values: [String?]) -> HTTPFields {
        var headers = HTTPFields()
        for value in values.compactMap({ $0 }) { headers.append(HTTPField(name: .setCookie, value: value)) }
        return headers
    }

    /// The account is locked: when it unlocks, and nothing about whether it exists.
    private func locked(until: Date) -> Response {
        pages.message("Account locked", "Too many failed sign-ins for this account. Try again after \(Self.utc(until, "HH:mm 'UTC'")).",
                             status: .tooManyRequests)
    }

    /// A form that was not sent from this browser's own page: 403, nothing done, and a notice.
    func refused(_ refusal: BrowserForms.Refusal, what: String, tenant: Tenant?, client: String) -> Response {
        services.logger.notice("security: \(what) refused: \(refusal.rawValue)", metadata: [
            "event": "form-refused", "tenant": .string(tenant?.id ?? "-"), "client": .string(client)])
        return pages.message("Start again", "This page was not opened from this site. Start again from your TV.", status: .forbidden)
    }

    private func finish(state: String, subject: Subject, returnURL: String, upstream: Services.UpstreamGrant?) async throws -> Response {
        let completion = try await services.completeLogin(state: state, subject: subject, upstream: upstream)
        if case .completed = completion { services.metrics.count(.login, dialect: "web", outcome: "ok") } else {
            services.metrics.count(.login, dialect: "web", outcome: "refused")
        }
        switch completion {
        case .completed:
            return Self.redirect(to: returnURL, status: .seeOther)
        case .attemptNotFound, .codeNotFound:
            return pages.message(Self.linkExpired.0, Self.linkExpired.1, status: .badRequest)
        case .codeExpired: return pages.message(for: .loginCode(.expired))
        case .codeAlreadyUsed: return pages.message(for: .loginCode(.alreadyUsed))
        }
    }

    /// "Model (OS)" from the device information, else the device type the TV gave.
    static func deviceName(_ login: PendingLogin) -> String? {
        login.description.deviceInfoJSON.flatMap { try? DeviceInfo(encoded: Data($0.utf8).base64EncodedString()) }
            .map { "\($0.fields["model"] ?? "") (\($0.fields["osName"] ?? ""))" } ?? login.description.deviceType
    }

    private func loginForm(provider: any IdentityProvider, tenant: Tenant, login: PendingLogin, state: String, browser: BrowserForms.Browser,
                           error: String?, status: HTTPResponse.Status) -> Response {
        var values: [String: Any] = ["title": "Sign in to \(provider.displayName)", "providerName": provider.displayName,
                                     "providerID": provider.id, "tenantName": tenant.name, "state": state,
                                     "csrf": forms.token(.providerLogin(state: state), browser: browser.id)]
        if let device = Self.deviceName(login) { values["device"] = device }
        if let error { values["error"] = error }
        return pages.render("login", values, status: status, headers: Self.cookies([browser.setCookie]))
    }

    /// The page between the provider and the device: which device, made when and from where,
    /// and a button that only this browser's page can press.
    func confirmation(provider: any IdentityProvider, tenant: Tenant, login: PendingLogin, state: String, subject: Subject,
                              browser: BrowserForms.Browser, extraCookie: String?, upstream: String? = nil) -> Response {
        let now = services.clock.now()
        var values: [String: Any] = [
            "title": "Activate \(tenant.name)?", "tenantName": tenant.name, "providerName": provider.displayName,
            "providerID": provider.id, "state": state, "user": subject.userID,
            "created": Self.when(login.createdAt, now: now),
            "csrf": forms.token(.confirmation(state: state, providerID: provider.id, userID: subject.userID), browser: browser.id),
        ]
        if let device = Self.deviceName(login) { values["device"] = device }
        if let network = login.description.clientAddress.flatMap(Self.network) { values["network"] = network }
        if let upstream { values["upstream"] = upstream }
        return pages.render("confirm", values, headers: Self.cookies([browser.setCookie, extraCookie]))
    }

    /// "20:31 UTC, 3 minutes ago".
    static func when(_ date: Date, now: Date) -> String {
        let minutes = max(0, Int(now.timeIntervalSince(date) / 60))
        let ago = minutes == 0 ? "just now" : minutes == 1 ? "1 minute ago" : "\(minutes) minutes ago"
        return "\(utc(date, "yyyy-MM-dd HH:mm 'UTC'")), \(ago)"
    }

    /// `date` in UTC, as `format` writes it.
    static func utc(_ date: Date, _ format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    /// Roughly where an address is, without naming it exactly: its IPv4 /24 or IPv6 /48.
    static func network(_ address: String) -> String? {
        if address == "::1" || address.hasPrefix("127.") { return "this machine" }
        if address.contains(":") {
            let groups = address.split(separator: ":", omittingEmptySubsequences: false).prefix(3)
            return groups.count == 3 ? groups.joined(separator: ":") + "::/48" : nil
        }
        let octets = address.split(separator: ".")
        return octets.count == 4 ? octets.prefix(3).joined(separator: ".") + ".0/24" : nil
    }

    func page(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let error as TesseraError {
            return pages.message(for: error)
        } catch {
            return pages.message(for: .storageFailure)
        }
    }
}
