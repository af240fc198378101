import Crypto
import Foundation
import JWTKit
import TesseraCore

/// Claims of a user session's id token (huawei.md A.7): RS256 under Tessera's published keys,
/// the user's profile in `api` as a JSON string (clients decode it twice).
package struct UserIDTokenClaims: JWTPayload {
    package var iss: IssuerClaim
    package var aud: AudienceClaim
    package var exp: ExpirationClaim
    package var jti: IDClaim
    package var iat: IssuedAtClaim
    package var nbf: NotBeforeClaim
    package var sub: SubjectClaim
    package var api: String

    package func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Claims of a state token: a login that needs a password change first (PASSWORD_EXPIRED) or
/// may have one (PASSWORD_WARN) carries one to `pwd/update` or `pwd/skip-update`. HS256 under a
/// key of Tessera's own; used once (its `jti` is claimed).
package struct PasswordStateClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var tenant: String
    var state: String
    var jti: IDClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    package func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// User sessions of applications (the OneAccess user SDK API): sign in with a password, prove
/// possession of the session token with a proof encrypted under the application's key, end it.
extension Services {
    /// A session token as it leaves Tessera, once; the store keeps only its digest.
    package struct IssuedUserSession: Sendable {
        package var session: Session
        package var sessionToken: String
        package var idToken: String

        /// Seconds the session token lives (`expire`).
        package var lifetime: Int { Int(session.expiresAt.timeIntervalSince(session.createdAt)) }
    }

    /// What a password login led to.
    package enum UserSignIn: Sendable {
        case signedIn(IssuedUserSession)
        /// The password must (expired) or may (expiring) change first: no session yet, a state
        /// token for `pwd/update` or `pwd/skip-update`.
        case passwordChange(PasswordState, stateToken: String)
    }

    /// Session tokens: 32 letters and digits, as Huawei's examples show (about 190 bits).
    static let sessionTokenLength = 32
    /// How long before its `iat` an id token is already valid (Huawei's example: 120 s).
    static let idTokenLeeway: TimeInterval = 120

    /// The tenant's user-session policy, or ``TesseraError/invalidRequestor`` when it has none.
    package func userSessionPolicy(_ tenant: Tenant) throws(TesseraError) -> UserSessionPolicy {
        guard let policy = tenant.userSessions else { throw .invalidRequestor }
        return policy
    }

    /// The application a request names (`X-client-id`), of the tenant it chose.
    package func sessionApplication(clientID: String, tenant: Tenant, viaExternalID: Bool) throws(TesseraError) -> SessionApplication {
        guard let application = try userSessionPolicy(tenant).application(clientID: clientID, viaExternalID: viaExternalID) else {
            throw .unknownApplication
        }
        return application
    }

    /// The application's current public key: DER SubjectPublicKeyInfo.
    package func publicKey(of application: SessionApplication, tenant: Tenant) async throws(TesseraError) -> Data {
        try await stored { try await applicationKeys.current(tenantID: tenant.id, clientID: application.clientID).stored.publicKeyDER }
    }

    /// A password login to `application`: a session, or a stop at the user's password.
    package func signInUser(username: String, password: String, application: SessionApplication, tenant: Tenant,
                            client: String) async throws(TesseraError) -> UserSignIn {
        let (subscriber, state) = try await checkPassword(username: username, password: password, tenant: tenant, client: client)
        guard state == .current else {
            return .passwordChange(state, stateToken: try await stateToken(for: subscriber, state: state, application: application, tenant: tenant))
        }
        return .signedIn(try await startUserSession(subscriber, application: application, tenant: tenant, client: client))
    }

    /// Checks a user's password at the tenant's user directory (the one they changed it to, if
    /// they did), under the login limits; says where the password stands.
    func checkPassword(username: String, password: String, tenant: Tenant,
                       client: String) async throws(TesseraError) -> (Subscriber, PasswordState) {
        let policy = try userSessionPolicy(tenant)
        let known = (directory.provider(policy.providerID, for: tenant) as? DirectoryProvider)?.subscriber(username: username)
        var change: PasswordChange?
        if let known {
            change = try await stored { try await passwordChanges.passwordChange(providerID: policy.providerID, userID: known.userID) }
        }
        let subscriber = try signIn(account: username, password: password, providerID: policy.providerID, tenant: tenant, client: client,
                                    replacedHash: change?.passwordHash)
        let expiry = change.map { policy.passwords.expiry(ofPasswordChangedAt: $0.changedAt) } ?? subscriber.passwordExpiresAt
        return (subscriber, policy.passwords.state(expiresAt: expiry, at: clock.now()))
    }

    /// How long a state token lasts.
    static let stateTokenLifetime: TimeInterval = 600

    /// The key state tokens are signed with: derived from the forms key every instance shares.
    private func stateTokenKeys() async -> JWTKeyCollection {
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: tokens.formKey, info: Data("tessera password state tokens".utf8), outputByteCount: 32)
        return await JWTKeyCollection().add(hmac: HMACKey(key: key), digestAlgorithm: .sha256)
    }

    /// A state token for a login that stopped at its password (`state` expiring or expired).
    func stateToken(for subscriber: Subscriber, state: PasswordState, application: SessionApplication,
                            tenant: Tenant) async throws(TesseraError) -> String {
        let now = clock.now().wholeSeconds
        let claims = PasswordStateClaims(
            iss: IssuerClaim(value: TokenAuthority.issuer), sub: SubjectClaim(value: subscriber.userID), aud: AudienceClaim(value: application.clientID),
            tenant: tenant.id, state: state.rawValue, jti: IDClaim(value: Secret.generate(byteCount: 16)), iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(Self.stateTokenLifetime)))
        do { return try await stateTokenKeys().sign(claims) } catch {
            logger.error("cannot sign a state token: \(error)")
            throw .storageFailure
        }
    }

    /// The user and password state a state token stands for: signed by Tessera, live, of this
    /// tenant and application, for a user the directory still has.
    private func passwordState(token: String, application: SessionApplication, tenant: Tenant) async throws(TesseraError)
        -> (Subscriber, PasswordState, PasswordStateClaims) {
        let policy = try userSessionPolicy(tenant)
        guard token.utf8.count <= 2048, let claims = try? await stateTokenKeys().verify(token, as: PasswordStateClaims.self),
              claims.iss.value == TokenAuthority.issuer, claims.tenant == tenant.id, claims.aud.value == [application.clientID],
              claims.exp.value > clock.now(), let state = PasswordState(rawValue: claims.state), state != .current,
              let subscriber = (directory.provider(policy.providerID, for: tenant) as? DirectoryProvider)?.subscriber(userID: claims.sub.value)
        else { throw .invalidParameter(.stateToken, .stale) }
        return (subscriber, state, claims)
    }

    /// Uses a state token up; false when it was used before.
    private func claim(_ claims: PasswordStateClaims, tenant: Tenant) async throws(TesseraError) {
        guard try await claimNonce(tenantID: tenant.id, nonce: "sdk-state:\(claims.jti.value)", expiresAt: claims.exp.value) else {
            throw .invalidParameter(.stateToken, .stale)
        }
    }

    /// `pwd/update`: the user's current password and a new one the tenant's policy admits; the
    /// new one takes the place of the old on every instance, and a session starts.
    package func changePassword(stateToken: String, old: String, new: String, application: SessionApplication, tenant: Tenant,
                                client: String) async throws(TesseraError) -> IssuedUserSession {
        let policy = try userSessionPolicy(tenant)
        let (subscriber, _, claims) = try await passwordState(token: stateToken, application: application, tenant: tenant)
        // The old password, checked as a login is (it counts towards the lock).
        _ = try await checkPassword(username: subscriber.username, password: old, tenant: tenant, client: client)
        guard policy.passwords.admits(new) else { throw .invalidParameter(.newPassword, .notAllowed) }
        guard new != old else { throw .invalidParameter(.newPassword, .notAllowed) }
        let hash: PasswordHash
        do { hash = try PasswordHash(password: new) } catch { throw .storageFailure }
        try await claim(claims, tenant: tenant)
        try await stored {
            try await passwordChanges.record(PasswordChange(providerID: policy.providerID, userID: subscriber.userID, passwordHash: hash,
                                                            changedAt: clock.now()))
        }
        logger.notice("password changed", metadata: ["tenant": .string(tenant.id), "subscriber": .string(String(SecretDigest(of: subscriber.userID).hex.prefix(16)))])
        return try await startUserSession(subscriber, application: application, tenant: tenant, client: client)
    }

    /// `pwd/skip-update`: a user warned that their password expires soon goes on with it.
    package func skipPasswordChange(stateToken: String, application: SessionApplication, tenant: Tenant,
                                    client: String) async throws(TesseraError) -> IssuedUserSession {
        let (subscriber, state, claims) = try await passwordState(token: stateToken, application: application, tenant: tenant)
        guard state == .expiring else { throw .invalidParameter(.stateToken, .notAllowed) }
        try await claim(claims, tenant: tenant)
        return try await startUserSession(subscriber, application: application, tenant: tenant, client: client)
    }

    /// How many wrong passwords are left before `username` locks.
    package func remainingPasswordAttempts(username: String, tenant: Tenant) -> Int {
        guard let policy = tenant.userSessions else { return 0 }
        return loginGuard.remainingPasswordAttempts(providerID: policy.providerID, username: username)
    }

    /// Starts a user session of `subscriber` in `application`, with its id token.
    package func startUserSession(_ subscriber: Subscriber, application: SessionApplication, tenant: Tenant,
                                  client: String) async throws(TesseraError) -> IssuedUserSession {
        let policy = try userSessionPolicy(tenant)
        let now = clock.now()
        let token = Secret.alphanumeric(count: Self.sessionTokenLength)
        let session = Session(
            id: .timeOrdered(at: now), tenantID: tenant.id, kind: .userSession, applicationID: application.clientID,
            subject: Subject(userID: subscriber.userID, providerID: policy.providerID), tokenDigest: SecretDigest(of: token),
            createdAt: now, expiresAt: now.addingTimeInterval(policy.sessionLifetime), clientAddress: client)
        let idToken = try await idToken(for: session, tenant: tenant)
        try await start(session)
        return IssuedUserSession(session: session, sessionToken: token, idToken: idToken)
    }

    /// A new id token for a live session: the user as the directory knows them now.
    package func idToken(for session: Session, tenant: Tenant) async throws(TesseraError) -> String {
        let policy = try userSessionPolicy(tenant)
        let subscriber = (directory.provider(policy.providerID, for: tenant) as? DirectoryProvider)?.subscriber(userID: session.subject.userID)
        func text(_ key: String) -> String { if case .string(let value) = subscriber?.metadata[key] { value } else { "" } }
        let profile = ["name": subscriber?.displayName ?? subscriber?.username ?? session.subject.userID, "mobile": text("mobile"),
                       "id": session.subject.userID, "userName": subscriber?.username ?? session.subject.userID, "email": text("email")]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let api = (try? encoder.encode(profile)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let now = clock.now().wholeSeconds
        let claims = UserIDTokenClaims(
            iss: IssuerClaim(value: configuration.publicBaseURL ?? TokenAuthority.issuer), aud: AudienceClaim(value: session.applicationID ?? ""),
            exp: ExpirationClaim(value: now.addingTimeInterval(policy.idTokenLifetime)), jti: IDClaim(value: Secret.generate(byteCount: 16)),
            iat: IssuedAtClaim(value: now), nbf: NotBeforeClaim(value: now.addingTimeInterval(-Self.idTokenLeeway)),
            sub: SubjectClaim(value: session.subject.userID), api: api)
        do { return try await tokens.sign(claims) } catch {
            logger.error("cannot sign an id token: \(error)")
            throw .storageFailure
        }
    }

    /// The live session a proof (X-signature) stands for: decrypted with the application's keys
    /// (the current one, and retired ones within the grace period), signed within the timestamp
    /// window, of this tenant and application, live, and with a nonce not used before with it
    /// (claimed last: a proof refused for another reason does not use it up).
    package func userSession(proof encoded: String, application: SessionApplication, tenant: Tenant) async throws(TesseraError) -> Session {
        let policy = try userSessionPolicy(tenant)
        // 2048-bit ciphertexts are 344 characters of base64; 4096-bit ones 684.
        guard encoded.utf8.count <= 1024, let ciphertext = Data(base64Encoded: encoded) else { throw .undecryptableProof }
        var plaintext = try await decrypt(ciphertext, application: application, tenant: tenant, policy: policy, reload: false)
        // Another instance may have rotated the key: read the application's keys again, once.
        if plaintext == nil { plaintext = try await decrypt(ciphertext, application: application, tenant: tenant, policy: policy, reload: true) }
        guard let plaintext, let text = String(data: plaintext, encoding: .utf8) else { throw .undecryptableProof }
        guard let proof = SessionProof(plaintext: text) else { throw .invalidParameter(.signature, .malformed) }
        let now = clock.now()
        guard proof.isFresh(at: now, window: policy.timestampWindow) else { throw .invalidParameter(.timestamp, .stale) }
        guard proof.sessionToken.utf8.count <= 512 else { throw .noSession }
        let session: Session
        switch try await sessionState(tokenDigest: SecretDigest(of: proof.sessionToken), tenantID: tenant.id) {
        case .active(let found) where found.kind == .userSession && found.applicationID == application.clientID: session = found
        case .expired(let found) where found.kind == .userSession && found.applicationID == application.clientID: throw .sessionExpired
        default: throw .noSession
        }
        // A proof is fresh for the window either side of its timestamp: its nonce is kept as long.
        let nonceExpiry = max(proof.signedAt, now).addingTimeInterval(policy.timestampWindow)
        guard try await claimNonce(tenantID: tenant.id, nonce: "sdk:\(session.id.uuidString):\(proof.nonce)", expiresAt: nonceExpiry) else {
            throw .signIn(.replayedNonce)
        }
        return session
    }

    private func decrypt(_ ciphertext: Data, application: SessionApplication, tenant: Tenant, policy: UserSessionPolicy,
                         reload: Bool) async throws(TesseraError) -> Data? {
        let keys = try await stored {
            try await applicationKeys.decrypting(tenantID: tenant.id, clientID: application.clientID, grace: policy.keyGracePeriod, reload: reload)
        }
        // An RSA private-key operation takes about a millisecond: on a signing lane, off the
        // cooperative threads that answer the cheap requests.
        return try? await tokens.signingLanes.run { () -> Data? in
            for key in keys {
                if let plaintext = ProofDecryption.decrypt(ciphertext, with: key.opened) { return plaintext }
            }
            return nil
        }
    }

    /// A new key pair for one of the tenant's user-session applications (regular or template); the
    /// previous one still decrypts for the grace period, which is returned with the new key.
    package func rotateApplicationKey(tenant: Tenant, clientID: String) async throws(TesseraError) -> (ApplicationKey, TimeInterval) {
        let policy = try userSessionPolicy(tenant)
        guard policy.applications.contains(where: { $0.clientID == clientID }) else { throw .unknownApplication }
        let key = try await stored { try await applicationKeys.rotate(tenantID: tenant.id, clientID: clientID) }
        logger.notice("application key rotated", metadata: ["tenant": .string(tenant.id), "application": .string(clientID), "key": .string(key.keyID)])
        return (key, policy.keyGracePeriod)
    }

    /// Ends a user session (logout), durably and on every instance, before returning.
    package func endUserSession(_ session: Session) async throws(TesseraError) {
        let plan = try await revoke(SessionSelector(tenantID: session.tenantID, .id(session.id), kinds: [.userSession]))
        // Ended meanwhile by another request: this one did not end it.
        guard !plan.steps.isEmpty else { throw .noSession }
    }
}
