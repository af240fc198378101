import Foundation
import TesseraCore
import TesseraStore

/// Pending logins: a device asks for a code, a browser signs in with it.
extension Services {
    /// A registration code just made, with the code in clear (the store only has its digest).
    public struct IssuedCode: Sendable {
        public let code: String
        public let login: PendingLogin
    }

    package func createPendingLogin(
        tenant: Tenant, deviceID: String, providerID: String?, description: DeviceDescription, ttl: TimeInterval?
    ) async throws(TesseraError) -> IssuedCode {
        if let providerID, directory.provider(providerID, for: tenant) == nil { throw .unknownIntegration(providerID) }
        let lifetime = ttl ?? tenant.policies.registrationCodeTTL
        guard lifetime >= 1, lifetime <= tenant.policies.registrationCodeMaxTTL else { throw .invalidParameter(.ttl, .malformed) }
        let now = clock.now()
        // A collision with a live code is astronomically rare; try a few fresh codes before giving up.
        for _ in 0..<5 {
            let code = RegistrationCode.generate()
            let login = PendingLogin(
                id: UUID.random(), codeDigest: RegistrationCode.digest(code, tenant: tenant.id),
                device: DeviceKey(tenantID: tenant.id, deviceID: deviceID), providerID: providerID,
                description: description, createdAt: now, expiresAt: now.addingTimeInterval(lifetime))
            if try await stored({ try await pendingLogins.insert(login) }) { return IssuedCode(code: code, login: login) }
        }
        throw .storageFailure
    }

    /// The live pending login of `code` in `tenant`.
    package func pendingLogin(tenant: Tenant, code rawCode: String) async throws(TesseraError) -> (code: String, login: PendingLogin) {
        guard let code = RegistrationCode.normalize(rawCode) else { throw .loginCode(.unknown) }
        guard let login = try await stored({ try await pendingLogins.pendingLogin(codeDigest: RegistrationCode.digest(code, tenant: tenant.id)) }) else {
            throw .loginCode(.unknown)
        }
        guard !login.isExpired(at: clock.now()) else { throw .loginCode(.expired) }
        return (code, login)
    }

    package func deletePendingLogin(tenant: Tenant, code rawCode: String) async throws(TesseraError) {
        guard let code = RegistrationCode.normalize(rawCode),
              try await stored({ try await pendingLogins.deletePendingLogin(codeDigest: RegistrationCode.digest(code, tenant: tenant.id)) })
        else { throw .loginCode(.unknown) }
    }

    /// Starts a browser's sign-in at `providerID` for `code`; returns the state the browser carries.
    ///
    /// `returnURL` must already be checked by the caller (the tenant's domains, or Tessera's own page).
    package func beginLogin(tenant: Tenant, code: String, providerID: String, returnURL: String, client: String) async throws(TesseraError) -> String {
        // Before the code is looked at: an answer to a check that should not run tells a guesser something.
        guard loginGuard.admitsAddress(client), loginGuard.admitsCodeCheck(tenantID: tenant.id) else {
            logger.notice("security: code check throttled", metadata: ["event": "throttled", "tenant": .string(tenant.id), "client": .string(client)])
            throw .tooManyRequests
        }
        let login: PendingLogin
        do { login = try await pendingLogin(tenant: tenant, code: code).login } catch {
            if case .loginCode(.unknown) = error { loginGuard.recordWrongCode(tenantID: tenant.id, address: client) }
            throw error
        }
        guard login.completedSessionID == nil else { throw .loginCode(.alreadyUsed) }
        guard directory.provider(providerID, for: tenant) != nil else { throw .unknownIntegration(providerID) }
        if let wanted = login.providerID, wanted != providerID { throw .unknownIntegration(providerID) }
        let state = Secret.generate()
        let attempt = LoginAttempt(
            stateDigest: SecretDigest(of: state), tenantID: tenant.id, pendingLoginID: login.id, providerID: providerID,
            returnURL: returnURL, expiresAt: min(login.expiresAt, clock.now().addingTimeInterval(Self.loginAttemptLifetime)))
        try await stored { try await pendingLogins.insert(attempt) }
        return state
    }

    /// A live browser attempt and what it is for, or `nil`.
    package func loginAttempt(state: String) async throws(TesseraError) -> (attempt: LoginAttempt, login: PendingLogin, tenant: Tenant)? {
        guard state.count <= 128 else { return nil }
        let digest = SecretDigest(of: state)
        guard let attempt = try await stored({ try await pendingLogins.loginAttempt(stateDigest: digest) }),
              attempt.expiresAt > clock.now(),
              let login = try await stored({ try await pendingLogins.pendingLogin(id: attempt.pendingLoginID) }),
              let tenant = directory.tenant(attempt.tenantID)
        else { return nil }
        return (attempt, login, tenant)
    }

    /// Counts a wrong password against the attempt, the subscriber and the client. Returns
    /// whether the attempt is still usable.
    package func recordWrongPassword(state: String, providerID: String, username: String, client: String) async throws(TesseraError) -> Bool {
        loginGuard.recordWrongPassword(providerID: providerID, username: username, address: client)
        let count = try await stored { try await pendingLogins.recordFailedPassword(stateDigest: SecretDigest(of: state), limit: Self.passwordsPerAttempt) }
        return count < Self.passwordsPerAttempt
    }

    /// Finishes a sign-in: the device of the pending login now has a session for `subject`.
    /// `upstream`: what an OpenID Connect provider's callback gave (its claims and tokens), kept
    /// beside the sessions started.
    package func completeLogin(state: String, subject: Subject, upstream: UpstreamGrant? = nil) async throws(TesseraError) -> LoginCompletion {
        guard let (attempt, login, tenant) = try await loginAttempt(state: state), attempt.providerID == subject.providerID else {
            return .attemptNotFound
        }
        let now = clock.now()
        if let request = login.description.profile {
            // A REST v2 login: the application's profile, with the SSO profiles it shares.
            let made = Self.profileSessions(for: login, request: request, subject: subject, tenant: tenant, now: now)
            var keys = made.flatMap(\.memoryKeys)
            defer { hot.invalidate(keys, bearers: tokens.verifiedAccessTokens) }
            let kept = try upstream.map { grant throws(TesseraError) in try upstreamLogin(grant, providerID: subject.providerID, sessionID: made[0].id) }
            let completion = try await stored {
                try await sessions.completeLogin(attemptDigest: attempt.stateDigest, session: made[0], alsoStarting: Array(made.dropFirst()),
                                                 upstream: kept, now: now)
            }
            keys.append(.deviceProfiles(login.device))
            return completion
        }
        let session = Session(
            id: UUID.timeOrdered(at: now), device: login.device, subject: subject, deviceUser: login.description.deviceUser,
            createdAt: now, expiresAt: now.addingTimeInterval(tenant.policies.authenticationTTL))
        let kept = try upstream.map { grant throws(TesseraError) in try upstreamLogin(grant, providerID: subject.providerID, sessionID: session.id) }
        return try await changingSessions(of: login.device) {
            try await sessions.completeLogin(attemptDigest: attempt.stateDigest, session: session, alsoStarting: [], upstream: kept, now: now)
        }
    }
}

/// A provider's own browser sessions (its cookie), for Tessera's directory provider pages.
extension Services {
    package func providerSession(cookie: String) async throws(TesseraError) -> ProviderBrowserSession? {
        try await stored { try await providerSessions.providerSession(digest: SecretDigest(of: cookie)) }
    }

    package func startProviderSession(cookie: String, subject: Subject, lifetime: TimeInterval) async throws(TesseraError) {
        try await stored {
            try await providerSessions.insert(ProviderBrowserSession(
                digest: SecretDigest(of: cookie), subject: subject, expiresAt: clock.now().addingTimeInterval(lifetime)))
        }
    }

    package func endProviderSession(cookie: String) async throws(TesseraError) {
        try await stored { try await providerSessions.deleteProviderSession(digest: SecretDigest(of: cookie)) }
    }
}
