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

    /// The client's `X-Request-ID` when it is well formed (1 to 64 letters, digits, `-`, `_`,
    /// `.`), else 32 new lower-case hex characters, as Huawei's examples show.
    static func requestID(sent: String?) -> String {
        if let sent, (1...64).contains(sent.utf8.count), sent.utf8.allSatisfy({ byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }) { return sent }
        return Secret.randomBytes(16).map { String(format: "%02x", $0) }.joined()
    }

    /// `en-US` (or any English) selects English; anything else, or nothing, the default Chinese.
    static func prefersEnglish(_ acceptLanguage: String?) -> Bool {
        guard let first = acceptLanguage?.split(separator: ",").first else { return false }
        return first.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("en")
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status, requestID: String) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json;charset=UTF-8", .cacheControl: "no-cache",
                                                  .requestID: requestID],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The token object of a newly issued pair: both tokens, their times.
    func token(issued: Services.IssuedTokenPair, services: Services, accountInfo: Bool) -> Response {
        var object = fields(session: issued.session, accessToken: issued.accessToken, at: issued.session.createdAt, services: services,
                            accountInfo: accountInfo)
        let created = issued.session.createdAt, expires = issued.session.expiresAt
        // The refresh token lives as long as its access token: a refresh moves both on.
        object["refreshToken"] = issued.refreshToken
        object["refreshValidPeriod"] = max(0, Int64(expires.timeIntervalSince(created)))
        object["refreshExpireTime"] = Int64(expires.timeIntervalSince1970)
        object["refreshCreateTime"] = created.epochMilliseconds
        return Self.json(object, status: .ok, requestID: requestID)
    }

    /// The token object of a token presented for validation (its refresh token is not Tessera's
    /// to give: only its digest is kept).
    func token(session: Session, accessToken: String, services: Services, accountInfo: Bool) -> Response {
        Self.json(fields(session: session, accessToken: accessToken, at: services.clock.now(), services: services, accountInfo: accountInfo),
                  status: .ok, requestID: requestID)
    }

    private func fields(session: Session, accessToken: String, at now: Date, services: Services, accountInfo: Bool) -> [String: Any] {
        let client = AccessTokenPolicy.client(of: session)
        return [
            "accessToken": accessToken,
            // The address it was issued to (sessions stored before addresses were kept: none).
            "tokenIp": session.clientAddress ?? "",
            // Seconds left: at issue, the whole lifetime; at validation, what remains.
            "validPeriod": max(0, Int64(session.expiresAt.timeIntervalSince(max(now, session.createdAt)).rounded(.down))),
            "expireTime": Int64(session.expiresAt.timeIntervalSince1970),
            "createTime": session.createdAt.epochMilliseconds,
            "user": user(subject: session.subject, keyedApplication: client.keyed, services: services, accountInfo: accountInfo),
            "clientType": client.clientType,
            "forceLoginInd": 0,
            "firstLogin": false,
            "pwdExpired": false,
            "delayDelete": false,
            "tokenType": 0,
        ]
    }

    /// UserInfo: the directory's subscriber when it is one, else an application's user as Huawei
    /// provisions them (`Auto-<userId>`). Without `accountInfo`, the id alone.
    func user(subject: Subject, keyedApplication: String?, services: Services, accountInfo: Bool) -> [String: Any] {
        var user: [String: Any] = ["userId": subject.userID]
        guard accountInfo, let policy = tenant.accessTokens else { return user }
        let subscriber = (services.directory.providers[policy.providerID] as? DirectoryProvider)?.subscriber(userID: subject.userID)
        user["ucloginAccount"] = subscriber?.username ?? "Auto-\(subject.userID)"
        user["name"] = subscriber?.displayName ?? subscriber?.username ?? subject.userID
        user["companyId"] = policy.organizationID
        user["userType"] = 2
        user["adminType"] = keyedApplication != nil && subject.userID == policy.application(id: keyedApplication!)?.defaultUserID ? 0 : 2
        user["status"] = 0
        if let keyedApplication { user["appId"] = keyedApplication }
        return user
    }
}
