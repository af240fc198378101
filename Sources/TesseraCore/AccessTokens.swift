import Foundation

/// How a tenant hands out access tokens with refresh tokens (Huawei Meeting USG): who may sign
/// in, which host names reach it, how long a token lives and how many a subject may hold.
///
/// Sessions made here are of kind ``SessionKind/accessToken``: found by the digest of the access
/// or the refresh token, ended as a family.
public struct AccessTokenPolicy: Sendable, Equatable {
    /// The directory provider whose subscribers are the accounts that sign in with a password.
    public var providerID: String
    /// Host names (without port) whose requests this tenant answers; empty: the tenant answers
    /// any host no other tenant names.
    public var hosts: [String]
    /// How long an access token (and its refresh token) lives: 12 to 24 hours.
    public var lifetime: TimeInterval
    /// The organisation the accounts and keyed applications belong to (Huawei: corpId).
    public var organizationID: String
    /// Applications that sign in users with a keyed signature instead of a password (App IDs).
    public var applications: [KeyedApplication]

    public static let lifetimes: ClosedRange<TimeInterval> = 12 * 3600...24 * 3600
    /// The client type of API callers, which may hold many tokens at once.
    public static let apiClientType = 72
    /// How many live tokens an API caller (``apiClientType``) may hold per subject.
    public static let apiTokenLimit = 64

    public init(providerID: String, hosts: [String] = [], lifetime: TimeInterval = 24 * 3600, organizationID: String,
                applications: [KeyedApplication] = []) {
        self.providerID = providerID
        self.hosts = hosts
        self.lifetime = lifetime
        self.organizationID = organizationID
        self.applications = applications
    }

    /// At most 64 live tokens per subject for API callers, one for any other client type (a new
    /// login past the limit ends the oldest).
    public func limit(clientType: Int) -> SessionLimit {
        SessionLimit(perSubject: clientType == Self.apiClientType ? Self.apiTokenLimit : 1)
    }

    public func application(id: String) -> KeyedApplication? { applications.first { $0.id == id } }

    /// The application a token's session names: the keyed application that signed it in (or
    /// `password`) and the client type, so that limits count per client type and application.
    public static func applicationID(keyed: String?, clientType: Int) -> String {
        "\(keyed ?? "password")/\(clientType)"
    }

    /// The client type and keyed application of a token's session (``applicationID(keyed:clientType:)``).
    public static func client(of session: Session) -> (keyed: String?, clientType: Int) {
        guard let id = session.applicationID, let slash = id.lastIndex(of: "/"), let type = Int(id[id.index(after: slash)...]) else {
            return (nil, apiClientType)
        }
        let keyed = String(id[..<slash])
        return (keyed == "password" ? nil : keyed, type)
    }
}

/// An application that proves who it signs in with an HMAC over the request under a key shared
/// with the operator (Huawei: App ID and app key). The key lives in the configuration only, like
/// ``LegacyKeyPair``'s: an HMAC key cannot be kept as a hash.
public struct KeyedApplication: Sendable, Equatable {
    public var id: String
    public var key: String
    /// The users it signs in without naming one (the organisation's default administrator).
    public var defaultUserID: String

    public init(id: String, key: String, defaultUserID: String) {
        self.id = id
        self.key = key
        self.defaultUserID = defaultUserID
    }
}

/// Why a direct sign-in (a password or a keyed signature, no second screen) was refused.
public enum SignInFailure: Sendable, Equatable {
    /// Unknown account or wrong password: the answer does not say which.
    case wrongCredentials
    case accountDisabled
    case accountLocked(until: Date)
    /// A keyed signature that does not verify, or names an unknown application.
    case invalidSignature
    /// A keyed signature past the expiry it names.
    case signatureExpired
    /// A keyed signature's nonce that was used before.
    case replayedNonce
}

/// A sign-in by keyed signature, as sent: the application signed
/// `applicationID:[organizationID:]userID:expiry:nonce` with its key (Huawei App ID auth).
public struct KeyedSignIn: Sendable {
    public var applicationID: String
    /// Empty when the caller named none.
    public var organizationID: String
    /// Empty for the application's default user.
    public var userID: String
    /// Unix seconds; 0: the signature never expires.
    public var expiry: Int
    public var nonce: String
    public var signature: Data

    public init(applicationID: String, organizationID: String, userID: String, expiry: Int, nonce: String, signature: Data) {
        self.applicationID = applicationID
        self.organizationID = organizationID
        self.userID = userID
        self.expiry = expiry
        self.nonce = nonce
        self.signature = signature
    }

    /// The texts the signature may be over: with the organisation when one is named; without one,
    /// also with an empty organisation field, as an SDK set up for several tenants signs it.
    public var signedTexts: [String] {
        let tail = [userID, String(expiry), nonce]
        let forms = organizationID.isEmpty ? [[applicationID] + tail, [applicationID, ""] + tail] : [[applicationID, organizationID] + tail]
        return forms.map { $0.joined(separator: ":") }
    }
}
