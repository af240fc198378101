import Crypto
import _CryptoExtras
import Foundation
import TesseraCore
import TesseraMediaToken
import TesseraStore

/// Authorization under a session: decisions (stored until their TTL), media tokens,
/// preauthorization, user metadata.
extension Services {
    /// A permit, with the proxy provider to name in the answer (v1 `proxyMvpd`).
    package struct Authorization: Sendable {
        package let decision: Decision
        package let proxyProviderID: String?

        package init(decision: Decision, proxyProviderID: String?) {
            self.decision = decision
            self.proxyProviderID = proxyProviderID
        }
    }

    /// The decision for `resource`: the stored one while it lasts, else the provider's, stored.
    package func authorize(session: Session, tenant: Tenant, resource: ResourceRequest) async throws(TesseraError) -> Authorization {
        let now = clock.now()
        let proxy = proxyProviderID(of: session)
        if let cached = try await storedDecision(session: session, resource: resource.raw), cached.expiresAt > now {
            return Authorization(decision: cached, proxyProviderID: proxy)
        }
        var until = min(now.addingTimeInterval(tenant.policies.authorizationTTL), session.expiresAt)
        switch directory.providers[session.subject.providerID] {
        case let tempPass as any TemporaryAccessGranting:
            guard let trial = session.trialID else { throw .authorizationDenied(details: nil) }
            switch try await stored({
                try await trials.useTemporaryAccess(id: trial, resource: resource.id, now: now, duration: tempPass.duration, resourceLimit: tempPass.resourceLimit)
            }) {
            case .permitted(let end): until = min(until, end)
            case .durationExceeded: throw .temporaryAccessDurationExceeded
            case .resourcesExceeded: throw .temporaryAccessResourcesExceeded
            case .notFound: throw .authorizationDenied(details: nil)
            }
        default:
            guard let entitlement = try await entitlement(session: session, resource: resource) else { throw .authorizationDenied(details: nil) }
            try Self.require(entitlement)
        }
        let decision = Decision(sessionID: session.id, resource: resource.raw, providerID: session.subject.providerID, expiresAt: until)
        try await record(decision)
        return Authorization(decision: decision, proxyProviderID: proxy)
    }

    static func require(_ entitlement: Entitlement) throws(TesseraError) {
        switch entitlement {
        case .permit: return
        case .deny(let details): throw .authorizationDenied(details: details)
        case .parentalControl(let details): throw .parentalControl(details: details)
        }
    }

    /// What preauthorization says of one resource, without storing a decision or starting a TempPass clock.
    package func preauthorize(session: Session, resource: ResourceRequest) async throws(TesseraError) -> TesseraError? {
        switch directory.providers[session.subject.providerID] {
        case let tempPass as any TemporaryAccessGranting:
            // The session names its trial (a promotional one may have begun on another device).
            guard let id = session.trialID,
                  let trial = try await stored({ try await trials.temporaryAccess(id: id) })
            else { return .authorizationDenied(details: nil) }
            if trial.isOver(at: clock.now(), duration: tempPass.duration) { return .temporaryAccessDurationExceeded }
            if let limit = tempPass.resourceLimit, !trial.resources.contains(resource.id), trial.resources.count >= limit {
                return .temporaryAccessResourcesExceeded
            }
            return nil
        default:
            guard let entitlement = try await entitlement(session: session, resource: resource) else { return .authorizationDenied(details: nil) }
            do { try Self.require(entitlement) } catch { return error }
            return nil
        }
    }

    /// A short media token for an authorized resource.
    package func mediaToken(session: Session, tenant: Tenant, resource: ResourceRequest) async throws(TesseraError) -> (token: String, claims: MediaTokenClaims) {
        let authorization = try await authorize(session: session, tenant: tenant, resource: resource)
        return try await signMediaToken(session: session, tenant: tenant, resource: resource, until: authorization.decision.expiresAt)
    }

    /// Where a REST v2 decision came from (its `source`).
    package enum DecisionSource: String, Sendable {
        case provider = "mvpd", degradation, temporaryAccess = "temppass"

        /// Who decides for `profile` when no degradation rule of its provider does.
        package init(profile: Session) {
            self = profile.trialID != nil ? .temporaryAccess : DegradationRule.isDegraded(profile.subject) ? .degradation : .provider
        }
    }

    /// A REST v2 permit: where it came from and until when it holds (nil: a degradation rule
    /// permits without a window).
    package struct ProfileDecision: Sendable {
        package let source: DecisionSource
        package let until: Date?
    }

    /// Decides `resource` for a profile: the provider's degradation rules first (AuthZNone
    /// denies, AuthZAll permits), then a degraded profile is permitted for a decision's window,
    /// then the provider (or the TempPass trial) decides as for v1, stored until its TTL.
    package func decide(profile session: Session, tenant: Tenant, resource: ResourceRequest) async throws(TesseraError) -> ProfileDecision {
        if let rule = try await degradationRule(tenant: tenant, providerID: session.subject.providerID, authorization: true) {
            if rule.kind == .authZNone { throw .deniedByDegradation(details: rule.details) }
            return ProfileDecision(source: .degradation, until: nil)
        }
        if DegradationRule.isDegraded(session.subject) {
            let now = clock.now()
            if let cached = try await storedDecision(session: session, resource: resource.raw), cached.expiresAt > now {
                return ProfileDecision(source: .degradation, until: cached.expiresAt)
            }
            let decision = Decision(sessionID: session.id, resource: resource.raw, providerID: session.subject.providerID,
                                    expiresAt: min(now.addingTimeInterval(tenant.policies.authorizationTTL), session.expiresAt))
            try await record(decision)
            return ProfileDecision(source: .degradation, until: decision.expiresAt)
        }
        let authorization = try await authorize(session: session, tenant: tenant, resource: resource)
        return ProfileDecision(source: DecisionSource(profile: session), until: authorization.decision.expiresAt)
    }

    /// What preauthorization says of one resource for a profile: degradation rules first.
    package func preauthorize(profile session: Session, tenant: Tenant, resource: ResourceRequest) async throws(TesseraError) -> (source: DecisionSource, denial: TesseraError?) {
        if let rule = try await degradationRule(tenant: tenant, providerID: session.subject.providerID, authorization: true) {
            return (.degradation, rule.kind == .authZNone ? .deniedByDegradation(details: rule.details) : nil)
        }
        if DegradationRule.isDegraded(session.subject) { return (.degradation, nil) }
        return (DecisionSource(profile: session), try await preauthorize(session: session, resource: resource))
    }

    /// Signs a media token for `resource` under `session`, valid for the tenant's media token
    /// lifetime and never beyond `until`.
    package func signMediaToken(session: Session, tenant: Tenant, resource: ResourceRequest, until: Date?) async throws(TesseraError) -> (token: String, claims: MediaTokenClaims) {
        // NumericDates in whole seconds: some verifiers refuse fractional ones.
        let now = clock.now().wholeSeconds
        let lifetimeEnd = now.addingTimeInterval(tenant.policies.mediaTokenTTL)
        let claims = MediaTokenClaims(
            issuer: MediaTokenVerifier.issuer, requestor: tenant.id, resource: resource.raw, mvpd: session.subject.providerID,
            userID: session.subject.userID, issuedAt: now,
            expiresAt: until.map { min(lifetimeEnd, $0.wholeSeconds) } ?? lifetimeEnd,
            id: UUID.random().uuidString.lowercased())
        do { return (try await tokens.mediaToken(claims), claims) } catch {
            logger.error("cannot sign a media token: \(error)")
            throw .storageFailure
        }
    }

    /// The subscriber's metadata, with the keys the tenant wants encrypted RSA-encrypted.
    package func userMetadata(session: Session, tenant: Tenant) async throws(TesseraError)
        -> (updated: Date, encrypted: [String], data: [String: MetadataValue]) {
        guard var data = try await subscriberMetadata(session: session) else { throw .metadataNotFound }
        let providerID = session.subject.providerID
        let canonical = JSONEncoder()
        canonical.outputFormatting = [.sortedKeys]
        let digest = Data(SHA256.hash(data: (try? canonical.encode(data)) ?? Data()))
        let updated = try await stored {
            try await metadataVersions.metadataUpdated(providerID: providerID, userID: session.subject.userID, digest: digest, now: clock.now())
        }
        var encrypted: [String] = []
        if let encryption = tenant.metadataEncryption {
            for key in encryption.keys.sorted() {
                guard let value = data[key] else { continue }
                data[key] = .string(try Self.encrypt(value, with: encryption))
                encrypted.append(key)
            }
        }
        return (updated, encrypted, data)
    }

    /// A profile's attributes (REST v2): the subscriber's metadata with `userID`, each value
    /// marked whether it is encrypted (the tenant's encrypted keys, RSA as for v1). Nothing is
    /// written: v1's `updated` time is not part of a profile.
    package func profileAttributes(session: Session, tenant: Tenant) async throws(TesseraError) -> [String: (value: MetadataValue, encrypted: Bool)] {
        var data = try await subscriberMetadata(session: session) ?? ["userID": .string(session.subject.userID)]
        var attributes: [String: (value: MetadataValue, encrypted: Bool)] = [:]
        if let encryption = tenant.metadataEncryption {
            let held = hot.sealedAttributes.value(for: session.id) ?? [:]
            var sealed = held
            for key in encryption.keys.sorted() {
                guard let value = data.removeValue(forKey: key) else { continue }
                let ciphertext: String
                if let held = sealed[key] { ciphertext = held } else { ciphertext = try Self.encrypt(value, with: encryption) }
                sealed[key] = ciphertext
                attributes[key] = (.string(ciphertext), true)
            }
            // Kept by session id: an ended session is never looked up again, so nothing stale is answered.
            if sealed.count != held.count { hot.sealedAttributes.set(session.id, sealed) }
        }
        for (key, value) in data { attributes[key] = (value, false) }
        return attributes
    }

    /// The trial a temporary profile runs on.
    package func trial(of session: Session) async throws(TesseraError) -> TemporaryAccess? {
        guard let id = session.trialID else { return nil }
        return try await stored { try await trials.temporaryAccess(id: id) }
    }

    /// Base64 RSA ciphertext of a value (a string as is, a list or map as JSON).
    static func encrypt(_ value: MetadataValue, with encryption: MetadataEncryption) throws(TesseraError) -> String {
        let plain: Data
        if case .string(let s) = value { plain = Data(s.utf8) } else {
            plain = (try? JSONEncoder().encode(value)) ?? Data()
        }
        do {
            let key = try _RSA.Encryption.PublicKey(pemRepresentation: encryption.publicKeyPEM)
            let padding: _RSA.Encryption.Padding = switch encryption.padding {
            case .pkcs1: ._WEAK_AND_INSECURE_PKCS_V1_5
            case .oaepSHA1: .PKCS1_OAEP
            case .oaepSHA256: .PKCS1_OAEP_SHA256
            }
            return try key.encrypt(plain, padding: padding).base64EncodedString()
        } catch {
            throw .metadataEncryptionFailed
        }
    }

    /// Starts (or resumes) a TempPass for a device without a second screen (a v1 device login).
    ///
    /// A promotional TempPass is keyed on the device and on the digest of the identity in
    /// `generic_data`: whichever already has a trial, that trial is used.
    package func startTemporaryAccess(tenant: Tenant, deviceID: String, providerID: String, identity: String?,
                              deviceUser: String?) async throws(TesseraError) {
        let device = DeviceKey(tenantID: tenant.id, deviceID: deviceID)
        // v1 names the trial as the subscriber (its userId); the session refers to it by id.
        _ = try await startTemporaryAccess(tenant: tenant, deviceID: deviceID, providerID: providerID, identity: identity) { trial, now, expiresAt in
            Session(id: UUID.timeOrdered(at: now), device: device, subject: Subject(userID: trial.id.canonicalText, providerID: providerID),
                    deviceUser: deviceUser, createdAt: now, expiresAt: expiresAt, trialID: trial.id)
        }
    }

    /// Resets TempPass trials of `providerID` (Adobe's reset API): of one device or, with nil,
    /// every device; `promotionalOnly` keeps basic trials. Each trial's sessions end first, in
    /// every dialect and on every instance, then the trial goes, so the device's next request
    /// starts a fresh one. Returns how many trials went.
    package func resetTemporaryAccess(tenant: Tenant, providerID: String, deviceID: String?, promotionalOnly: Bool) async throws(TesseraError) -> Int {
        guard directory.provider(providerID, for: tenant) is any TemporaryAccessGranting else { throw .unknownIntegration(providerID) }
        let found = try await stored { try await trials.temporaryAccesses(tenantID: tenant.id, providerID: providerID, deviceID: deviceID,
                                                                           promotionalOnly: promotionalOnly) }
        for trial in found {
            _ = try await revoke(SessionSelector(tenantID: tenant.id, .trial(trial.id)))
        }
        let ids = found.map(\.id)
        return try await stored { try await trials.deleteTemporaryAccesses(ids: ids) }
    }

    /// Starts the session `make` gives for the trial the device (or, promotional, the identity)
    /// has at `providerID`, or a new trial: the same trial whichever dialect asks.
    func startTemporaryAccess(tenant: Tenant, deviceID: String, providerID: String, identity: String?,
                              make: @escaping @Sendable (TemporaryAccess, Date, Date) -> Session) async throws(TesseraError) -> (session: Session, trial: TemporaryAccess) {
        guard let tempPass = directory.provider(providerID, for: tenant) as? any TemporaryAccessGranting else { throw .unknownIntegration(providerID) }
        var identityDigest: SecretDigest?
        if tempPass.isPromotional {
            guard let identity, !identity.isEmpty else { throw .invalidTemporaryAccessIdentity }
            identityDigest = SecretDigest(of: tenant.id + "\u{0}" + providerID + "\u{0}" + identity)
        }
        let request = TemporaryAccessRequest(tenantID: tenant.id, providerID: providerID, deviceID: deviceID,
                                             identityDigest: identityDigest, duration: tempPass.duration)
        let now = clock.now()
        let expiresAt = now.addingTimeInterval(max(tempPass.duration, tenant.policies.authenticationTTL))
        let device = DeviceKey(tenantID: tenant.id, deviceID: deviceID)
        var keys: [MemoryKey] = [.deviceLogin(device), .deviceProfiles(device)]
        defer { hot.invalidate(keys, bearers: tokens.verifiedAccessTokens) }
        let start = try await stored {
            try await trials.startTemporaryAccessSession(request, now: now) { trial in make(trial, now, expiresAt) }
        }
        switch start {
        case .durationExceeded: throw .temporaryAccessDurationExceeded
        case .started(let session, let trial):
            keys += session.memoryKeys
            return (session, trial)
        }
    }

}

/// Parses `generic_data`, which Adobe's example writes as `("email":"email@domain.com")`, and
/// JSON `{"email":"…"}` as well. Returns the canonical identity, or `nil` when empty.
///
/// Canonical, so that one person is one trial however a client writes them: keys in any case
/// (`"EMAIL"`), values trimmed, the e-mail address case-folded, and fields other than the
/// identity's own ignored. For an identity of just a lower-case e-mail address this is the
/// text earlier versions digested, so their trials are still found.
package enum GenericData {
    /// The fields that say who someone is; the others (a campaign, a locale) do not.
    static let identityKeys: Set<String> = ["email"]

    package static func identity(_ raw: String?) throws(TesseraError) -> String? {
        guard var text = raw?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        guard text.count <= 1024 else { throw .invalidTemporaryAccessIdentity }
        if text.hasPrefix("("), text.hasSuffix(")") { text = "{" + text.dropFirst().dropLast() + "}" }
        guard let object = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)), !object.isEmpty else {
            throw .invalidTemporaryAccessIdentity
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            let name = key.trimmingCharacters(in: .whitespaces).lowercased()
            guard identityKeys.contains(name) else { continue }
            let normalized = value.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            guard !normalized.isEmpty, fields[name] == nil || fields[name] == normalized else { throw .invalidTemporaryAccessIdentity }
            fields[name] = normalized
        }
        guard !fields.isEmpty else { throw .invalidTemporaryAccessIdentity }
        return fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }
}
