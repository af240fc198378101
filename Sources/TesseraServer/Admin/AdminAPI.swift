import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// The operator's API under `/admin/v1`, behind the admin token (`Authorization: Bearer …`):
///
/// - `GET /admin/v1/tenants/{tenant}/subjects/{subject}/sessions`: the subscriber's sessions
///   (device, provider, kind, application, created, last used, expires).
/// - `DELETE` on the same path: sign out everywhere; answers what ended and what follows each.
/// - `DELETE /admin/v1/tenants/{tenant}/clients/{client}`: revoke a DCR client; its bearers fail
///   on every instance before the answer.
///
/// - `GET /admin/v1/tenants/{tenant}/degradation`: the tenant's degradation rules, the
///   configuration file's and the ones set here.
/// - `PUT /admin/v1/tenants/{tenant}/degradation/{provider}` with `{"rule": "AuthNAll" |
///   "AuthZAll" | "AuthZNone", "details": "…"}`: degrade a provider (AuthZAll and AuthZNone
///   replace each other); `DELETE` on it (optionally `?rule=`) clears what was set here. Every
///   instance follows within ``DegradationRules/refreshInterval``.
///
/// Without a configured token the routes do not exist (404). Errors are
/// `{"error": code, "error_description": text}`, from ``AdminErrors``.
struct AdminAPI: Sendable {
    let services: Services

    struct SessionView: Encodable {
        let id: String
        let kind: String
        let provider: String
        let device: String?
        let application: String?
        let client_address: String?
        let created: String
        let last_used: String
        let expires: String
    }

    struct SessionList: Encodable {
        let tenant: String
        let subject: String
        let sessions: [SessionView]
    }

    struct Ended: Encodable {
        let session: SessionView
        let follow_up: String
        let provider_logout_url: String?
    }

    struct Revoked: Encodable {
        let tenant: String
        let subject: String
        let revoked: Int
        let sessions: [Ended]
    }

    struct RotatedKey: Encodable {
        let tenant: String
        let client_id: String
        let key_id: String
        let created: String
        /// Base64 DER SubjectPublicKeyInfo, as `public-key` answers it from now on.
        let public_key: String
        /// Until when the previous key still decrypts.
        let previous_key_decrypts_until: String
    }

    struct RuleView: Encodable {
        let provider: String
        let rule: String
        let details: String?
        /// `configuration` (the file's, cleared by editing it) or `admin` (set here).
        let source: String
    }

    struct RuleList: Encodable {
        let tenant: String
        let rules: [RuleView]
    }

    struct RuleChange: Decodable {
        let rule: String
        let details: String?
    }

    struct Cleared: Encodable {
        let tenant: String
        let provider: String
        let cleared: Int
    }

    func addRoutes(to router: Routes) {
        guard services.configuration.adminTokenDigest != nil else { return }
        // Prometheus text format, for a scraper given the admin token (`authorization:
        // credentials_file` in its scrape configuration).
        router.get("/metrics") { request, _ in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                services.sampleMetrics()
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(string: services.metrics.exposition())))
            }
        }
        // A new key pair for a user-session application; the previous one decrypts for the
        // tenant's grace period.
        router.post("/admin/v1/tenants/:tenant/applications/:client/keys") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let tenant = try self.tenant(context)
                let client = context.parameters.get("client")?.removingPercentEncoding ?? ""
                let (key, grace) = try await AdminErrors.core { () async throws(TesseraError) in
                    try await services.rotateApplicationKey(tenant: tenant, clientID: client)
                }
                return json(RotatedKey(tenant: tenant.id, client_id: client, key_id: key.keyID, created: Self.time(key.createdAt),
                                       public_key: key.publicKeyDER.base64EncodedString(),
                                       previous_key_decrypts_until: Self.time(key.createdAt.addingTimeInterval(grace))))
            }
        }
        router.get("/admin/v1/tenants/:tenant/subjects/:subject/sessions") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let (tenant, subject) = try target(context)
                let sessions = try await AdminErrors.core { () async throws(TesseraError) in try await services.sessions(tenant: tenant, subject: subject) }
                return json(SessionList(tenant: tenant.id, subject: subject, sessions: sessions.map(view)))
            }
        }
        router.delete("/admin/v1/tenants/:tenant/subjects/:subject/sessions") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let (tenant, subject) = try target(context)
                let plan = try await AdminErrors.core { () async throws(TesseraError) in
                    do throws(TesseraError) { return try await services.signOutEverywhere(tenant: tenant, subject: subject) } catch {
                        services.metrics.count(.revoke, dialect: "admin", outcome: "failed")
                        throw error
                    }
                }
                services.metrics.count(.revoke, dialect: "admin", outcome: plan.steps.isEmpty ? "none" : "revoked")
                let base = services.configuration.publicBaseURL ?? ""
                let ended = plan.steps.map { step -> Ended in
                    switch step.followUp {
                    case .providerLogoutPage(let provider): Ended(session: view(step.session), follow_up: "provider_logout", provider_logout_url: "\(base)/idp/\(provider)/logout")
                    case .partnerLogout: Ended(session: view(step.session), follow_up: "partner_logout", provider_logout_url: nil)
                    case .complete: Ended(session: view(step.session), follow_up: "complete", provider_logout_url: nil)
                    case .invalid: Ended(session: view(step.session), follow_up: "invalid", provider_logout_url: nil)
                    }
                }
                return json(Revoked(tenant: tenant.id, subject: subject, revoked: ended.count, sessions: ended))
            }
        }
        router.get("/admin/v1/tenants/:tenant/degradation") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let tenant = try self.tenant(context)
                return try await rules(of: tenant)
            }
        }
        router.put("/admin/v1/tenants/:tenant/degradation/:provider") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let (tenant, provider) = try degradationTarget(context)
                let change = try? await JSONBody.decode(request, as: RuleChange.self, limit: 4096)
                guard let change = change ?? nil, let kind = DegradationRule.Kind(rawValue: change.rule) else { throw .invalidRule }
                guard (change.details?.utf8.count ?? 0) <= 1024 else { throw .invalidRule }
                try await AdminErrors.core { () async throws(TesseraError) in
                    try await services.setDegradationRule(DegradationRule(tenantID: tenant.id, providerID: provider, kind: kind, details: change.details))
                }
                services.logger.notice("degraded \(provider) in \(tenant.id): \(kind.rawValue)")
                return try await rules(of: tenant)
            }
        }
        router.delete("/admin/v1/tenants/:tenant/degradation/:provider") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let (tenant, provider) = try degradationTarget(context)
                var kind: DegradationRule.Kind?
                if let name = request.uri.queryParameters.get("rule") {
                    guard let named = DegradationRule.Kind(rawValue: name) else { throw .invalidRule }
                    kind = named
                }
                let cleared = try await AdminErrors.core { () async throws(TesseraError) in
                    try await services.clearDegradationRules(tenantID: tenant.id, providerID: provider, kind: kind)
                }
                services.logger.notice("cleared \(cleared) degradation rule(s) of \(provider) in \(tenant.id)")
                return json(Cleared(tenant: tenant.id, provider: provider, cleared: cleared))
            }
        }
        router.delete("/admin/v1/tenants/:tenant/clients/:client") { request, context in
            await respond(request) { () async throws(AdminErrors.Failure) -> Response in
                let tenant = try self.tenant(context)
                let client = context.parameters.get("client") ?? ""
                guard try await AdminErrors.core({ () async throws(TesseraError) in try await services.revokeClient(tenant: tenant, clientID: client) }) else {
                    throw .unknownClient
                }
                services.metrics.count(.revoke, dialect: "admin-client", outcome: "revoked")
                return Response(status: .noContent)
            }
        }
    }

    private func tenant(_ context: TesseraRequestContext) throws(AdminErrors.Failure) -> Tenant {
        guard let id = context.parameters.get("tenant"), let tenant = services.directory.tenant(id) else { throw .unknownTenant }
        return tenant
    }

    private func target(_ context: TesseraRequestContext) throws(AdminErrors.Failure) -> (Tenant, String) {
        let tenant = try tenant(context)
        guard let subject = context.parameters.get("subject")?.removingPercentEncoding, !subject.isEmpty, subject.utf8.count <= 256 else {
            throw .invalidSubject
        }
        return (tenant, subject)
    }

    private func degradationTarget(_ context: TesseraRequestContext) throws(AdminErrors.Failure) -> (Tenant, String) {
        let tenant = try tenant(context)
        guard let provider = context.parameters.get("provider")?.removingPercentEncoding, tenant.integrates(providerID: provider) else {
            throw .unknownProvider
        }
        return (tenant, provider)
    }

    private func rules(of tenant: Tenant) async throws(AdminErrors.Failure) -> Response {
        let rules = try await AdminErrors.core { () async throws(TesseraError) in try await services.degradationRules(tenant: tenant) }
        let configured = Set(tenant.degradation)
        return json(RuleList(tenant: tenant.id, rules: rules.map {
            RuleView(provider: $0.providerID, rule: $0.kind.rawValue, details: $0.details, source: configured.contains($0) ? "configuration" : "admin")
        }))
    }

    private func view(_ session: Session) -> SessionView {
        SessionView(id: session.id.uuidString.lowercased(), kind: session.kind.rawValue, provider: session.subject.providerID,
                    device: session.deviceID, application: session.applicationID, client_address: session.clientAddress, created: Self.time(session.createdAt),
                    last_used: Self.time(session.lastUsedAt), expires: Self.time(session.expiresAt))
    }

    private static func time(_ date: Date) -> String { date.formatted(.iso8601) }

    private func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Checks the admin token, runs `body`, and renders its failure in the admin catalogue.
    private func respond(_ request: Request, _ body: () async throws(AdminErrors.Failure) -> Response) async -> Response {
        var token: String?
        if let header = request.headers.value(.authorization), header.count > 7, header.prefix(7).lowercased() == "bearer " {
            token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        guard services.admitsAdministrator(token) else {
            if token != nil { services.logger.notice("refused an admin token") }
            return AdminErrors.response(.notAuthorized)
        }
        do { return try await body() } catch { return AdminErrors.response(error) }
    }
}

/// The admin API's error catalogue: core errors and its own, as status and code.
enum AdminErrors {
    enum Failure: Error {
        case notAuthorized
        case unknownTenant
        case unknownClient
        case unknownProvider
        case invalidRule
        case invalidSubject
        case core(TesseraError)
    }

    /// Runs a service call, its core error kept for the catalogue.
    static func core<T>(_ body: () async throws(TesseraError) -> T) async throws(Failure) -> T {
        do { return try await body() } catch { throw .core(error) }
    }

    static func entry(_ failure: Failure) -> (status: HTTPResponse.Status, code: String, description: String) {
        switch failure {
        case .notAuthorized: (.unauthorized, "unauthorized", "a valid admin token is required")
        case .unknownTenant, .core(.invalidRequestor): (.notFound, "unknown_tenant", "no such tenant")
        case .unknownClient: (.notFound, "unknown_client", "the tenant has no such client")
        case .core(.unknownApplication): (.notFound, "unknown_application", "the tenant has no such user-session application")
        case .unknownProvider: (.notFound, "unknown_provider", "the tenant does not integrate this provider")
        case .invalidRule: (.badRequest, "invalid_rule", "the body must be {\"rule\": \"AuthNAll\" | \"AuthZAll\" | \"AuthZNone\", \"details\": optional text up to 1024 bytes}")
        case .invalidSubject: (.badRequest, "invalid_subject", "the subject is empty or too long")
        case .core(.storageFailure): (.serviceUnavailable, "storage_failure", "the store failed; try again")
        case .core(let error): (.badRequest, "invalid_request", "\(error)")
        }
    }

    static func response(_ failure: Failure) -> Response {
        let (status, code, description) = entry(failure)
        let body = (try? JSONEncoder().encode(["error": code, "error_description": description])) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"tessera-admin\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
