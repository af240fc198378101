import Foundation

/// A provider whose subscribers sign in at an upstream identity provider's own pages (OpenID
/// Connect, SAML): Tessera learns who the subscriber is and what it may watch from what the
/// provider said at sign-in (``UpstreamClaims``), kept with each session (``UpstreamLogin``).
public protocol UpstreamProvider: IdentityProvider {
    /// How the provider's claims or attributes become a subscriber.
    var claims: ClaimMapping { get }
    var denyMessage: String? { get }
    var proxyProviderID: String? { get }
}

extension UpstreamProvider {
    /// The decision for `resource` from the claims the session was started with: as a directory
    /// subscriber's, entitlements and then the parental ceiling of `maxRating`.
    public func entitlement(for claims: UpstreamClaims, resource: ResourceRequest) -> Entitlement {
        .of(entitlements: claims.entitlements, metadata: claims.metadata, resource: resource, denyMessage: denyMessage)
    }
}

/// A TV provider's SAML 2.0 identity provider, with Tessera as its service provider: sign-in by
/// an AuthnRequest (HTTP-Redirect, signed) and a Response at the assertion consumer service
/// (HTTP-POST), Single Logout both ways. Who the subscriber is comes from the assertion's NameID,
/// or an attribute the claim mapping names; attributes are the claims.
public struct SAMLProvider: UpstreamProvider, Equatable {
    public var id: String
    public var displayName: String
    public var logoURL: String?
    /// Where the identity provider's metadata is read from, and read again.
    public var metadata: MetadataSource
    /// The identity provider's entityID: which entity of the metadata, and the Issuer its
    /// messages must carry. Nil: the metadata's only identity provider.
    public var entityID: String?
    /// Tessera's entityID at this provider; nil: `{public_base_url}/idp/{id}/saml/metadata`.
    public var serviceProviderEntityID: String?
    /// Signing certificates (PEM) trusted besides the metadata's (a rollover announced out of band).
    public var certificates: [String]
    /// How often the metadata is read again, in seconds.
    public var metadataRefresh: TimeInterval = 3600
    /// How long reading the metadata from a URL may take, in seconds.
    public var timeout: TimeInterval = 10
    /// The NameID format asked for in the AuthnRequest; nil: the provider's choice.
    public var nameIDFormat: String?
    /// The claim `NameID` is the assertion's NameID; any other name is an attribute.
    public var claims: ClaimMapping
    public var denyMessage: String?
    public var proxyProviderID: String?
    public var platformMappingID: String?

    /// The name the claim mapping uses for the assertion's NameID.
    public static let nameIDClaim = "NameID"

    /// Logout goes through the provider's Single Logout service (or straight back when its
    /// metadata names none).
    public var hasLogoutEndpoint: Bool { true }

    public enum MetadataSource: Sendable, Equatable {
        case file(String)
        case url(String)
    }

    public init(id: String, displayName: String, logoURL: String? = nil, metadata: MetadataSource, entityID: String? = nil,
                serviceProviderEntityID: String? = nil, certificates: [String] = [], nameIDFormat: String? = nil,
                claims: ClaimMapping = ClaimMapping(userID: SAMLProvider.nameIDClaim), denyMessage: String? = nil,
                proxyProviderID: String? = nil, platformMappingID: String? = nil) {
        self.id = id
        self.displayName = displayName
        self.logoURL = logoURL
        self.metadata = metadata
        self.entityID = entityID
        self.serviceProviderEntityID = serviceProviderEntityID
        self.certificates = certificates
        self.nameIDFormat = nameIDFormat
        self.claims = claims
        self.denyMessage = denyMessage
        self.proxyProviderID = proxyProviderID
        self.platformMappingID = platformMappingID
    }
}

/// A SAML subject as a LogoutRequest must name it again: the NameID with its format and
/// qualifiers, and the identity provider's session (SessionIndex). Kept sealed with the session,
/// where an OpenID Connect session keeps its id_token (``UpstreamLogin/sealedIDToken``).
public struct SAMLSubject: Sendable, Equatable, Codable {
    public var nameID: String
    public var format: String?
    public var nameQualifier: String?
    public var serviceProviderNameQualifier: String?
    public var sessionIndex: String?

    public init(nameID: String, format: String?, nameQualifier: String?, serviceProviderNameQualifier: String?, sessionIndex: String?) {
        self.nameID = nameID
        self.format = format
        self.nameQualifier = nameQualifier
        self.serviceProviderNameQualifier = serviceProviderNameQualifier
        self.sessionIndex = sessionIndex
    }
}
