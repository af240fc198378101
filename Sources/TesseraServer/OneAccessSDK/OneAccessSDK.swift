import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// The Huawei Cloud OneAccess user SDK API (huawei.md part A), under `/api/v2/sdk/`:
///
/// - `GET server-date`: the server's clock, for proofs.
/// - `GET public-key`: the application's RSA public key (bare base64 DER SubjectPublicKeyInfo).
/// - `POST login`, `POST login/auth`: a user's password → a session token and an id token.
/// - `POST pwd/update`, `GET pwd/skip-update` (X-state-token): finish a login that stopped at
///   its password (PASSWORD_EXPIRED, PASSWORD_WARN).
/// - `POST session-token/refresh-id-token` (X-signature): a new id token for the session.
/// - `GET logout` (X-signature, seed 003): the session ends on every instance before the 200.
///
/// Every call sends the device headers (`X-operating-sys-version`, `X-device-fingerprint`,
/// `X-agent`) and `X-client-id`; `X-tenant-id` picks the tenant of an ISV template application,
/// else the Host does. `X-L: en` asks for English messages (Chinese by default).
struct OneAccessSDK: Sendable {
    let services: Services

    static let maximumBodySize = 16 * 1024

    func addRoutes(to router: Routes) {
        router.get("/api/v2/sdk/server-date") { request, context in
            await respond(request, context) { _ throws(TesseraError) in
                SDKCall.json(["timestamp": String(services.clock.now().epochMilliseconds)], status: .ok)
            }
        }
        router.get("/api/v2/sdk/public-key") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let key = try await services.publicKey(of: call.application, tenant: call.tenant)
                return SDKCall.json(["public_key": key.base64EncodedString()], status: .ok)
            }
        }
        for path in ["/api/v2/sdk/login", "/api/v2/sdk/login/auth"] {
            router.post(RouterPath(path)) { request, context in
                await respond(request, context) { call throws(TesseraError) in try await signIn(request, call) }
            }
        }
        router.post("/api/v2/sdk/pwd/update") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let body = try await JSONBody.decode(request, as: PasswordUpdateBody.self, limit: Self.maximumBodySize) ?? PasswordUpdateBody()
                guard let old = body.old_password, !old.isEmpty else { throw .invalidParameter(.password, .missing) }
                guard let new = body.new_password, !new.isEmpty else { throw .invalidParameter(.newPassword, .missing) }
                guard old.utf8.count <= 128, new.utf8.count <= 512 else { throw .invalidParameter(.newPassword, .notAllowed) }
                let issued = try await services.changePassword(stateToken: try Self.stateToken(request), old: old, new: new,
                                                               application: call.application, tenant: call.tenant, client: call.client)
                return signedIn(issued)
            }
        }
        router.get("/api/v2/sdk/pwd/skip-update") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let issued = try await services.skipPasswordChange(stateToken: try Self.stateToken(request), application: call.application,
                                                                   tenant: call.tenant, client: call.client)
                return signedIn(issued)
            }
        }
        router.post("/api/v2/sdk/session-token/refresh-id-token") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let session = try await services.userSession(proof: try Self.proof(request), application: call.application, tenant: call.tenant)
                return SDKCall.json(["id_token": try await services.idToken(for: session, tenant: call.tenant)], status: .ok)
            }
        }
        router.get("/api/v2/sdk/logout") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let session = try await services.userSession(proof: try Self.proof(request), application: call.application, tenant: call.tenant)
                try await services.counted(.logout, dialect: "oneaccess-sdk") { () async throws(TesseraError) in try await services.endUserSession(session) }
                // Documented as a bare String of unstated content (huawei.md A.9); clients look
                // at the status only. A JSON string, so that clients parsing JSON do not fail.
                return SDKCall.json("success", status: .ok)
            }
        }
    }

    /// The login body: `user_name` and `password`.
    struct SignInBody: Decodable {
        var user_name: String?
        var password: String?
    }

    private func signIn(_ request: Request, _ call: SDKCall) async throws(TesseraError) -> Response {
        let body = try await JSONBody.decode(request, as: SignInBody.self, limit: Self.maximumBodySize) ?? SignInBody()
        guard let username = body.user_name?.trimmingCharacters(in: .whitespaces), !username.isEmpty else {
            throw .invalidParameter(.account, .missing)
        }
        guard let password = body.password, !password.isEmpty else { throw .invalidParameter(.password, .missing) }
        guard username.utf8.count <= 255 else { throw .invalidParameter(.account, .tooLong) }
        guard password.utf8.count <= 128 else { throw .invalidParameter(.password, .tooLong) }
        let outcome: Services.UserSignIn
        do {
            outcome = try await services.counted(.login, dialect: "oneaccess-sdk") { () async throws(TesseraError) in
                try await services.signInUser(username: username, password: password, application: call.application, tenant: call.tenant,
                                              client: call.client)
            }
        } catch {
            guard case .signIn(.wrongCredentials) = error else { throw error }
            // The message counts down the attempts left before the lock.
            return SDKErrors.response(error, english: call.english, remainingAttempts: services.remainingPasswordAttempts(username: username, tenant: call.tenant),
                                      now: services.clock.now())
        }
        switch outcome {
        case .signedIn(let issued):
            return signedIn(issued)
        case .passwordChange(let state, let token):
            let policy = try services.userSessionPolicy(call.tenant).passwords
            return SDKCall.json(PasswordStop(status: state == .expired ? "PASSWORD_EXPIRED" : "PASSWORD_WARN", state_token: token,
                                             data: PasswordStop.policyText(policy)), status: .ok)
        }
    }

    private func signedIn(_ issued: Services.IssuedUserSession) -> Response {
        SDKCall.json(SignedIn(status: "SUCCESS", session_token: issued.sessionToken, id_token: issued.idToken, expire: issued.lifetime),
                     status: .ok)
    }

    struct PasswordUpdateBody: Decodable {
        var old_password: String?
        var new_password: String?
    }

    /// A login that stopped at its password: the state token and the policy, as a JSON string
    /// (huawei.md A.7: `data` is a string).
    struct PasswordStop: Encodable {
        var status: String
        var state_token: String
        var data: String

        /// The policy's fields as OneAccess names them (no `regEx` without a pattern).
        struct PolicyFields: Encodable {
            var maxLength: Int
            var minLength: Int
            var regEx: String?
        }

        static func policyText(_ policy: PasswordPolicy) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let fields = PolicyFields(maxLength: policy.maximumLength, minLength: policy.minimumLength, regEx: policy.pattern)
            return (try? encoder.encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
    }

    /// `X-state-token`, required.
    static func stateToken(_ request: Request) throws(TesseraError) -> String {
        guard let value = request.headers.value(.sdkStateToken)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw .invalidParameter(.stateToken, .missing)
        }
        return value
    }

    /// What a successful login answers (huawei.md A.7).
    struct SignedIn: Encodable {
        var status: String
        var session_token: String
        var id_token: String
        var expire: Int
    }

    /// `X-signature`, required.
    static func proof(_ request: Request) throws(TesseraError) -> String {
        guard let value = request.headers.value(.sdkSignature)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw .invalidParameter(.signature, .missing)
        }
        return value
    }

    // MARK: - The edge

    /// Checks the common headers, finds the tenant and the application, runs `body`, and renders
    /// a failure in the SDK catalogue.
    private func respond(_ request: Request, _ context: TesseraRequestContext,
                         _ body: (SDKCall) async throws(TesseraError) -> Response) async -> Response {
        let english = request.headers.value(.sdkLanguage)?.lowercased().hasPrefix("en") ?? false
        do { return try await body(try call(request, context, english: english)) } catch {
            if case .storageFailure = error { services.logger.error("sdk: storage failure") }
            return SDKErrors.response(error, english: english, now: services.clock.now())
        }
    }

    private func call(_ request: Request, _ context: TesseraRequestContext, english: Bool) throws(TesseraError) -> SDKCall {
        for header in [HTTPField.Name.sdkOperatingSystem, .sdkDeviceFingerprint, .sdkAgent] {
            guard let value = request.headers.value(header), !value.trimmingCharacters(in: .whitespaces).isEmpty, value.utf8.count <= 1024 else {
                throw .invalidDeviceInfo(header.rawName)
            }
        }
        guard let clientID = request.headers.value(.sdkClientID)?.trimmingCharacters(in: .whitespaces), !clientID.isEmpty else {
            throw .invalidParameter(.appID, .missing)
        }
        guard clientID.utf8.count <= 128 else { throw .unknownApplication }
        let externalID = request.headers.value(.sdkTenantID).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        guard let tenant = services.directory.userSessionTenant(host: request.head.authority, externalID: externalID) else {
            throw .unknownApplication
        }
        let application = try services.sessionApplication(clientID: clientID, tenant: tenant, viaExternalID: externalID != nil)
        return SDKCall(tenant: tenant, application: application, client: services.clientAddress(request, context), english: english)
    }
}

/// One SDK request's edge facts: its tenant, application, client address and language.
struct SDKCall {
    let tenant: Tenant
    let application: SessionApplication
    let client: String
    /// `X-L: en`: English messages.
    let english: Bool

    /// One encoder for every SDK body (configured once, never changed: safe to share).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json;charset=UTF-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension HTTPField.Name {
    static let sdkOperatingSystem = HTTPField.Name("X-operating-sys-version")!
    static let sdkDeviceFingerprint = HTTPField.Name("X-device-fingerprint")!
    static let sdkAgent = HTTPField.Name("X-agent")!
    static let sdkClientID = HTTPField.Name("X-client-id")!
    static let sdkTenantID = HTTPField.Name("X-tenant-id")!
    static let sdkSignature = HTTPField.Name("X-signature")!
    static let sdkLanguage = HTTPField.Name("X-L")!
    static let sdkStateToken = HTTPField.Name("X-state-token")!
}
