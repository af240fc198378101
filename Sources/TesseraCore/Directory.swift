import _CryptoExtras
import Foundation

/// Everything an operator configured: tenants and the identity providers they integrate with.
///
/// Immutable once built; the server holds one and answers configuration reads from memory.
public struct Directory: Sendable {
    public let tenants: [String: Tenant]
    public let tenantOrder: [String]
    public let providers: [String: any IdentityProvider]

    public init(tenants: [Tenant], providers: [any IdentityProvider]) throws(ConfigurationError) {
        var byID: [String: Tenant] = [:]
        for tenant in tenants {
            guard byID[tenant.id] == nil else { throw ConfigurationError("tenant \(tenant.id) is defined twice") }
            byID[tenant.id] = tenant
        }
        var providersByID: [String: any IdentityProvider] = [:]
        for provider in providers {
            guard providersByID[provider.id] == nil else { throw ConfigurationError("provider \(provider.id) is defined twice") }
            providersByID[provider.id] = provider
        }
        for tenant in tenants {
            for id in tenant.providerIDs where providersByID[id] == nil {
                throw ConfigurationError("tenant \(tenant.id) names unknown provider \(id)")
            }
            if let encryption = tenant.metadataEncryption, (try? _RSA.Encryption.PublicKey(pemRepresentation: encryption.publicKeyPEM)) == nil {
                throw ConfigurationError("tenant \(tenant.id): user_metadata public_key is not an RSA public key in PEM")
            }
            for domain in tenant.domains where RedirectPolicy.normalizedHost(domain) == nil {
                throw ConfigurationError("tenant \(tenant.id) has an invalid domain \(domain)")
            }
        }
        self.tenants = byID
        self.tenantOrder = tenants.map(\.id)
        self.providers = providersByID
    }

    public func tenant(_ id: String) -> Tenant? { tenants[id] }

    /// The provider, only when `tenant` is integrated with it.
    public func provider(_ id: String, for tenant: Tenant) -> (any IdentityProvider)? {
        tenant.integrates(providerID: id) ? providers[id] : nil
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
