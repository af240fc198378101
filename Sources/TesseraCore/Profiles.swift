import Crypto
import Foundation

/// What a pending login started by a REST v2 session asks for, besides the device: the
/// application the profile will belong to, where the browser goes afterwards, and the SSO keys
/// the device presented (so the login also makes the SSO profiles other apps and devices find).
/// Kept with the pending login's device description (the store's JSON), so older rows read as
/// v1 logins.
public struct ProfileRequest: Sendable, Equatable, Codable {
    /// The software statement of the DCR client that asked: a re-registered client keeps its profiles.
    public var applicationID: String
    public var domainName: String?
    public var redirectURL: String?
    /// ``SSOKey`` values the device presented, checked already.
    public var ssoKeys: [String]

    public init(applicationID: String, domainName: String? = nil, redirectURL: String? = nil, ssoKeys: [String] = []) {
        self.applicationID = applicationID
        self.domainName = domainName
        self.redirectURL = redirectURL
        self.ssoKeys = ssoKeys
    }
}

/// A rule that takes a provider out of the normal flow when it is down (Adobe: degradation).
/// `authNAll` signs every device in without a login; `authZAll` permits and `authZNone` denies
/// every resource without asking the provider.
public struct DegradationRule: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case authNAll = "AuthNAll"
        case authZAll = "AuthZAll"
        case authZNone = "AuthZNone"

        /// Whether it decides authorization (AuthZAll and AuthZNone exclude each other).
        public var isAuthorization: Bool { self != .authNAll }
    }

    public var tenantID: String
    public var providerID: String
    public var kind: Kind
    /// Text for the caller (Adobe puts a custom degradation message in `details`).
    public var details: String?

    public init(tenantID: String, providerID: String, kind: Kind, details: String? = nil) {
        self.tenantID = tenantID
        self.providerID = providerID
        self.kind = kind
        self.details = details
    }

    /// Degraded profiles' user ids start with this (Adobe's fixed prefix), so a session made
    /// under AuthNAll is told apart from one a subscriber signed in to.
    public static let subjectPrefix = "95cf93bcd183214a"

    /// The subject a device is signed in as under AuthNAll: the same for one device and
    /// provider, and nobody's real user id.
    public static func degradedSubject(tenantID: String, providerID: String, deviceID: String) -> Subject {
        let digest = SHA256.hash(data: Data((tenantID + "\u{0}" + providerID + "\u{0}" + deviceID).utf8))
        return Subject(userID: subjectPrefix + digest.prefix(12).map { String(format: "%02x", $0) }.joined(), providerID: providerID)
    }

    public static func isDegraded(_ subject: Subject) -> Bool { subject.userID.hasPrefix(subjectPrefix) }
}

/// Whom a tenant trusts to vouch for a user across its applications and devices: signed tokens
/// (JWS) from its own identity service (service token SSO) or from a platform (platform identity
/// SSO), and which providers take part.
public struct SingleSignOnPolicy: Sendable, Equatable {
    /// The tenant's registered key for `AD-Service-Token` (RS256).
    public var serviceToken: TokenTrust?
    /// Platforms whose `Adobe-Subject-Token` the tenant accepts.
    public var platforms: [TokenTrust]

    public init(serviceToken: TokenTrust? = nil, platforms: [TokenTrust] = []) {
        self.serviceToken = serviceToken
        self.platforms = platforms
    }
}

/// One issuer of SSO tokens: its public keys (PEM, RSA or EC P-256), what `aud` must say, and the
/// providers whose profiles its tokens share.
public struct TokenTrust: Sendable, Equatable {
    /// A public key, with the `kid` tokens signed by it name (if they name one).
    public struct Key: Sendable, Equatable {
        public var id: String?
        public var publicKeyPEM: String
        public init(id: String? = nil, publicKeyPEM: String) {
            self.id = id
            self.publicKeyPEM = publicKeyPEM
        }
    }

    public var id: String
    public var keys: [Key]
    /// Accepted `aud` values (any one); empty: `aud` is not checked.
    public var audiences: [String]
    /// Required `iss`, when set.
    public var issuer: String?
    public var providerIDs: Set<String>

    public init(id: String, keys: [Key], audiences: [String] = [], issuer: String? = nil, providerIDs: Set<String>) {
        self.id = id
        self.keys = keys
        self.audiences = audiences
        self.issuer = issuer
        self.providerIDs = providerIDs
    }
}

/// A user a signed SSO token vouches for: the SSO key of their profiles, and which providers
/// share them.
public struct SingleSignOnIdentity: Sendable, Equatable {
    public var scheme: SSOKey.Scheme
    public var key: String
    public var providerIDs: Set<String>

    /// The identity `subject` of `issuer` has under `trust` in `tenantID`; the key is a digest,
    /// so the store keeps no user id of the platform or the programmer's identity service.
    public init(scheme: SSOKey.Scheme, tenantID: String, trust: TokenTrust, issuer: String?, subject: String) {
        self.scheme = scheme
        let digest = SHA256.hash(data: Data([tenantID, trust.id, issuer ?? "", subject].joined(separator: "\u{0}").utf8))
        key = SSOKey.make(scheme, digest.map { String(format: "%02x", $0) }.joined())
        providerIDs = trust.providerIDs
    }

    public init(scheme: SSOKey.Scheme, key: String, providerIDs: Set<String>) {
        self.scheme = scheme
        self.key = key
        self.providerIDs = providerIDs
    }
}

/// How a provider's partner single sign-on is trusted (Adobe: Apple's video subscriber account
/// framework, which hands the app a SAML assertion signed on the provider's behalf): the
/// assertion's issuer, its audience, and the X.509 certificate whose key signs it.
public struct PartnerTrust: Sendable, Equatable {
    public var issuer: String
    public var audience: String?
    public var signingCertificatePEM: String

    public init(issuer: String, audience: String?, signingCertificatePEM: String) {
        self.issuer = issuer
        self.audience = audience
        self.signingCertificatePEM = signingCertificatePEM
    }
}

/// What is wrong with a partner framework's status (Adobe: `AP-Partner-Framework-Status`); each
/// dialect names it in its own catalogue.
public enum PartnerStatusProblem: Sendable, CaseIterable {
    case permissionAccessNotPresent
    case permissionAccessNotDetermined
    case permissionAccessNotGranted
    case providerIDNotDetermined
    case providerIDMismatch
    case providerInfoExpired
}
