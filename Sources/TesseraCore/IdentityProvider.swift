import Foundation

/// An upstream identity provider (Adobe: MVPD) a subscriber signs in at.
///
/// Providers are conformers with the capabilities they have, in the manner of Dex connectors:
/// the directory provider checks passwords itself; federated ones (OIDC, SAML) will add a
/// callback capability.
public protocol IdentityProvider: Sendable {
    var id: String { get }
    var displayName: String { get }
    var logoURL: String? { get }
    /// Whether the provider has a logout endpoint of its own that ends its browser session.
    var hasLogoutEndpoint: Bool { get }
    /// The id a platform's own provider picker knows it by (Apple: the TV provider's id), if any.
    var platformMappingID: String? { get }
    /// How assertions of the platform's partner single sign-on for this provider are checked, if
    /// it takes part.
    var partnerTrust: PartnerTrust? { get }
}

extension IdentityProvider {
    public var platformMappingID: String? { nil }
    public var partnerTrust: PartnerTrust? { nil }
}

/// A provider that can check a username and password.
public protocol PasswordAuthenticating: IdentityProvider {
    /// The subject when the password is right; `nil` otherwise. Takes the same time for an
    /// unknown user as for a wrong password.
    func authenticate(username: String, password: String) -> Subject?
}

/// A provider whose subscribers Tessera itself keeps, and can list (for the credentials file).
public protocol SubscriberListing: IdentityProvider {
    var subscribers: [Subscriber] { get }
}

/// A provider that grants temporary access without a login (TempPass): per device, or per
/// device and hashed identity when promotional.
public protocol TemporaryAccessGranting: IdentityProvider {
    /// How long a trial lasts from its first authorization.
    var duration: TimeInterval { get }
    /// Set for a promotional trial: how many distinct resources it may authorize.
    var resourceLimit: Int? { get }
}

extension TemporaryAccessGranting {
    public var isPromotional: Bool { resourceLimit != nil }
}

/// A signed-in subscriber as a provider vouches for it.
public struct Subject: Sendable, Equatable {
    public var userID: String
    public var providerID: String

    public init(userID: String, providerID: String) {
        self.userID = userID
        self.providerID = providerID
    }
}

/// A subscriber of a ``DirectoryProvider``.
public struct Subscriber: Sendable, Equatable {
    public var username: String
    public var passwordHash: PasswordHash
    public var userID: String
    /// Resource ids or channels this subscriber may watch.
    public var entitlements: Set<String>
    /// userID, householdID, zip, maxRating, channelID … as configured (JSON-like values).
    public var metadata: [String: MetadataValue]
    /// A disabled subscriber cannot sign in, with the right password or not.
    public var isDisabled: Bool
    /// The name to show for the subscriber, when one is configured.
    public var displayName: String?
    /// When the configured password expires (OneAccess asks for a new one past it, and warns
    /// before); nil: it does not. A password changed since counts from its change instead.
    public var passwordExpiresAt: Date?

    public init(
        username: String, passwordHash: PasswordHash, userID: String,
        entitlements: Set<String> = [], metadata: [String: MetadataValue] = [:], isDisabled: Bool = false, displayName: String? = nil,
        passwordExpiresAt: Date? = nil
    ) {
        self.passwordExpiresAt = passwordExpiresAt
        self.isDisabled = isDisabled
        self.displayName = displayName
        self.username = username
        self.passwordHash = passwordHash
        self.userID = userID
        self.entitlements = entitlements
        self.metadata = metadata
    }
}

/// A metadata value: a string, a list of strings, or a map of strings.
public enum MetadataValue: Sendable, Equatable, Codable {
    case string(String)
    case list([String])
    case map([String: String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let s = try? container.decode(String.self) { self = .string(s) }
        else if let l = try? container.decode([String].self) { self = .list(l) }
        else { self = .map(try container.decode([String: String].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .list(let l): try container.encode(l)
        case .map(let m): try container.encode(m)
        }
    }
}

/// A user directory kept by Tessera itself, with its own login and logout pages.
public struct DirectoryProvider: PasswordAuthenticating, SubscriberListing, Equatable {
    public var id: String
    public var displayName: String
    public var logoURL: String?
    public var hasLogoutEndpoint: Bool
    public var subscribers: [Subscriber]
    /// The text of a denial; `{resource}` stands for the resource id.
    public var denyMessage: String?
    public var proxyProviderID: String?
    public var platformMappingID: String?
    public var partnerTrust: PartnerTrust?

    /// Verifies this hash when the username is unknown, so both failures cost the same.
    private static let decoy = try! PasswordHash(password: Secret.generate())

    public init(id: String, displayName: String, logoURL: String? = nil, hasLogoutEndpoint: Bool = false, subscribers: [Subscriber],
                denyMessage: String? = nil, proxyProviderID: String? = nil, platformMappingID: String? = nil,
                partnerTrust: PartnerTrust? = nil) {
        self.platformMappingID = platformMappingID
        self.partnerTrust = partnerTrust
        self.denyMessage = denyMessage
        self.proxyProviderID = proxyProviderID
        self.id = id
        self.displayName = displayName
        self.logoURL = logoURL
        self.hasLogoutEndpoint = hasLogoutEndpoint
        self.subscribers = subscribers
    }

    /// What a password check found.
    public enum PasswordCheck: Sendable, Equatable {
        case accepted(Subscriber)
        /// The password is right but the subscriber may not sign in.
        case disabled(Subscriber)
        /// An unknown username or a wrong password.
        case refused
    }

    /// Checks `password`; takes the same time for an unknown user as for a wrong password.
    /// `replacedHash`: the subscriber's password as changed since the configuration gave it.
    public func check(username: String, password: String, replacedHash: PasswordHash? = nil) -> PasswordCheck {
        guard let subscriber = subscriber(username: username) else {
            _ = Self.decoy.verify(password)
            return .refused
        }
        guard (replacedHash ?? subscriber.passwordHash).verify(password) else { return .refused }
        return subscriber.isDisabled ? .disabled(subscriber) : .accepted(subscriber)
    }

    public func authenticate(username: String, password: String) -> Subject? {
        guard case .accepted(let subscriber) = check(username: username, password: password) else { return nil }
        return Subject(userID: subscriber.userID, providerID: id)
    }

    public func subscriber(userID: String) -> Subscriber? { subscribers.first { $0.userID == userID } }

    public func subscriber(username: String) -> Subscriber? { subscribers.first { $0.username == username } }
}

/// A TempPass: a provider with no login, granting temporary access per device (basic) or per
/// device and hashed user identity (promotional, with a resource limit). The clock of a trial
/// starts at its first authorization and runs no matter how much is watched.
public struct TempPassProvider: TemporaryAccessGranting, Equatable {
    public var id: String
    public var displayName: String
    public var logoURL: String?
    public var hasLogoutEndpoint: Bool { false }
    public var duration: TimeInterval
    /// Set for a promotional TempPass: how many distinct resources a trial may authorize.
    public var resourceLimit: Int?

    public init(id: String, displayName: String, logoURL: String? = nil, duration: TimeInterval, resourceLimit: Int? = nil) {
        self.id = id
        self.displayName = displayName
        self.logoURL = logoURL
        self.duration = duration
        self.resourceLimit = resourceLimit
    }
}
