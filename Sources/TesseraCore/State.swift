import Foundation

/// The device a call speaks for, within its tenant. Adobe keys every token on the
/// (requestor, deviceId) pair.
public struct DeviceKey: Sendable, Hashable {
    public var tenantID: String
    public var deviceID: String

    public init(tenantID: String, deviceID: String) {
        self.tenantID = tenantID
        self.deviceID = deviceID
    }
}

/// Optional device descriptors a device sent when it asked for a registration code.
public struct DeviceDescription: Sendable, Equatable, Codable {
    public var deviceInfoJSON: String?
    public var deviceType: String?
    public var deviceUser: String?
    public var appID: String?
    public var userAgent: String?
    /// The address that asked for the registration code: the confirmation page tells the
    /// subscriber roughly where the device is. Absent in records written before it was kept.
    public var clientAddress: String?
    /// Set when a REST v2 session asked for the code: its completion makes a provider profile
    /// of this application instead of a v1 device login.
    public var profile: ProfileRequest?

    public init(deviceInfoJSON: String? = nil, deviceType: String? = nil, deviceUser: String? = nil, appID: String? = nil,
                userAgent: String? = nil, clientAddress: String? = nil, profile: ProfileRequest? = nil) {
        self.profile = profile
        self.deviceInfoJSON = deviceInfoJSON
        self.deviceType = deviceType
        self.deviceUser = deviceUser
        self.appID = appID
        self.userAgent = userAgent
        self.clientAddress = clientAddress
    }
}

/// A pending login (Adobe: registration code): a device waits for its subscriber to sign in
/// on a second screen. Stored under the digest of its code.
public struct PendingLogin: Sendable, Equatable {
    public var id: UUID
    public var codeDigest: SecretDigest
    public var device: DeviceKey
    /// The provider the device asked for, if it did.
    public var providerID: String?
    public var description: DeviceDescription
    public var createdAt: Date
    public var expiresAt: Date
    /// Set once a subscriber signed in with this code; the code cannot be used again.
    public var completedSessionID: UUID?

    public init(id: UUID, codeDigest: SecretDigest, device: DeviceKey, providerID: String?, description: DeviceDescription,
                createdAt: Date, expiresAt: Date, completedSessionID: UUID? = nil) {
        self.id = id
        self.codeDigest = codeDigest
        self.device = device
        self.providerID = providerID
        self.description = description
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.completedSessionID = completedSessionID
    }

    public func isExpired(at now: Date) -> Bool { now >= expiresAt }
}

/// A browser on its way through a provider's login page for one pending login (or none,
/// for Tessera's own activation page). Stored under the digest of the state it carries.
public struct LoginAttempt: Sendable, Equatable {
    public var stateDigest: SecretDigest
    public var tenantID: String
    public var pendingLoginID: UUID
    public var providerID: String
    /// Where the browser goes once signed in (already checked against the tenant's domains).
    public var returnURL: String
    public var expiresAt: Date
    public var failedPasswords: Int

    public init(stateDigest: SecretDigest, tenantID: String, pendingLoginID: UUID, providerID: String, returnURL: String, expiresAt: Date, failedPasswords: Int = 0) {
        self.stateDigest = stateDigest
        self.tenantID = tenantID
        self.pendingLoginID = pendingLoginID
        self.providerID = providerID
        self.returnURL = returnURL
        self.expiresAt = expiresAt
        self.failedPasswords = failedPasswords
    }
}

/// An application registered through Dynamic Client Registration.
public struct RegisteredClient: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var softwareID: String
    public var secretDigest: SecretDigest
    public var redirectURIs: [String]
    public var issuedAt: Date
    /// When the client first got an access token; nil while it never has. A client that has
    /// none a day after registering is purged.
    public var firstTokenAt: Date?

    public init(id: String, tenantID: String, softwareID: String, secretDigest: SecretDigest, redirectURIs: [String], issuedAt: Date,
                firstTokenAt: Date? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.softwareID = softwareID
        self.secretDigest = secretDigest
        self.redirectURIs = redirectURIs
        self.issuedAt = issuedAt
        self.firstTokenAt = firstTokenAt
    }
}

/// A provider's own browser session (its cookie), so a second login there needs no password
/// until the provider's logout page ends it.
public struct ProviderBrowserSession: Sendable, Equatable {
    public var digest: SecretDigest
    public var subject: Subject
    public var expiresAt: Date

    public init(digest: SecretDigest, subject: Subject, expiresAt: Date) {
        self.digest = digest
        self.subject = subject
        self.expiresAt = expiresAt
    }
}

/// A TempPass trial: keyed on the device (basic) or on the device and a hashed user identity
/// (promotional). Its clock starts at the first authorization.
public struct TemporaryAccess: Sendable, Equatable {
    public var id: UUID
    public var tenantID: String
    public var providerID: String
    public var deviceID: String
    public var identityDigest: SecretDigest?
    public var startedAt: Date?
    public var resources: [String]

    public init(id: UUID, tenantID: String, providerID: String, deviceID: String, identityDigest: SecretDigest?,
                startedAt: Date? = nil, resources: [String] = []) {
        self.id = id
        self.tenantID = tenantID
        self.providerID = providerID
        self.deviceID = deviceID
        self.identityDigest = identityDigest
        self.startedAt = startedAt
        self.resources = resources
    }
}

/// A device asking for a TempPass session: whose trial counts, and how long a trial lasts.
public struct TemporaryAccessRequest: Sendable, Equatable {
    public var tenantID: String
    public var providerID: String
    public var deviceID: String
    /// For a promotional TempPass, the digest of the viewer's identity: a trial of that identity
    /// on another device counts as the device's own.
    public var identityDigest: SecretDigest?
    public var duration: TimeInterval

    public init(tenantID: String, providerID: String, deviceID: String, identityDigest: SecretDigest?, duration: TimeInterval) {
        self.tenantID = tenantID
        self.providerID = providerID
        self.deviceID = deviceID
        self.identityDigest = identityDigest
        self.duration = duration
    }

    /// The trial the request starts when neither the device nor the identity has one.
    public func newTrial() -> TemporaryAccess {
        TemporaryAccess(id: UUID.random(), tenantID: tenantID, providerID: providerID, deviceID: deviceID, identityDigest: identityDigest)
    }
}

/// What a TempPass start came to.
public enum TemporaryAccessStart: Sendable, Equatable {
    /// The session now stands, under `trial` (new or the one found).
    case started(Session, trial: TemporaryAccess)
    /// The trial found has used up its time; nothing was changed.
    case durationExceeded
}

/// What using a TempPass for one resource came to.
public enum TemporaryAccessUse: Sendable, Equatable {
    case permitted(until: Date)
    case durationExceeded
    case resourcesExceeded
    case notFound
}

extension TemporaryAccess {
    /// Whether the trial's time ran out by `now` (a trial not yet used has not started its clock).
    public func isOver(at now: Date, duration: TimeInterval) -> Bool {
        startedAt.map { now >= $0.addingTimeInterval(duration) } ?? false
    }

    /// One use of the trial for `resource`: starts its clock on the first use, refuses past
    /// `duration`, and counts `resource` against `resourceLimit` (a resource already used does
    /// not count again). Changes the trial only when the use is permitted.
    public mutating func use(resource: String, now: Date, duration: TimeInterval, resourceLimit: Int?) -> TemporaryAccessUse {
        let started = startedAt ?? now
        let until = started.addingTimeInterval(duration)
        guard now < until else { return .durationExceeded }
        if !resources.contains(resource) {
            if let resourceLimit, resources.count >= resourceLimit { return .resourcesExceeded }
            resources.append(resource)
        }
        startedAt = started
        return .permitted(until: until)
    }
}
