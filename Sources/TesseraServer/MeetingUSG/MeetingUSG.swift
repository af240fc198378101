import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// The Huawei Cloud Meeting USG token API (huawei.md part B): access tokens with refresh tokens.
///
/// - `POST /v1/usg/acs/auth/account`: account and password (Basic) → the token object.
/// - `POST /v2/usg/acs/auth/appauth`: App ID sign-in by HMAC-SHA256 signature → the token object.
/// - `PUT /v1/usg/acs/token`: refresh with the access or the refresh token in `X-Access-Token`.
/// - `POST /v1/usg/acs/token/validate` (and `/v2/…`, which Terraform calls): the token object of
///   the token in the body.
/// - `DELETE /v1/usg/acs/token` (seed 004): the token and its family end on every instance
///   before the 200.
///
/// The tenant is the one whose `access_tokens.hosts` names the request's host, else the one that
/// names none. Every answer carries `X-Request-Id`; errors are ``USGErrors``.
struct MeetingUSG: Sendable {
    let services: Services
    /// Per tenant and client address, the tenant's throttle policy; over it, 429 (the SDKs retry).
    let buckets: TokenBuckets

    static let maximumBodySize = 16 * 1024

    func addRoutes(to router: Routes) {
        router.post("/v1/usg/acs/auth/account") { request, context in
            await respond(request, context) { call throws(TesseraError) in try await accountSignIn(request, call) }
        }
        router.post("/v2/usg/acs/auth/appauth") { request, context in
            await respond(request, context) { call throws(TesseraError) in try await keyedSignIn(request, call) }
        }
        router.put("/v1/usg/acs/token") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let issued = try await services.refreshAccessToken(try Self.accessToken(request), tenant: call.tenant, client: call.client)
                return call.token(issued: issued, services: services, accountInfo: true)
            }
        }
        for path in ["/v1/usg/acs/token/validate", "/v2/usg/acs/token/validate"] {
            router.post(RouterPath(path)) { request, context in
                await respond(request, context) { call throws(TesseraError) in try await validate(request, call) }
            }
        }
        router.delete("/v1/usg/acs/token") { request, context in
            await respond(request, context) { call throws(TesseraError) in
                let token = try Self.accessToken(request)
                _ = try await services.counted(.logout, dialect: "meeting-usg") { () async throws(TesseraError) in
                    try await services.deleteAccessToken(token, tenant: call.tenant)
                }
                return USGCall.json([String: String](), status: .ok, requestID: call.requestID)  // {}
            }
        }
    }

    // MARK: - Calls

    private func accountSignIn(_ request: Request, _ call: USGCall) async throws(TesseraError) -> Response {
        let (account, password) = try Self.basicCredentials(request)
        let body = try await JSONBody.object(request, limit: Self.maximumBodySize)
        // The body's account is the one signing in; the Basic one must be the same.
        if let named = body["account"] {
            guard let text = named.text, !text.isEmpty, text.utf8.count <= 255 else { throw .invalidParameter(.account, .malformed) }
            guard text == account else { throw .invalidParameter(.account, .notAllowed) }
        }
        let clientType = try Self.integer(body["clientType"], .clientType, default: AccessTokenPolicy.apiClientType)
        let createTokenType = try Self.integer(body["createTokenType"], .clientType, default: 0)
        guard createTokenType == 0 || createTokenType == 1 else { throw .invalidParameter(.clientType, .notAllowed) }
        let subscriber = try await services.counted(.login, dialect: "meeting-usg") { () throws(TesseraError) in
            try services.signIn(account: account, password: password, tenant: call.tenant, client: call.client)
        }
        let policy = try services.accessTokenPolicy(call.tenant)
        let subject = Subject(userID: subscriber.userID, providerID: policy.providerID)
        // createTokenType 1 only checks the credentials: nothing is stored.
        guard createTokenType == 0 else {
            return USGCall.json(CredentialCheck(user: call.user(subject: subject, keyedApplication: nil, services: services, accountInfo: true),
                                                clientType: clientType), status: .ok, requestID: call.requestID)
        }
        let issued = try await services.issueAccessToken(tenant: call.tenant, subject: subject, keyedApplication: nil, clientType: clientType,
                                                         client: call.client)
        return call.token(issued: issued, services: services, accountInfo: true)
    }

    /// The validate body: three known fields (a struct decodes faster than a dictionary).
    struct ValidateBody: Decodable {
        var token: JSONValue?
        var needGenNewToken: JSONValue?
        var needAccountInfo: JSONValue?
    }

    private func validate(_ request: Request, _ call: USGCall) async throws(TesseraError) -> Response {
        let body = try await JSONBody.decode(request, as: ValidateBody.self, limit: Self.maximumBodySize) ?? ValidateBody()
        guard let token = body.token?.text, !token.isEmpty else { throw .invalidParameter(.token, .missing) }
        guard token.utf8.count <= 512 else { throw .noSession }
        let needNew = try Self.flag(body.needGenNewToken, .token)
        let accountInfo = try Self.flag(body.needAccountInfo, .token)
        let session = try await services.accessTokenSession(token, tenant: call.tenant)
        guard needNew else { return call.token(session: session, accessToken: token, services: services, accountInfo: accountInfo) }
        // A token of its own for the caller, in a family of its own, under the same limits.
        let issued = try await services.issueAccessToken(like: session, tenant: call.tenant, client: call.client)
        return call.token(issued: issued, services: services, accountInfo: accountInfo)
    }

    private func keyedSignIn(_ request: Request, _ call: USGCall) async throws(TesseraError) -> Response {
        let authorization = try KeyedSignature(header: request.headers.value(.authorization))
        let body = try await JSONBody.object(request, limit: Self.maximumBodySize)
        guard let appID = body["appId"]?.text, !appID.isEmpty, appID.utf8.count <= 128 else { throw .invalidParameter(.appID, .missing) }
        if let access = authorization.accessAppID, access != appID { throw .signIn(.invalidSignature) }
        let clientType = try Self.integer(body["clientType"], .clientType, default: AccessTokenPolicy.apiClientType)
        let expireTime = try Self.integer(body["expireTime"], .expiry, default: nil)
        guard expireTime >= 0 else { throw .invalidParameter(.expiry, .malformed) }
        guard let nonce = body["nonce"]?.text, (32...64).contains(nonce.utf8.count), nonce.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { throw .invalidParameter(.nonce, .malformed) }
        let sent = KeyedSignIn(applicationID: appID, organizationID: try Self.optionalText(body["corpId"], .userID),
                               userID: try Self.optionalText(body["userId"], .userID), expiry: expireTime, nonce: nonce,
                               signature: authorization.signature)
        let subject = try await services.counted(.login, dialect: "meeting-usg") { () async throws(TesseraError) in
            try await services.signIn(sent, tenant: call.tenant)
        }
        let issued = try await services.issueAccessToken(tenant: call.tenant, subject: subject, keyedApplication: appID, clientType: clientType,
                                                         client: call.client)
        return call.token(issued: issued, services: services, accountInfo: true)
    }

    // MARK: - The edge

    /// Gives the request its id and language, finds its tenant, throttles, runs `body`, and
    /// renders a failure in the USG catalogue.
    private func respond(_ request: Request, _ context: TesseraRequestContext,
                         _ body: (USGCall) async throws(TesseraError) -> Response) async -> Response {
        // The request's id (RequestIDs): the client's X-Request-ID when well formed, else 32 new hex characters.
        let requestID = context.requestID
        let english = USGCall.prefersEnglish(request.headers.value(.acceptLanguage))
        let client = services.clientAddress(request, context)
        guard let tenant = services.directory.accessTokenTenant(host: request.head.authority) else {
            return USGErrors.response(.invalidRequestor, call: USGCall(requestID: requestID, english: english, tenant: nil, client: client))
        }
        let call = USGCall(requestID: requestID, english: english, tenant: tenant, client: client)
        if services.configuration.throttling, let policy = tenant.policies.throttle, !buckets.take(tenant.id + "|" + client, policy: policy) {
            return USGErrors.response(.tooManyRequests, call: call)
        }
        do { return try await body(call) } catch {
            if case .storageFailure = error { services.logger.error("usg: storage failure", metadata: ["request": .string(requestID)]) }
            return USGErrors.response(error, call: call)
        }
    }

    /// `X-Access-Token`, required.
    static func accessToken(_ request: Request) throws(TesseraError) -> String {
        guard let token = request.headers.value(.accessToken)?.trimmingCharacters(in: .whitespaces), !token.isEmpty else {
            throw .invalidParameter(.token, .missing)
        }
        // Longer than any token Tessera makes: unknown, without hashing a megabyte.
        guard token.utf8.count <= 512 else { throw .noSession }
        return token
    }

    /// `Authorization: Basic base64(account:password)`.
    static func basicCredentials(_ request: Request) throws(TesseraError) -> (String, String) {
        guard let header = request.headers.value(.authorization) else { throw .invalidParameter(.account, .missing) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", parts[1].utf8.count <= 1024,
              let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { throw .invalidParameter(.account, .malformed) }
        let account = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        guard !account.isEmpty, account.utf8.count <= 255, !password.isEmpty, password.utf8.count <= 128 else {
            throw .invalidParameter(.account, .malformed)
        }
        return (account, password)
    }

    /// A whole number, given as a number or a string of digits (some clients quote them).
    static func integer(_ value: JSONValue?, _ parameter: TesseraError.Parameter, default fallback: Int?) throws(TesseraError) -> Int {
        switch value {
        case nil, .null:
            guard let fallback else { throw .invalidParameter(parameter, .missing) }
            return fallback
        case .number(let number):
            guard let int = Int(exactly: number), int >= 0 else { throw .invalidParameter(parameter, .malformed) }
            return int
        case .string(let text):
            guard text.utf8.count <= 12, let int = Int(text), int >= 0 else { throw .invalidParameter(parameter, .malformed) }
            return int
        default: throw .invalidParameter(parameter, .malformed)
        }
    }

    static func flag(_ value: JSONValue?, _ parameter: TesseraError.Parameter) throws(TesseraError) -> Bool {
        switch value {
        case nil, .null: return false
        case .bool(let flag): return flag
        case .string(let text) where text == "true" || text == "false": return text == "true"
        default: throw .invalidParameter(parameter, .malformed)
        }
    }

    static func optionalText(_ value: JSONValue?, _ parameter: TesseraError.Parameter) throws(TesseraError) -> String {
        switch value {
        case nil, .null: return ""
        case .string(let text) where text.utf8.count <= 128 && !text.contains(":"): return text
        default: throw .invalidParameter(parameter, .malformed)
        }
    }
}

/// `Authorization: HMAC-SHA256 signature=<hex>,access=<base64 appId>` (`access` optional for
/// older clients; the hex in either case).
struct KeyedSignature {
    let signature: Data
    let accessAppID: String?

    init(header: String?) throws(TesseraError) {
        guard let header, header.utf8.count <= 1024 else { throw .invalidParameter(.signature, .missing) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].uppercased() == "HMAC-SHA256" else { throw .invalidParameter(.signature, .malformed) }
        var fields: [String: String] = [:]
        for item in parts[1].split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw .invalidParameter(.signature, .malformed) }
            fields[pair[0].trimmingCharacters(in: .whitespaces).lowercased()] = pair[1].trimmingCharacters(in: .whitespaces)
        }
        guard let hex = fields["signature"], hex.utf8.count == 64, let bytes = Data(hexadecimal: hex) else {
            throw .invalidParameter(.signature, .malformed)
        }
        signature = bytes
        if let access = fields["access"] {
            guard let decoded = Data(base64Encoded: access), let appID = String(data: decoded, encoding: .utf8) else {
                throw .invalidParameter(.signature, .malformed)
            }
            accessAppID = appID
        } else {
            accessAppID = nil
        }
    }
}

extension HTTPField.Name {
    static let accessToken = HTTPField.Name("X-Access-Token")!
}
