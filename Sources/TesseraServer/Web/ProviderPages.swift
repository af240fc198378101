import Foundation
import Hummingbird
import TesseraCore
import TesseraStore

/// The directory provider's side: its login page (`/idp/{provider}/login`) and, where the
/// provider has one, its logout page (`/idp/{provider}/logout`). A successful login sets the
/// provider's own browser-session cookie, so signing in again there needs no password until
/// its logout page ends it.
struct ProviderPages: Sendable {
    let services: Services
    let pages: Pages
    static let cookieName = "tessera_idp"
    static let browserSessionLifetime: TimeInterval = 12 * 3600

    static func loginPath(provider: String, state: String) -> String {
        "/idp/\(provider.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? provider)/login?state=\(state)"
    }

    static func redirect(to location: String, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers)
    }

    func addRoutes(to router: Router<TesseraRequestContext>) {
        router.get("/idp/:provider/login") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            let state = RequestParameters(query: request.uri.query)["state"] ?? ""
            return await page {
                guard let (attempt, login, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      let provider = services.directory.providers[providerID]
                else { return pages.message("Link expired", "This sign-in link is no longer valid. Start again from your TV.", status: .badRequest) }
                // Already signed in at this provider in this browser: no password needed.
                if let cookie = Self.cookie(in: request),
                   let browser = try await services.stored({ try await services.store.providerSession(digest: SecretDigest(of: cookie)) }),
                   browser.subject.providerID == providerID, browser.expiresAt > services.clock.now() {
                    return try await finish(state: state, subject: browser.subject, returnURL: attempt.returnURL, cookie: nil)
                }
                return loginForm(provider: provider, tenant: tenant, login: login, state: state, error: nil, status: .ok)
            }
        }
        router.post("/idp/:provider/login") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                let form = try await RequestParameters(request)
                let client = services.configuration.trustedProxies.clientAddress(
                    peer: context.peerAddress, forwardedFor: request.headers.value(.forwardedFor))
                let state = form["state"] ?? ""
                guard let (attempt, login, tenant) = try await services.loginAttempt(state: state), attempt.providerID == providerID,
                      let provider = services.directory.providers[providerID] as? any PasswordAuthenticating
                else { return pages.message("Link expired", "This sign-in link is no longer valid. Start again from your TV.", status: .badRequest) }
                guard services.loginLimiter.allows(client) else { throw TesseraError.tooManyRequests }
                let username = String((form["username"] ?? "").prefix(256))
                let password = String((form["password"] ?? "").prefix(1024))
                guard let subject = provider.authenticate(username: username, password: password) else {
                    guard try await services.recordWrongPassword(state: state, client: client) else {
                        return pages.message("Too many attempts", "Too many wrong passwords. Start again from your TV.", status: .unauthorized)
                    }
                    return loginForm(provider: provider, tenant: tenant, login: login, state: state,
                                     error: "Wrong username or password.", status: .unauthorized)
                }
                let cookie = Secret.generate()
                try await services.stored {
                    try await services.store.insert(ProviderBrowserSession(
                        digest: SecretDigest(of: cookie), subject: subject,
                        expiresAt: services.clock.now().addingTimeInterval(Self.browserSessionLifetime)))
                }
                return try await finish(state: state, subject: subject, returnURL: attempt.returnURL, cookie: (cookie, providerID))
            }
        }
        router.get("/idp/:provider/logout") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            return await page {
                guard let provider = services.directory.providers[providerID], provider.hasLogoutEndpoint else {
                    return pages.message("Not found", "This provider has no logout page.", status: .notFound)
                }
                if let cookie = Self.cookie(in: request) {
                    try await services.stored { try await services.store.deleteProviderSession(digest: SecretDigest(of: cookie)) }
                }
                var headers: HTTPFields = [:]
                headers[.setCookie] = "\(Self.cookieName)=; Path=/idp/\(providerID); Max-Age=0; HttpOnly; SameSite=Lax"
                return pages.render("message", ["title": "Signed out", "heading": "Signed out of \(provider.displayName)",
                                                "text": "You are signed out of \(provider.displayName) in this browser.", "isError": false],
                                    headers: headers)
            }
        }
    }

    private func finish(state: String, subject: Subject, returnURL: String, cookie: (String, String)?) async throws -> Response {
        switch try await services.completeLogin(state: state, subject: subject) {
        case .completed:
            var headers: HTTPFields = [:]
            if let (value, providerID) = cookie {
                headers[.setCookie] = "\(Self.cookieName)=\(value); Path=/idp/\(providerID); Max-Age=\(Int(Self.browserSessionLifetime)); HttpOnly; SameSite=Lax"
            }
            return Self.redirect(to: returnURL, status: .seeOther, headers: headers)
        case .attemptNotFound, .codeNotFound:
            return pages.message("Link expired", "This sign-in link is no longer valid. Start again from your TV.", status: .badRequest)
        case .codeExpired: return pages.message(for: .registrationCode(.expired, status: 400))
        case .codeAlreadyUsed: return pages.message(for: .registrationCode(.alreadyUsed, status: 400))
        }
    }

    private func loginForm(provider: any IdentityProvider, tenant: Tenant, login: PendingLogin, state: String, error: String?,
                           status: HTTPResponse.Status) -> Response {
        let device = login.description.deviceInfoJSON.flatMap { try? DeviceInfo(encoded: Data($0.utf8).base64EncodedString()) }
            .map { "\($0.fields["model"] ?? "") (\($0.fields["osName"] ?? ""))" } ?? login.description.deviceType
        var values: [String: Any] = ["title": "Sign in to \(provider.displayName)", "providerName": provider.displayName,
                                     "providerID": provider.id, "tenantName": tenant.name, "state": state]
        if let device { values["device"] = device }
        if let error { values["error"] = error }
        return pages.render("login", values, status: status)
    }

    private func page(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let error as TesseraError {
            return pages.message(for: error)
        } catch {
            return pages.message(for: .storageFailure)
        }
    }

    static func cookie(in request: Request) -> String? {
        guard let header = request.headers.value(.cookie) else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == cookieName, pair[1].count <= 128 { return String(pair[1]) }
        }
        return nil
    }
}
