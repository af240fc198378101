import _CryptoExtras
import Foundation

/// Everything an operator configured: tenants and the identity providers they integrate with.
///
/// Immutable once built; the server holds one and answers configuration reads from memory.
public struct Directory: Sendable {
    public let tenants: [String: Tenant]
    public let tenantOrder: [String]
    public let providers: [String: any IdentityProvider]
    /// Tenants that hand out access tokens, by the host names they answer; and the one that
    /// answers every other host, if one names none.
    private let accessTokenHosts: [String: String]
    private let accessTokenDefault: String?

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
        var hosts: [String: String] = [:]
        var defaultTenant: String?
        for tenant in tenants {
            guard let policy = tenant.accessTokens else { continue }
            guard tenant.integrates(providerID: policy.providerID), providersByID[policy.providerID] is DirectoryProvider else {
                throw ConfigurationError("tenant \(tenant.id): access tokens need one of its directory providers, not \(policy.providerID)")
            }
            guard AccessTokenPolicy.lifetimes.contains(policy.lifetime) else {
                throw ConfigurationError("tenant \(tenant.id): an access token lives 43200 to 86400 seconds")
            }
            guard Set(policy.applications.map(\.id)).count == policy.applications.count,
                  policy.applications.allSatisfy({ !$0.id.isEmpty && $0.key.utf8.count >= 16 }) else {
                throw ConfigurationError("tenant \(tenant.id): keyed applications need distinct ids and keys of at least 16 characters")
            }
            if policy.hosts.isEmpty {
                guard defaultTenant == nil else {
                    throw ConfigurationError("tenants \(defaultTenant!) and \(tenant.id) both hand out access tokens without naming their hosts")
                }
                defaultTenant = tenant.id
            }
            for host in policy.hosts {
                let key = host.lowercased()
                if let other = hosts[key] { throw ConfigurationError("tenants \(other) and \(tenant.id) both answer the host \(host)") }
                hosts[key] = tenant.id
            }
        }
        self.tenants = byID
        self.tenantOrder = tenants.map(\.id)
        self.providers = providersByID
        accessTokenHosts = hosts
        accessTokenDefault = defaultTenant
    }

    /// The tenant that hands out access tokens to requests for `host` (a Host header, its port
    /// ignored): the one naming it, else the one naming no host.
    public func accessTokenTenant(host: String?) -> Tenant? {
        if let host {
            var name = Substring(host)
            if name.hasPrefix("[") { name = name.prefix { $0 != "]" }.dropFirst() }
            else if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
            if let id = accessTokenHosts[name.lowercased()] { return tenants[id] }
        }
        return accessTokenDefault.flatMap { tenants[$0] }
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
