import Foundation

/// A programmer (Adobe: requestor; Huawei: tenant): the unit every request is bound to.
public struct Tenant: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Registered domains; redirect targets and `domain_name` must be one of them or below one.
    public var domains: [String]
    /// Identity providers this tenant is integrated with, in the order its picker shows them.
    public var providerIDs: [String]
    public var softwareStatements: [SoftwareStatementGrant]
    public var legacyKeys: [LegacyKeyPair]
    public var policies: TenantPolicies
    public var metadataEncryption: MetadataEncryption?
    /// Set when the tenant hands out access tokens with refresh tokens (Meeting USG).
    public var accessTokens: AccessTokenPolicy?
    /// Set when the tenant runs user sessions for its applications (OneAccess user SDK API).
    public var userSessions: UserSessionPolicy?
    /// Whose signed tokens share REST v2 profiles across applications and devices.
    public var singleSignOn = SingleSignOnPolicy()
    /// Degradation rules the configuration file sets (the admin API adds stored ones).
    public var degradation: [DegradationRule] = []
    /// Where the programmer's services hear that one of the tenant's sessions ended (an OpenID
    /// Connect back-channel logout token, signed by Tessera); nil: they are not told.
    public var backchannelLogoutURI: String?

    public init(
        id: String, name: String, domains: [String], providerIDs: [String],
        softwareStatements: [SoftwareStatementGrant] = [], legacyKeys: [LegacyKeyPair] = [],
        policies: TenantPolicies = TenantPolicies(), metadataEncryption: MetadataEncryption? = nil,
        accessTokens: AccessTokenPolicy? = nil, userSessions: UserSessionPolicy? = nil
    ) {
        self.userSessions = userSessions
        self.accessTokens = accessTokens
        self.metadataEncryption = metadataEncryption
        self.id = id
        self.name = name
        self.domains = domains
        self.providerIDs = providerIDs
        self.softwareStatements = softwareStatements
        self.legacyKeys = legacyKeys
        self.policies = policies
    }

    public var redirectPolicy: RedirectPolicy { RedirectPolicy(domains: domains) }

    public func integrates(providerID: String) -> Bool { providerIDs.contains(providerID) }
}

/// What a tenant has approved for Dynamic Client Registration: a software statement names one.
public struct SoftwareStatementGrant: Sendable, Equatable {
    public var softwareID: String
    public var clientName: String
    public var redirectURIs: [String]

    public init(softwareID: String, clientName: String, redirectURIs: [String] = []) {
        self.softwareID = softwareID
        self.clientName = clientName
        self.redirectURIs = redirectURIs
    }
}

/// The key pair of the pre-DCR signed `Authorization` header (HMAC-SHA1).
///
/// The private key is a shared HMAC key, so it cannot be kept as a hash: it lives in the
/// operator's configuration only and is never written to the database.
public struct LegacyKeyPair: Sendable, Equatable {
    public var publicKey: String
    public var privateKey: String

    public init(publicKey: String, privateKey: String) {
        self.publicKey = publicKey
        self.privateKey = privateKey
    }
}

/// Lifetimes and switches a tenant can set.
public struct TenantPolicies: Sendable, Equatable {
    /// Registration code lifetime when the caller gives no `ttl`.
    public var registrationCodeTTL: TimeInterval = 30 * 60
    /// The largest `ttl` a caller may ask for.
    public var registrationCodeMaxTTL: TimeInterval = 36_000
    /// Lifetime of an authentication (v1 authN token).
    public var authenticationTTL: TimeInterval = 7 * 24 * 3600
    /// Whether `device_info` / `X-Device-Info` must be sent. The API pages mark it mandatory,
    /// real clients (yt-dlp, the ESPN add-on) omit it; a malformed value is refused either way.
    public var requireDeviceInfo: Bool = false
    /// Lifetime of a stored authorization decision (never beyond its session).
    public var authorizationTTL: TimeInterval = 24 * 3600
    /// Lifetime of a short media token.
    public var mediaTokenTTL: TimeInterval = 7 * 60
    /// How many resources one preauthorize call may name.
    public var preauthorizeLimit: Int = 5
    /// How many resources one REST v2 authorize call may name (Adobe's typical limit is one).
    public var authorizeLimit: Int = 1
    /// Throttling of the listed endpoints per client address (a token bucket); `nil` turns it off.
    public var throttle: ThrottlePolicy? = ThrottlePolicy()

    public init() {}
}

/// A token bucket: `rate` requests per second sustained, `burst` at once.
public struct ThrottlePolicy: Sendable, Equatable {
    public var rate: Double = 1
    public var burst: Double = 10
    public init(rate: Double = 1, burst: Double = 10) {
        self.rate = rate
        self.burst = burst
    }
}

/// Metadata keys a tenant wants encrypted, and the RSA public key to encrypt them with.
public struct MetadataEncryption: Sendable, Equatable {
    public enum Padding: String, Sendable { case pkcs1, oaepSHA1 = "oaep-sha1", oaepSHA256 = "oaep-sha256" }
    public var publicKeyPEM: String
    public var keys: Set<String>
    public var padding: Padding

    public init(publicKeyPEM: String, keys: Set<String>, padding: Padding = .pkcs1) {
        self.publicKeyPEM = publicKeyPEM
        self.keys = keys
        self.padding = padding
    }
}
