import Foundation

/// An upstream provider Tessera is a relying party of, over OpenID Connect: the subscriber signs
/// in at the provider's own pages, and Tessera learns who it is from the provider's id_token.
/// What the subscriber may watch and its metadata come from that token's claims, as the YAML maps
/// them (``ClaimMapping``); Tessera keeps them with each session (``UpstreamLogin``).
public struct OpenIDProvider: UpstreamProvider, Equatable {
    public var id: String
    public var displayName: String
    public var logoURL: String?
    /// The issuer exactly as the provider's id_tokens and discovery document name it.
    public var issuer: String
    public var clientID: String
    public var clientAuthentication: ClientAuthentication
    /// The scopes asked for besides `openid` (`offline_access` or the provider's own for a refresh token).
    public var scopes: [String]
    /// Tessera's callback as registered at the provider; nil: `{public_base_url}/idp/{id}/callback`.
    public var redirectURI: String?
    /// Tessera's page the provider's logout returns to, as registered there; nil:
    /// `{public_base_url}/idp/{id}/logged-out`.
    public var postLogoutRedirectURI: String?
    /// How long one call to the provider may take, connection included, in seconds.
    public var timeout: TimeInterval = 10
    public var claims: ClaimMapping
    public var denyMessage: String?
    public var proxyProviderID: String?
    public var platformMappingID: String?

    /// A browser is sent through the provider's `end_session_endpoint` when its discovery
    /// document has one; the logout plan treats the provider as having a logout page either way
    /// (Tessera's own `/idp/{provider}/logout` forwards there).
    public var hasLogoutEndpoint: Bool { true }

    /// How Tessera proves itself at the provider's token endpoint (and revocation endpoint).
    public enum ClientAuthentication: Sendable, Equatable {
        /// HTTP Basic with the client id and secret (RFC 6749 2.3.1, form-encoded first).
        case clientSecretBasic(secret: String)
        /// A JWT signed with Tessera's own RS256 key, which the provider reads from Tessera's JWKS.
        case privateKeyJWT

        public var methodName: String {
            switch self {
            case .clientSecretBasic: "client_secret_basic"
            case .privateKeyJWT: "private_key_jwt"
            }
        }
    }

    public init(id: String, displayName: String, logoURL: String? = nil, issuer: String, clientID: String,
                clientAuthentication: ClientAuthentication, scopes: [String] = [], redirectURI: String? = nil, claims: ClaimMapping = ClaimMapping(),
                denyMessage: String? = nil, proxyProviderID: String? = nil, platformMappingID: String? = nil) {
        self.id = id
        self.displayName = displayName
        self.logoURL = logoURL
        self.issuer = issuer
        self.clientID = clientID
        self.clientAuthentication = clientAuthentication
        self.scopes = scopes
        self.redirectURI = redirectURI
        self.claims = claims
        self.denyMessage = denyMessage
        self.proxyProviderID = proxyProviderID
        self.platformMappingID = platformMappingID
    }

    /// The scope parameter of an authorization request.
    public var scope: String { (["openid"] + scopes.filter { $0 != "openid" }).joined(separator: " ") }
}

/// How an id_token's claims become a subscriber: its user id, its metadata and its entitlements.
public struct ClaimMapping: Sendable, Equatable {
    /// The claim that names the subscriber (default `sub`).
    public var userID: String
    /// Metadata name (`householdID`, `zip`, `maxRating` …) to the claim it is read from.
    public var metadata: [String: String]
    /// A claim holding the resource ids the subscriber may watch (a list or a space-separated string).
    public var entitlementsClaim: String?
    /// Entitlements granted when a claim has a value (`groups` contains `premium`: these channels).
    public var rules: [EntitlementRule]

    public init(userID: String = "sub", metadata: [String: String] = [:], entitlementsClaim: String? = nil, rules: [EntitlementRule] = []) {
        self.userID = userID
        self.metadata = metadata
        self.entitlementsClaim = entitlementsClaim
        self.rules = rules
    }

    /// The subscriber `claims` describe; nil when the user-id claim is missing or not a short string.
    public func subscriber(from claims: [String: ClaimValue]) -> UpstreamClaims? {
        guard let userID = claims[userID]?.strings.first, !userID.isEmpty, userID.utf8.count <= 255,
              claims[self.userID]?.strings.count == 1
        else { return nil }
        var entitlements = Set<String>()
        if let name = entitlementsClaim, let values = claims[name]?.strings {
            for value in values { entitlements.formUnion(value.split(separator: " ").map(String.init)) }
        }
        for rule in rules where claims[rule.claim]?.strings.contains(rule.value) == true { entitlements.formUnion(rule.grant) }
        var values: [String: MetadataValue] = [:]
        for (name, claim) in metadata {
            guard let value = claims[claim]?.metadataValue else { continue }
            values[name] = value
        }
        if values["userID"] == nil { values["userID"] = .string(userID) }
        return UpstreamClaims(userID: userID, entitlements: entitlements, metadata: values)
    }
}

/// One YAML rule: whoever has `value` in claim `claim` may watch `grant`.
public struct EntitlementRule: Sendable, Equatable {
    public var claim: String
    public var value: String
    public var grant: [String]

    public init(claim: String, value: String, grant: [String]) {
        self.claim = claim
        self.value = value
        self.grant = grant
    }
}

/// A claim's value as far as the mapping reads it: a string, a number or a boolean (as text), a
/// list of those, or an object of strings.
public enum ClaimValue: Sendable, Equatable, Decodable {
    case string(String)
    case list([String])
    case object([String: String])
    case other

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let s = try? container.decode(String.self) { self = .string(s) }
        else if let n = try? container.decode(Int64.self) { self = .string(String(n)) }
        else if let b = try? container.decode(Bool.self) { self = .string(String(b)) }
        else if let l = try? container.decode([String].self) { self = .list(l) }
        else if let m = try? container.decode([String: String].self) { self = .object(m) }
        else { self = .other }
    }

    var strings: [String] {
        switch self {
        case .string(let s): [s]
        case .list(let l): l
        case .object, .other: []
        }
    }

    var metadataValue: MetadataValue? {
        switch self {
        case .string(let s): .string(s)
        case .list(let l): .list(l)
        case .object(let m): .map(m)
        case .other: nil
        }
    }
}

/// What Tessera keeps of an upstream provider's word on a subscriber, per session: who, what
/// it may watch, its metadata.
public struct UpstreamClaims: Sendable, Equatable, Codable {
    public var userID: String
    public var entitlements: Set<String>
    public var metadata: [String: MetadataValue]

    public init(userID: String, entitlements: Set<String>, metadata: [String: MetadataValue]) {
        self.userID = userID
        self.entitlements = entitlements
        self.metadata = metadata
    }
}

/// An upstream login behind a session: the claims decisions are made from, the provider's
/// session id (`sid`, for its back-channel logout), and the tokens a logout hands back to the
/// provider (the id_token as `id_token_hint`, the refresh token to revoke), each sealed with
/// the key-encryption key for this session (``KeySealing/Owner/upstreamToken(sessionID:kind:)``).
public struct UpstreamLogin: Sendable, Equatable {
    public var sessionID: UUID
    public var providerID: String
    public var subjectID: String
    public var providerSessionID: String?
    public var claims: UpstreamClaims
    public var sealedIDToken: Data?
    public var sealedRefreshToken: Data?

    public init(sessionID: UUID, providerID: String, subjectID: String, providerSessionID: String?, claims: UpstreamClaims,
                sealedIDToken: Data?, sealedRefreshToken: Data?) {
        self.sessionID = sessionID
        self.providerID = providerID
        self.subjectID = subjectID
        self.providerSessionID = providerSessionID
        self.claims = claims
        self.sealedIDToken = sealedIDToken
        self.sealedRefreshToken = sealedRefreshToken
    }
}
