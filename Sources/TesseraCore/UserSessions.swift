import Foundation

/// How a tenant runs user sessions for its applications (Huawei OneAccess user SDK API): users
/// sign in directly with a password, get a session token, and prove they hold it by encrypting
/// it under their application's public key.
///
/// Sessions made here are of kind ``SessionKind/userSession``: found by the digest of the session
/// token, bound to one application (``Session/applicationID`` is its client id).
public struct UserSessionPolicy: Sendable, Equatable {
    /// The directory provider whose subscribers are the users.
    public var providerID: String
    /// Host names (without port) whose requests this tenant answers; empty: the tenant answers any
    /// host no other tenant names.
    public var hosts: [String]
    /// The tenant's external id (Huawei: the 32-hex tenant id an ISV application sends as
    /// `X-tenant-id`); nil when it has none.
    public var externalID: String?
    /// How long a session token lives (`expire`, seconds).
    public var sessionLifetime: TimeInterval
    /// How long an id token lives.
    public var idTokenLifetime: TimeInterval
    /// How far a signed timestamp may be from the server's clock, either way.
    public var timestampWindow: TimeInterval
    /// How long an application's previous key still decrypts after a rotation.
    public var keyGracePeriod: TimeInterval
    public var applications: [SessionApplication]
    public var passwords: PasswordPolicy

    public static let defaultSessionLifetime: TimeInterval = 604_800
    public static let defaultIDTokenLifetime: TimeInterval = 7_200
    public static let defaultTimestampWindow: TimeInterval = 300
    public static let defaultKeyGracePeriod: TimeInterval = 86_400

    public init(providerID: String, hosts: [String] = [], externalID: String? = nil,
                sessionLifetime: TimeInterval = defaultSessionLifetime, idTokenLifetime: TimeInterval = defaultIDTokenLifetime,
                timestampWindow: TimeInterval = defaultTimestampWindow, keyGracePeriod: TimeInterval = defaultKeyGracePeriod,
                applications: [SessionApplication], passwords: PasswordPolicy = PasswordPolicy()) {
        self.passwords = passwords
        self.providerID = providerID
        self.hosts = hosts
        self.externalID = externalID
        self.sessionLifetime = sessionLifetime
        self.idTokenLifetime = idTokenLifetime
        self.timestampWindow = timestampWindow
        self.keyGracePeriod = keyGracePeriod
        self.applications = applications
    }

    /// The application a request names, by client id. A template application only when the
    /// request chose the tenant by its external id (`viaExternalID`); seed 003's example sends a
    /// regular application's client id with `X-tenant-id`, so that finds any application.
    public func application(clientID: String, viaExternalID: Bool) -> SessionApplication? {
        applications.first { $0.clientID == clientID && (viaExternalID || !$0.isTemplate) }
    }
}

/// An application of a tenant's users (Huawei: a registered application and its ClientId). A
/// template application (ISV) is reached through the tenant's external id; the same client id in
/// another tenant is another application, with a key pair of its own.
public struct SessionApplication: Sendable, Equatable {
    public var clientID: String
    public var isTemplate: Bool

    public init(clientID: String, isTemplate: Bool = false) {
        self.clientID = clientID
        self.isTemplate = isTemplate
    }
}

/// What a session proof carries once decrypted: `session_token=…&timestamp=…&nonce=…`
/// (huawei.md A.6). The caller encrypted it under its application's public key, so whoever sent it
/// holds the session token.
public struct SessionProof: Sendable, Equatable {
    public var sessionToken: String
    /// When the caller says it signed, as the server's clock gave it (milliseconds or seconds).
    public var signedAt: Date
    public var nonce: String

    /// Parses the decrypted text: the three fields, once each, in any order (Huawei's recipe
    /// writes them in one order; nothing says a server may rely on it). Nil when a field is
    /// missing, repeated, empty or malformed.
    public init?(plaintext: String) {
        var fields: [String: String] = [:]
        for pair in plaintext.split(separator: "&", omittingEmptySubsequences: false) {
            guard let equals = pair.firstIndex(of: "=") else { return nil }
            let name = String(pair[..<equals]), value = String(pair[pair.index(after: equals)...])
            guard ["session_token", "timestamp", "nonce"].contains(name), fields[name] == nil, !value.isEmpty else { return nil }
            fields[name] = value
        }
        guard let token = fields["session_token"], let timestamp = fields["timestamp"], let nonce = fields["nonce"],
              let signedAt = Self.date(timestamp: timestamp), nonce.utf8.count <= 128
        else { return nil }
        sessionToken = token
        self.signedAt = signedAt
        self.nonce = nonce
    }

    /// 13 digits: milliseconds (what server-date gives); 10: seconds (older clients).
    static func date(timestamp: String) -> Date? {
        guard timestamp.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(timestamp) else { return nil }
        switch timestamp.utf8.count {
        case 13: return Date(epochMilliseconds: value)
        case 10: return Date(timeIntervalSince1970: TimeInterval(value))
        default: return nil
        }
    }

    /// Whether it was signed within `window` of `now`, either way.
    public func isFresh(at now: Date, window: TimeInterval) -> Bool {
        abs(signedAt.timeIntervalSince(now)) <= window
    }
}

/// An application's RSA key pair as the store keeps it: the public half in the clear (DER
/// SubjectPublicKeyInfo), the private half sealed under the operator's key-encryption key.
public struct ApplicationKey: Sendable, Equatable {
    public var tenantID: String
    public var clientID: String
    public var keyID: String
    public var publicKeyDER: Data
    /// AES-GCM sealed box of the private key's PKCS#1 DER (``KeySealing``).
    public var sealedPrivateKey: Data
    public var createdAt: Date
    /// Set when a newer key took its place: it still decrypts until then plus the grace period.
    public var retiredAt: Date?

    public init(tenantID: String, clientID: String, keyID: String, publicKeyDER: Data, sealedPrivateKey: Data, createdAt: Date,
                retiredAt: Date? = nil) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.keyID = keyID
        self.publicKeyDER = publicKeyDER
        self.sealedPrivateKey = sealedPrivateKey
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}

/// What a tenant asks of its users' passwords (OneAccess: the password policy a PASSWORD_WARN or
/// PASSWORD_EXPIRED login answers with, and what `pwd/update` checks a new password against).
public struct PasswordPolicy: Sendable, Equatable {
    public var minimumLength: Int
    public var maximumLength: Int
    /// A regular expression a new password must match as a whole; nil: any.
    public var pattern: String?
    /// How long a changed password lasts; nil: it does not expire.
    public var maximumAge: TimeInterval?
    /// How long before its expiry a login warns (PASSWORD_WARN).
    public var warningPeriod: TimeInterval

    public init(minimumLength: Int = 8, maximumLength: Int = 32, pattern: String? = nil, maximumAge: TimeInterval? = nil,
                warningPeriod: TimeInterval = 7 * 86_400) {
        self.minimumLength = minimumLength
        self.maximumLength = maximumLength
        self.pattern = pattern
        self.maximumAge = maximumAge
        self.warningPeriod = warningPeriod
    }

    /// Where a password stands at `now`, given when it expires.
    public func state(expiresAt: Date?, at now: Date) -> PasswordState {
        guard let expiresAt else { return .current }
        if now >= expiresAt { return .expired }
        return expiresAt.timeIntervalSince(now) <= warningPeriod ? .expiring : .current
    }

    /// When a password changed at `changedAt` expires.
    public func expiry(ofPasswordChangedAt changedAt: Date) -> Date? { maximumAge.map { changedAt.addingTimeInterval($0) } }

    /// Whether `password` may become a user's new password.
    public func admits(_ password: String) -> Bool {
        guard (minimumLength...maximumLength).contains(password.count) else { return false }
        guard let pattern else { return true }
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.wholeMatch(in: password)) != nil
    }
}

/// Where a user's password stands at a login.
public enum PasswordState: String, Sendable {
    case current
    /// Within the warning period: the user may change it or go on.
    case expiring
    /// Past its expiry: the user must change it before a session starts.
    case expired
}

/// A user's password as changed through the API, which takes the place of the configured one.
public struct PasswordChange: Sendable, Equatable {
    public var providerID: String
    public var userID: String
    public var passwordHash: PasswordHash
    public var changedAt: Date

    public init(providerID: String, userID: String, passwordHash: PasswordHash, changedAt: Date) {
        self.providerID = providerID
        self.userID = userID
        self.passwordHash = passwordHash
        self.changedAt = changedAt
    }
}
