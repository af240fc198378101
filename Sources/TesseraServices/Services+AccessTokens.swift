import Crypto
import Foundation
import TesseraCore

/// Access tokens with refresh tokens (the Meeting USG token API): sign in with a password or a
/// keyed signature, look a token up, refresh it, delete it with its family.
extension Services {
    /// A token pair as it leaves Tessera, once; the store keeps only their digests.
    package struct IssuedTokenPair: Sendable {
        package var session: Session
        package var accessToken: String
        package var refreshToken: String
    }

    /// Access and refresh tokens: 40 letters and digits (the length of Huawei's longer examples), about 238 bits.
    static let accessTokenLength = 40

    /// The tenant's access-token policy, or ``TesseraError/invalidRequestor`` when it has none.
    package func accessTokenPolicy(_ tenant: Tenant) throws(TesseraError) -> AccessTokenPolicy {
        guard let policy = tenant.accessTokens else { throw .invalidRequestor }
        return policy
    }

    /// Checks an account's password against the tenant's directory, under the login limits: a
    /// locked account stays locked with the right password; a wrong one counts towards the lock.
    package func signIn(account: String, password: String, tenant: Tenant, client: String) throws(TesseraError) -> Subscriber {
        try signIn(account: account, password: password, providerID: try accessTokenPolicy(tenant).providerID, tenant: tenant, client: client)
    }

    /// ``signIn(account:password:tenant:client:)`` at the directory provider `providerID` of `tenant`.
    package func signIn(account: String, password: String, providerID: String, tenant: Tenant, client: String,
                        replacedHash: PasswordHash? = nil) throws(TesseraError) -> Subscriber {
        guard let directory = directory.provider(providerID, for: tenant) as? DirectoryProvider else { throw .invalidRequestor }
        if let until = loginGuard.lockedUntil(providerID: directory.id, username: account) { throw .signIn(.accountLocked(until: until)) }
        guard loginGuard.admitsAddress(client) else { throw .tooManyRequests }
        switch directory.check(username: account, password: password, replacedHash: replacedHash) {
        case .accepted(let subscriber): return subscriber
        case .disabled: throw .signIn(.accountDisabled)
        case .refused:
            if let until = loginGuard.recordWrongPassword(providerID: directory.id, username: account, address: client) {
                throw .signIn(.accountLocked(until: until))
            }
            throw .signIn(.wrongCredentials)
        }
    }

    /// Checks a keyed sign-in: a known application, its signature (HMAC-SHA256 under the
    /// application's key, compared in constant time), the signature's expiry, the organisation,
    /// then claims the nonce (only a sign-in that passed every check uses it up). Returns the
    /// subject: the named user, else the application's default user.
    package func signIn(_ request: KeyedSignIn, tenant: Tenant) async throws(TesseraError) -> Subject {
        let policy = try accessTokenPolicy(tenant)
        guard let application = policy.application(id: request.applicationID) else { throw .signIn(.invalidSignature) }
        let key = SymmetricKey(data: Data(application.key.utf8))
        guard request.signedTexts.contains(where: { text in
            HMAC<SHA256>.isValidAuthenticationCode(request.signature, authenticating: Data(text.utf8), using: key)
        }) else { throw .signIn(.invalidSignature) }
        let now = clock.now()
        if request.expiry != 0, now.timeIntervalSince1970 > Double(request.expiry) { throw .signIn(.signatureExpired) }
        // Another organisation's users are not this tenant's to sign in.
        guard request.organizationID.isEmpty || request.organizationID == policy.organizationID else { throw .accessTokenForAnotherTenant }
        // A nonce is claimed until its signature expires (a year when it never does).
        let nonceExpiry = request.expiry == 0 ? now.addingTimeInterval(365 * 24 * 3600) : Date(timeIntervalSince1970: Double(request.expiry))
        guard try await claimNonce(tenantID: tenant.id, nonce: "appauth:\(request.applicationID):\(request.nonce)", expiresAt: nonceExpiry) else {
            throw .signIn(.replayedNonce)
        }
        return Subject(userID: request.userID.isEmpty ? application.defaultUserID : request.userID, providerID: policy.providerID)
    }

    /// A token pair of a family of its own for the subject, application and client type of
    /// `session` (a validation that asks for a new token).
    package func issueAccessToken(like session: Session, tenant: Tenant, client: String) async throws(TesseraError) -> IssuedTokenPair {
        let application = AccessTokenPolicy.client(of: session)
        return try await issueAccessToken(tenant: tenant, subject: session.subject, keyedApplication: application.keyed,
                                          clientType: application.clientType, client: client)
    }

    /// Starts a token pair for `subject`: a family of its own, or (a refresh) one more of
    /// `continuing`'s family. Past the subject's limit for the client type, the oldest of its
    /// tokens end.
    package func issueAccessToken(tenant: Tenant, subject: Subject, keyedApplication: String?, clientType: Int, client: String,
                                  continuing previous: Session? = nil) async throws(TesseraError) -> IssuedTokenPair {
        let policy = try accessTokenPolicy(tenant)
        let now = clock.now()
        let access = Secret.alphanumeric(count: Self.accessTokenLength)
        let refresh = Secret.alphanumeric(count: Self.accessTokenLength)
        let session = Session(
            id: .timeOrdered(at: now), tenantID: tenant.id, kind: .accessToken,
            applicationID: AccessTokenPolicy.applicationID(keyed: keyedApplication, clientType: clientType), subject: subject,
            tokenDigest: SecretDigest(of: access), refreshDigest: SecretDigest(of: refresh), familyID: previous?.familyID ?? .random(),
            createdAt: now, expiresAt: now.addingTimeInterval(policy.lifetime), clientAddress: client)
        try await start(session, limit: policy.limit(clientType: clientType))
        return IssuedTokenPair(session: session, accessToken: access, refreshToken: refresh)
    }

    /// The live session of an access token (from memory when it is there), or why there is none.
    package func accessTokenSession(_ token: String, tenant: Tenant) async throws(TesseraError) -> Session {
        let session = try await sessionState(tokenDigest: SecretDigest(of: token), tenantID: tenant.id).require()
        guard session.kind == .accessToken else { throw .noSession }
        return session
    }

    /// Refreshes with an access token or its refresh token: a new pair, with the whole lifetime, in
    /// the same family. The old pair stays valid until its own expiry, because Huawei's SDKs keep
    /// using the token they signed in with after a refresh (huaweicloudsdkmeeting's credentials
    /// hold it for 12 hours); deleting any token of the family ends them all.
    package func refreshAccessToken(_ token: String, tenant: Tenant, client: String) async throws(TesseraError) -> IssuedTokenPair {
        let digest = SecretDigest(of: token)
        // An access token through the token cache, as validate finds it; else a refresh token.
        var found: Session?
        switch try await sessionState(tokenDigest: digest, tenantID: tenant.id) {
        case .active(let session) where session.kind == .accessToken: found = session
        case .expired(let session) where session.kind == .accessToken: throw .sessionExpired
        default: found = try await sessions(SessionSelector(tenantID: tenant.id, .refreshDigest(digest), kinds: [.accessToken])).first
        }
        guard let session = found else { throw .noSession }
        guard !session.isExpired(at: clock.now()) else { throw .sessionExpired }
        let application = AccessTokenPolicy.client(of: session)
        return try await issueAccessToken(tenant: tenant, subject: session.subject, keyedApplication: application.keyed,
                                          clientType: application.clientType, client: client, continuing: session)
    }

    /// Deletes an access token and every token of its family (its refresh token, the tokens
    /// refreshed from it), durably and on every instance, before returning.
    package func deleteAccessToken(_ token: String, tenant: Tenant) async throws(TesseraError) -> LogoutPlan {
        let session = try await accessTokenSession(token, tenant: tenant)
        let selector = session.familyID.map { SessionSelector(tenantID: tenant.id, .family($0), kinds: [.accessToken]) }
            ?? SessionSelector(tenantID: tenant.id, .id(session.id), kinds: [.accessToken])
        let plan = try await revoke(selector)
        // Deleted meanwhile by another request: this one did not delete it.
        guard !plan.steps.isEmpty else { throw .noSession }
        return plan
    }
}
