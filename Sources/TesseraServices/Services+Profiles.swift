import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraStore

/// REST v2's provider profiles: who a device is signed in as, per application and provider, and
/// the SSO profiles other applications and devices find through a signed token.
extension Services {
    /// The identities the device's SSO headers vouch for (checked; none when it sent none).
    package func singleSignOnIdentities(tenant: Tenant, platformToken: String?, serviceToken: String?) async throws(TesseraError) -> [SingleSignOnIdentity] {
        var identities: [SingleSignOnIdentity] = []
        let now = clock.now()
        if let platformToken {
            identities.append(try await singleSignOnTokens.identity(platformToken, scheme: .platform, tenantID: tenant.id,
                                                                    trusts: tenant.singleSignOn.platforms, now: now))
        }
        if let serviceToken {
            identities.append(try await singleSignOnTokens.identity(serviceToken, scheme: .serviceToken, tenantID: tenant.id,
                                                                    trusts: tenant.singleSignOn.serviceToken.map { [$0] } ?? [], now: now))
        }
        return identities
    }

    /// The live profiles `application` sees on `device`: its own, then, for providers it has none
    /// of, the SSO profiles its identities find. A degraded profile counts only while its provider
    /// is degraded with AuthNAll; a provider the tenant no longer offers, not at all.
    package func profiles(tenant: Tenant, device: DeviceKey, applicationID: String,
                          identities: [SingleSignOnIdentity]) async throws(TesseraError) -> [Session] {
        let now = clock.now()
        let authenticationRules = try await degradationRules(tenant: tenant).filter { $0.kind == .authNAll }.map(\.providerID)
        func counts(_ session: Session) -> Bool {
            !session.isExpired(at: now) && tenant.integrates(providerID: session.subject.providerID)
                && (!DegradationRule.isDegraded(session.subject) || authenticationRules.contains(session.subject.providerID))
        }
        var found = try await cachedList(hot.deviceProfiles, device) {
            try await sessions.sessions(SessionSelector(tenantID: device.tenantID, .device(device.deviceID), kinds: [.providerProfile]))
        }.filter { $0.applicationID == applicationID && counts($0) }
        for identity in identities {
            let shared = try await cachedList(hot.ssoProfiles, HotReads.SSOLookup(tenantID: tenant.id, key: identity.key)) {
                try await sessions.sessions(SessionSelector(tenantID: tenant.id, .ssoKey(identity.key, providerID: nil), kinds: [.ssoProfile]))
            }
            for session in shared where counts(session) && identity.providerIDs.contains(session.subject.providerID)
                && !found.contains(where: { $0.subject.providerID == session.subject.providerID }) {
                found.append(session)
            }
        }
        return found
    }

    /// The profile `applicationID` has at `providerID` on the device, made when the provider
    /// needs no login: a TempPass starts (or finds) its trial, AuthNAll degrades. Nil when the
    /// device must sign in. With the session, its trial when it has one (read or started here, so
    /// the caller need not read it again). `temporaryAccessIdentity` is asked only when a TempPass starts.
    package func profile(tenant: Tenant, device: DeviceKey, applicationID: String, providerID: String, identities: [SingleSignOnIdentity],
                         temporaryAccessIdentity: () throws(TesseraError) -> String?) async throws(TesseraError) -> (session: Session, trial: TemporaryAccess?)? {
        guard let provider = directory.provider(providerID, for: tenant) else { throw .unknownIntegration(providerID) }
        let found = try await profiles(tenant: tenant, device: device, applicationID: applicationID, identities: identities)
        if let profile = found.first(where: { $0.subject.providerID == providerID }) {
            let trial = try await trial(of: profile)
            if let trial, let tempPass = provider as? any TemporaryAccessGranting, trial.isOver(at: clock.now(), duration: tempPass.duration) {
                throw .temporaryAccessDurationExceeded
            }
            return (profile, trial)
        }
        if provider is any TemporaryAccessGranting {
            let started = try await startTemporaryProfile(tenant: tenant, device: device, applicationID: applicationID, providerID: providerID,
                                                          identity: try temporaryAccessIdentity())
            return (started.session, started.trial)
        }
        if try await degradationRule(tenant: tenant, providerID: providerID, authorization: false) != nil {
            return (try await startDegradedProfile(tenant: tenant, device: device, applicationID: applicationID, providerID: providerID,
                                                   identities: identities), nil)
        }
        return nil
    }

    /// A list of sessions from memory when it is there, else from the store (kept, even empty).
    private func cachedList<Key: Hashable & Sendable>(_ cache: BoundedCache<Key, [HotReads.SessionEntry]>, _ key: Key,
                                                      read: () async throws -> [Session]) async throws(TesseraError) -> [Session] {
        guard coherence.memoryIsCurrent else { return try await stored(read) }
        let now = clock.now()
        if let entries = cache.value(for: key) {
            entries.forEach { hot.noteUse($0, at: now) }
            return entries.compactMap(\.session)
        }
        let ticket = cache.ticket(for: key)
        let found = try await stored(read)
        let entries = found.filter { !$0.isExpired(at: now) }.map { HotReads.SessionEntry(session: $0) }
        cache.fill(key, entries, ticket: ticket)
        return found
    }

    // MARK: Logins

    /// A pending login for a REST v2 session: the code the device shows, for `request`'s
    /// application. `providerID` may be missing (the second screen gives it on resume).
    package func startProfileLogin(tenant: Tenant, device: DeviceKey, description: DeviceDescription, providerID: String?,
                                   request: ProfileRequest) async throws(TesseraError) -> IssuedCode {
        var description = description
        description.profile = request
        return try await createPendingLogin(tenant: tenant, deviceID: device.deviceID, providerID: providerID, description: description, ttl: nil)
    }

    /// The REST v2 pending login of `code`, live and not completed.
    package func profileLogin(tenant: Tenant, code: String) async throws(TesseraError) -> PendingLogin {
        let (_, login) = try await pendingLogin(tenant: tenant, code: code)
        guard login.description.profile != nil else { throw .loginCode(.unknown) }
        guard login.completedSessionID == nil else { throw .loginCode(.alreadyUsed) }
        return login
    }

    /// Adds what a second screen gives to a REST v2 pending login (the values are checked already).
    package func resumeProfileLogin(_ login: PendingLogin, providerID: String?, domainName: String?, redirectURL: String?) async throws(TesseraError) -> PendingLogin {
        guard var request = login.description.profile else { throw .loginCode(.unknown) }
        var updated = login
        if let providerID { updated.providerID = providerID }
        if let domainName { request.domainName = domainName }
        if let redirectURL { request.redirectURL = redirectURL }
        updated.description.profile = request
        guard updated != login else { return login }
        guard try await stored({ try await pendingLogins.updatePendingLogin(id: login.id, providerID: updated.providerID, description: updated.description) })
        else { throw .loginCode(.alreadyUsed) }
        return updated
    }

    /// The sessions a completed REST v2 login starts: the application's profile on the device,
    /// and an SSO profile for each identity the device presented whose trust covers the provider.
    static func profileSessions(for login: PendingLogin, request: ProfileRequest, subject: Subject, tenant: Tenant, now: Date) -> [Session] {
        let expires = now.addingTimeInterval(tenant.policies.authenticationTTL)
        var made = [Session(id: UUID.timeOrdered(at: now), tenantID: tenant.id, kind: .providerProfile, applicationID: request.applicationID,
                            subject: subject, deviceID: login.device.deviceID, createdAt: now, expiresAt: expires,
                            clientAddress: login.description.clientAddress)]
        for key in request.ssoKeys {
            made.append(Session(id: UUID.timeOrdered(at: now), tenantID: tenant.id, kind: .ssoProfile, applicationID: request.applicationID,
                                subject: subject, deviceID: login.device.deviceID, ssoKey: key, createdAt: now, expiresAt: expires,
                                clientAddress: login.description.clientAddress))
        }
        return made
    }

    /// Signs a device in under AuthNAll: a degraded profile of the application (and of each SSO
    /// identity the provider shares), with no login at the provider.
    package func startDegradedProfile(tenant: Tenant, device: DeviceKey, applicationID: String, providerID: String,
                                      identities: [SingleSignOnIdentity]) async throws(TesseraError) -> Session {
        let now = clock.now()
        let subject = DegradationRule.degradedSubject(tenantID: tenant.id, providerID: providerID, deviceID: device.deviceID)
        let session = Session(id: UUID.timeOrdered(at: now), tenantID: tenant.id, kind: .providerProfile, applicationID: applicationID,
                              subject: subject, deviceID: device.deviceID, createdAt: now,
                              expiresAt: now.addingTimeInterval(tenant.policies.authenticationTTL))
        try await start(session)
        return session
    }

    /// Starts (or finds) the device's TempPass trial at `providerID` and its temporary profile.
    package func startTemporaryProfile(tenant: Tenant, device: DeviceKey, applicationID: String, providerID: String,
                                       identity: String?) async throws(TesseraError) -> (session: Session, trial: TemporaryAccess) {
        try await startTemporaryAccess(tenant: tenant, deviceID: device.deviceID, providerID: providerID, identity: identity) { trial, now, expiresAt in
            Session(id: UUID.timeOrdered(at: now), tenantID: tenant.id, kind: .providerProfile, applicationID: applicationID,
                    subject: Subject(userID: trial.id.canonicalText, providerID: providerID), deviceID: device.deviceID, trialID: trial.id,
                    createdAt: now, expiresAt: expiresAt)
        }
    }

    // MARK: Logout

    /// Ends the application's profiles on the device (of one provider, or all) and, for each
    /// identity, its SSO profiles of the same providers: the single logout of adobe-pass.md 10.3.
    package func logoutProfiles(tenant: Tenant, device: DeviceKey, applicationID: String, providerID: String?,
                                identities: [SingleSignOnIdentity]) async throws(TesseraError) -> LogoutPlan {
        var steps: [LogoutPlan.Step] = []
        var idTokens: [UUID: String] = [:]
        for identity in identities where providerID.map(identity.providerIDs.contains) ?? true {
            let sharedPlan = try await revoke(SessionSelector(tenantID: tenant.id, .ssoKey(identity.key, providerID: providerID), kinds: [.ssoProfile]),
                                              withIDTokens: true)
            idTokens.merge(sharedPlan.idTokens) { first, _ in first }
            let shared = sharedPlan.steps
            steps += shared
            // Each SSO profile's twin: the regular profile the same login made for the
            // application and device it happened on, so the single logout ends that app too.
            for step in shared {
                guard let origin = step.session.deviceID, let application = step.session.applicationID else { continue }
                let twin = try await revoke(SessionSelector(tenantID: tenant.id, .deviceAndProvider(origin, step.session.subject.providerID),
                                                            kinds: [.providerProfile], applicationID: application), withIDTokens: true)
                idTokens.merge(twin.idTokens) { first, _ in first }
                steps += twin.steps
            }
        }
        let key: SessionSelector.Key = providerID.map { .deviceAndProvider(device.deviceID, $0) } ?? .device(device.deviceID)
        let own = try await revoke(SessionSelector(tenantID: tenant.id, key, kinds: [.providerProfile], applicationID: applicationID), withIDTokens: true)
        idTokens.merge(own.idTokens) { first, _ in first }
        steps += own.steps
        var plan = LogoutPlan(steps: steps)
        plan.idTokens = idTokens
        return plan
    }

    // MARK: Degradation

    /// The tenant's rules: the configuration file's, then the stored ones (read at most every
    /// ``DegradationRules/refreshInterval``, so other instances' changes show within it).
    package func degradationRules(tenant: Tenant) async throws(TesseraError) -> [DegradationRule] {
        let stored = try await stored { try await degradation.rules(from: degradations, clock: clock, logger: logger) }
        return tenant.degradation + stored.filter { $0.tenantID == tenant.id }
    }

    /// The rule of `kind`'s family that applies to `providerID`, if any.
    package func degradationRule(tenant: Tenant, providerID: String, authorization: Bool) async throws(TesseraError) -> DegradationRule? {
        try await degradationRules(tenant: tenant).first { $0.providerID == providerID && $0.kind.isAuthorization == authorization }
    }

    package func setDegradationRule(_ rule: DegradationRule) async throws(TesseraError) {
        try await stored { try await degradations.setDegradationRule(rule, now: clock.now()) }
        try? await degradation.reload(from: degradations, logger: logger, now: clock.now())
    }

    package func clearDegradationRules(tenantID: String, providerID: String, kind: DegradationRule.Kind?) async throws(TesseraError) -> Int {
        let cleared = try await stored { try await degradations.clearDegradationRules(tenantID: tenantID, providerID: providerID, kind: kind) }
        try? await degradation.reload(from: degradations, logger: logger, now: clock.now())
        return cleared
    }
}

/// The stored degradation rules as last read. Read at the first use (which fails when the store
/// does) and again when older than ``refreshInterval``, in the background: a request answers with
/// the rules as last read.
final class DegradationRules: Sendable {
    static let refreshInterval: TimeInterval = 2
    private struct State {
        var rules: [DegradationRule] = []
        var readAt: Date?
        var refreshing = false
    }
    private let state = Mutex(State())

    func rules(from store: any DegradationStore, clock: any TesseraClock, logger: Logger) async throws -> [DegradationRule] {
        let now = clock.now()
        let (rules, readAt, startRefresh) = state.withLock { state -> ([DegradationRule], Date?, Bool) in
            let stale = state.readAt.map { now.timeIntervalSince($0) >= Self.refreshInterval } ?? true
            let start = stale && !state.refreshing && state.readAt != nil
            if start { state.refreshing = true }
            return (state.rules, state.readAt, start)
        }
        if readAt == nil {
            try await reload(from: store, logger: logger, now: now)
            return state.withLock { $0.rules }
        }
        if startRefresh { Task { try? await self.reload(from: store, logger: logger, now: now) } }
        return rules
    }

    func reload(from store: any DegradationStore, logger: Logger, now: Date) async throws {
        do {
            let rules = try await store.degradationRules()
            state.withLock { $0 = State(rules: rules, readAt: now, refreshing: false) }
        } catch {
            logger.warning("cannot read the degradation rules: \(error)")
            state.withLock { $0.refreshing = false }
            throw error
        }
    }
}
