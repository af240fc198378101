import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// One USG request's edge facts: its id, its language, its tenant and client; and the renderings
/// of the token object (huawei.md B.5).
struct USGCall {
    let requestID: String
    let english: Bool
    /// Nil only while rendering the error that there is none.
    let tenant: Tenant!
    let client: String

    init(requestID: String, english: Bool, tenant: Tenant?, client: String) {
        self.requestID = requestID
        self.english = english
        self.tenant = tenant
        self.client = client
    }

    /// `en-US` (or any English) selects English; anything else, or nothing, the default Chinese.
    static func prefersEnglish(_ acceptLanguage: String?) -> Bool {
        guard let first = acceptLanguage?.split(separator: ",").first else { return false }
        return first.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("en")
    }

    /// One encoder for every USG body (configured once, never changed: safe to share).
    static let encoder = JSONEncoder()

    static func json(_ value: some Encodable, status: HTTPResponse.Status, requestID: String) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json;charset=UTF-8", .cacheControl: "no-cache",
                                                  .requestID: requestID],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The token object of a newly issued pair: both tokens, their times. The refresh token lives
    /// as long as its access token.
    func token(issued: Services.IssuedTokenPair, services: Services, accountInfo: Bool) -> Response {
        var object = token(session: issued.session, accessToken: issued.accessToken, at: issued.session.createdAt, services: services,
                           accountInfo: accountInfo)
        object.refreshToken = issued.refreshToken
        object.refreshValidPeriod = object.validPeriod
        object.refreshExpireTime = object.expireTime
        object.refreshCreateTime = object.createTime
        return Self.json(object, status: .ok, requestID: requestID)
    }

    /// The token object of a token presented for validation (its refresh token is not Tessera's
    /// to give: only its digest is kept).
    func token(session: Session, accessToken: String, services: Services, accountInfo: Bool) -> Response {
        Self.json(token(session: session, accessToken: accessToken, at: services.clock.now(), services: services, accountInfo: accountInfo),
                  status: .ok, requestID: requestID)
    }

    private func token(session: Session, accessToken: String, at now: Date, services: Services, accountInfo: Bool) -> TokenObject {
        let client = AccessTokenPolicy.client(of: session)
        return TokenObject(
            accessToken: accessToken,
            // The address it was issued to (sessions stored before addresses were kept: none).
            tokenIp: session.clientAddress ?? "",
            // Seconds left: at issue, the whole lifetime; at validation, what remains.
            validPeriod: max(0, Int64(session.expiresAt.timeIntervalSince(max(now, session.createdAt)).rounded(.down))),
            expireTime: Int64(session.expiresAt.timeIntervalSince1970), createTime: session.createdAt.epochMilliseconds,
            user: user(subject: session.subject, keyedApplication: client.keyed, services: services, accountInfo: accountInfo),
            clientType: client.clientType)
    }

    /// UserInfo: the directory's subscriber when it is one, else an application's user as Huawei
    /// provisions them (`Auto-<userId>`). Without `accountInfo`, the id alone.
    func user(subject: Subject, keyedApplication: String?, services: Services, accountInfo: Bool) -> UserInfo {
        guard accountInfo, let policy = tenant.accessTokens else { return UserInfo(userId: subject.userID) }
        let subscriber = (services.directory.providers[policy.providerID] as? DirectoryProvider)?.subscriber(userID: subject.userID)
        let isDefaultUser = keyedApplication.flatMap { policy.application(id: $0) }?.defaultUserID == subject.userID
        return UserInfo(userId: subject.userID, ucloginAccount: subscriber?.username ?? "Auto-\(subject.userID)",
                        name: subscriber?.displayName ?? subscriber?.username ?? subject.userID, companyId: policy.organizationID,
                        userType: 2, adminType: isDefaultUser ? 0 : 2, status: 0, appId: keyedApplication)
    }
}

/// The token object (huawei.md B.5), in Huawei's field names.
struct TokenObject: Encodable {
    var accessToken: String
    var tokenIp: String
    var validPeriod: Int64
    var expireTime: Int64
    var createTime: Int64
    var user: UserInfo
    var clientType: Int
    var forceLoginInd = 0
    var firstLogin = false
    var pwdExpired = false
    var delayDelete = false
    var tokenType = 0
    var refreshToken: String?
    var refreshValidPeriod: Int64?
    var refreshExpireTime: Int64?
    var refreshCreateTime: Int64?
}

/// UserInfo (huawei.md B.5), the fields Tessera knows.
struct UserInfo: Encodable {
    var userId: String
    var ucloginAccount: String?
    var name: String?
    var companyId: String?
    var userType: Int?
    var adminType: Int?
    var status: Int?
    var appId: String?
}

/// What `createTokenType: 1` answers: the credentials' user, no token.
struct CredentialCheck: Encodable {
    var user: UserInfo
    var clientType: Int
}

/// `{error_code, error_msg, request_id}`.
struct USGError: Encodable {
    var error_code: String
    var error_msg: String
    var request_id: String
}
