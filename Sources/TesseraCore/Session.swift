import Foundation

/// What a session is to the dialect that made it, and so which keys find it and what makes it
/// unique. One ``Session`` type serves every front door; see docs/ARCHITECTURE.md.
public enum SessionKind: String, Sendable, CaseIterable, Codable {
    /// Adobe REST v1: the authN token of a device. Unique per tenant and device: a new v1 login
    /// replaces the device's.
    case deviceLogin = "device"
    /// Adobe REST v2: a regular, temporary (TempPass) or degraded profile. Unique per tenant,
    /// device, provider and application: one device holds one profile per provider.
    case providerProfile = "profile"
    /// Adobe REST v2 single sign-on (platform identity, service token, Apple partner): found
    /// from any device or application that presents its SSO key. Unique per tenant, SSO key
    /// and provider.
    case ssoProfile = "sso"
    /// OneAccess SDK: a user session bound to an application, found by its token's digest.
    case userSession = "user"
    /// Meeting USG: an access token with its refresh token (one family), found by either digest.
    case accessToken = "access"
}

/// A signed-in subject, as one front door knows it: a v1 authN token, a v2 profile, a OneAccess
/// session token, a Meeting access token.
///
/// Only digests of tokens are kept (``tokenDigest``, ``refreshDigest``); the token itself is
/// the caller's.
public struct Session: Sendable, Equatable {
    public var id: UUID
    public var tenantID: String
    public var kind: SessionKind
    /// The application that holds it (a DCR client, an SDK application, an App ID), when the
    /// dialect names one. v1 device logins name none: Adobe keys them on requestor and device.
    public var applicationID: String?
    /// Who signed in, at which identity provider (``Subject/providerID``).
    public var subject: Subject
    public var deviceID: String?
    /// The key a second device or application presents to find an SSO profile.
    public var ssoKey: String?
    public var tokenDigest: SecretDigest?
    public var refreshDigest: SecretDigest?
    /// Sessions of one family (an access token and the ones its refresh tokens made) end together.
    public var familyID: UUID?
    /// The TempPass trial the session runs on, if it is a temporary one.
    public var trialID: UUID?
    public var deviceUser: String?
    public var createdAt: Date
    public var expiresAt: Date
    /// Kept coarsely: at most about once a minute (``SessionUse/interval``), never by a read
    /// answered from memory.
    public var lastUsedAt: Date
    /// The client address the session was started from, where the dialect reports it (Meeting
    /// USG's `tokenIp`); nil for sessions stored before it was kept.
    public var clientAddress: String?

    public init(id: UUID, tenantID: String, kind: SessionKind, applicationID: String? = nil, subject: Subject,
                deviceID: String? = nil, ssoKey: String? = nil, tokenDigest: SecretDigest? = nil,
                refreshDigest: SecretDigest? = nil, familyID: UUID? = nil, trialID: UUID? = nil, deviceUser: String? = nil,
                createdAt: Date, expiresAt: Date, lastUsedAt: Date? = nil, clientAddress: String? = nil) {
        self.clientAddress = clientAddress
        self.id = id
        self.tenantID = tenantID
        self.kind = kind
        self.applicationID = applicationID
        self.subject = subject
        self.deviceID = deviceID
        self.ssoKey = ssoKey
        self.tokenDigest = tokenDigest
        self.refreshDigest = refreshDigest
        self.familyID = familyID
        self.trialID = trialID
        self.deviceUser = deviceUser
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt ?? createdAt
    }

    /// A v1 device login (authN token) of `device`.
    public init(id: UUID, device: DeviceKey, subject: Subject, deviceUser: String?, createdAt: Date, expiresAt: Date,
                trialID: UUID? = nil) {
        self.init(id: id, tenantID: device.tenantID, kind: .deviceLogin, subject: subject, deviceID: device.deviceID,
                  trialID: trialID, deviceUser: deviceUser, createdAt: createdAt, expiresAt: expiresAt)
    }

    /// The device it was made on, if any.
    public var device: DeviceKey? { deviceID.map { DeviceKey(tenantID: tenantID, deviceID: $0) } }

    public func isExpired(at now: Date) -> Bool { now >= expiresAt }

    /// The sessions a new session of its kind takes the place of: the ones that share its
    /// unique key. `nil` when nothing is replaced (token-found kinds are new each time).
    public var replaces: SessionSelector? {
        switch kind {
        case .deviceLogin:
            guard let deviceID else { return nil }
            return SessionSelector(tenantID: tenantID, .device(deviceID), kinds: [.deviceLogin])
        case .providerProfile:
            guard let deviceID else { return nil }
            return SessionSelector(tenantID: tenantID, .deviceAndProvider(deviceID, subject.providerID), kinds: [.providerProfile],
                                   applicationID: applicationID, matchesMissingApplication: true)
        case .ssoProfile:
            guard let ssoKey else { return nil }
            return SessionSelector(tenantID: tenantID, .ssoKey(ssoKey, providerID: subject.providerID), kinds: [.ssoProfile])
        case .userSession, .accessToken:
            return nil
        }
    }

    /// The keys under which memory may hold this session or what hangs off it: a revoke drops
    /// exactly these, on every instance.
    public var memoryKeys: [MemoryKey] {
        var keys: [MemoryKey] = [.session(id)] + listingKeys
        if let tokenDigest { keys.append(.token(tokenDigest)) }
        if let refreshDigest { keys.append(.token(refreshDigest)) }
        return keys
    }

    /// The keys under which memory may hold a lookup whose answer this session's start or end
    /// changes (including an answer that there was none): a device's v1 login, a device's v2
    /// profiles, the SSO profiles of a key.
    public var listingKeys: [MemoryKey] {
        switch kind {
        case .deviceLogin: device.map { [.deviceLogin($0)] } ?? []
        case .providerProfile: device.map { [.deviceProfiles($0)] } ?? []
        case .ssoProfile: ssoKey.map { [.ssoProfiles(tenantID: tenantID, key: $0)] } ?? []
        case .userSession, .accessToken: []
        }
    }
}

/// At most how many live sessions of one kind a subject may hold in one application; a new
/// one past it ends the oldest (Meeting USG: 64 for clientType 72, one otherwise).
public struct SessionLimit: Sendable, Equatable {
    public var perSubject: Int

    public init(perSubject: Int) {
        precondition(perSubject > 0, "a session limit admits at least one session")
        self.perSubject = perSubject
    }
}

/// Which sessions a lookup or a revoke picks, within one tenant.
public struct SessionSelector: Sendable, Hashable {
    public enum Key: Sendable, Hashable {
        case id(UUID)
        case device(String)
        case deviceAndProvider(String, String)
        case tokenDigest(SecretDigest)
        case refreshDigest(SecretDigest)
        case family(UUID)
        /// A subscriber everywhere: every device, application and provider.
        case subject(userID: String)
        case application(String)
        /// SSO profiles of one key; of one provider when it is given.
        case ssoKey(String, providerID: String?)
        /// The sessions that run on one TempPass trial (on any device, in any dialect).
        case trial(UUID)
    }

    public var tenantID: String
    public var key: Key
    /// Empty: every kind.
    public var kinds: Set<SessionKind>
    /// Only sessions of this application (besides the key), when set.
    public var applicationID: String?
    /// With ``applicationID``: sessions that name no application match too.
    public var matchesMissingApplication: Bool

    public init(tenantID: String, _ key: Key, kinds: Set<SessionKind> = [], applicationID: String? = nil,
                matchesMissingApplication: Bool = false) {
        self.tenantID = tenantID
        self.key = key
        self.kinds = kinds
        self.applicationID = applicationID
        self.matchesMissingApplication = matchesMissingApplication
    }

    /// A v1 device's login.
    public static func deviceLogin(_ device: DeviceKey) -> SessionSelector {
        SessionSelector(tenantID: device.tenantID, .device(device.deviceID), kinds: [.deviceLogin])
    }

    /// Whether it picks v1 device logins only (without building a set to compare with).
    public var isDeviceLoginOnly: Bool { kinds.count == 1 && kinds.first == .deviceLogin }

    /// Whether `session` is one this selector picks (the stores' SQL says the same; the
    /// conformance suite checks both agree).
    public func matches(_ session: Session) -> Bool {
        guard session.tenantID == tenantID, kinds.isEmpty || kinds.contains(session.kind) else { return false }
        if let applicationID, session.applicationID != applicationID, !(matchesMissingApplication && session.applicationID == nil) {
            return false
        }
        switch key {
        case .id(let id): return session.id == id
        case .device(let device): return session.deviceID == device
        case .deviceAndProvider(let device, let provider): return session.deviceID == device && session.subject.providerID == provider
        case .tokenDigest(let digest): return session.tokenDigest == digest
        case .refreshDigest(let digest): return session.refreshDigest == digest
        case .family(let family): return session.familyID == family
        case .subject(let userID): return session.subject.userID == userID
        case .application(let application): return session.applicationID == application
        case .ssoKey(let key, let provider):
            return session.kind == .ssoProfile && session.ssoKey == key && (provider.map { $0 == session.subject.providerID } ?? true)
        case .trial(let trial): return session.trialID == trial
        }
    }
}

/// A key under which an instance may hold something in memory that a revoke must drop there:
/// what front doors look things up by. Notifications between instances carry these.
public enum MemoryKey: Sendable, Hashable {
    /// A v1 device's login, looked up by tenant and device.
    case deviceLogin(DeviceKey)
    /// A session found by the digest of its token (or refresh token).
    case token(SecretDigest)
    /// Whatever hangs off one session (its decisions).
    case session(UUID)
    /// The verified bearers of a registered client.
    case client(String)
    /// A device's REST v2 provider profiles (of every application), looked up by tenant and device.
    case deviceProfiles(DeviceKey)
    /// The SSO profiles of one key, looked up by tenant and key.
    case ssoProfiles(tenantID: String, key: String)
    /// The RSA key pairs of a user-session application (a rotation on another instance).
    case applicationKeys(tenantID: String, clientID: String)
}

/// That a session was used, for its ``Session/lastUsedAt``.
public struct SessionUse: Sendable, Equatable {
    /// Last-used times are kept to about this.
    public static let interval: TimeInterval = 60

    public var sessionID: UUID
    public var at: Date

    public init(sessionID: UUID, at: Date) {
        self.sessionID = sessionID
        self.at = at
    }
}

/// A stored authorization decision for one resource under a session (Adobe v1: authZ token).
public struct Decision: Sendable, Equatable {
    public var sessionID: UUID
    public var resource: String
    public var providerID: String
    public var expiresAt: Date

    public init(sessionID: UUID, resource: String, providerID: String, expiresAt: Date) {
        self.sessionID = sessionID
        self.resource = resource
        self.providerID = providerID
        self.expiresAt = expiresAt
    }
}
