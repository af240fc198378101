import _CryptoExtras
import Foundation

/// Everything an operator configured: tenants and the identity providers they integrate with.
///
/// Immutable once built; the server holds one and answers configuration reads from memory.
public struct Directory: Sendable {
    public let tenants: [String: Tenant]
    public let tenantOrder: [String]
    public let providers: [String: any IdentityProvider]
    /// Tenants that hand out access tokens, and those that run user sessions, by the host names
    /// they answer.
    private let accessTokenHosts: HostTable
    private let userSessionHosts: HostTable
    /// Tenants that run user sessions, by their external id (`X-tenant-id`).
    private let userSessionExternalIDs: [String: String]

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
        var accessTokenHosts = HostTable(purpose: "hand out access tokens")
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
            try accessTokenHosts.add(tenant.id, hosts: policy.hosts)
        }
        var userSessionHosts = HostTable(purpose: "run user sessions")
        var externalIDs: [String: String] = [:]
        for tenant in tenants {
            guard let policy = tenant.userSessions else { continue }
            guard tenant.integrates(providerID: policy.providerID), providersByID[policy.providerID] is DirectoryProvider else {
                throw ConfigurationError("tenant \(tenant.id): user sessions need one of its directory providers, not \(policy.providerID)")
            }
            guard policy.sessionLifetime >= 60, policy.idTokenLifetime >= 60, policy.timestampWindow > 0, policy.keyGracePeriod >= 0 else {
                throw ConfigurationError("tenant \(tenant.id): user session and id token lifetimes are at least 60 seconds, the timestamp window positive")
            }
            let ids = policy.applications.map { "\($0.clientID)|\($0.isTemplate)" }
            guard Set(ids).count == ids.count, policy.applications.allSatisfy({ (1...128).contains($0.clientID.utf8.count) }) else {
                throw ConfigurationError("tenant \(tenant.id): user-session applications need distinct client ids of 1 to 128 characters")
            }
            if let external = policy.externalID {
                if let other = externalIDs[external] { throw ConfigurationError("tenants \(other) and \(tenant.id) have the same external id") }
                externalIDs[external] = tenant.id
            }
            try userSessionHosts.add(tenant.id, hosts: policy.hosts)
        }
        self.tenants = byID
        self.tenantOrder = tenants.map(\.id)
        self.providers = providersByID
        self.accessTokenHosts = accessTokenHosts
        self.userSessionHosts = userSessionHosts
        userSessionExternalIDs = externalIDs
    }

    /// The tenant that hands out access tokens to requests for `host` (a Host header, its port
    /// ignored): the one naming it, else the one naming no host.
    public func accessTokenTenant(host: String?) -> Tenant? {
        accessTokenHosts.tenantID(host: host).flatMap { tenants[$0] }
    }

    /// The tenant that runs user sessions for a request: by its external id when the request
    /// names one (`X-tenant-id`, ISV applications), else by `host` as ``accessTokenTenant(host:)``.
    public func userSessionTenant(host: String?, externalID: String?) -> Tenant? {
        if let externalID { return userSessionExternalIDs[externalID].flatMap { tenants[$0] } }
        return userSessionHosts.tenantID(host: host).flatMap { tenants[$0] }
    }

    public func tenant(_ id: String) -> Tenant? { tenants[id] }

    /// The provider, only when `tenant` is integrated with it.
    public func provider(_ id: String, for tenant: Tenant) -> (any IdentityProvider)? {
        tenant.integrates(providerID: id) ? providers[id] : nil
    }
}

/// Which tenant answers which host name for one front door: the one naming the host, else the
/// one naming none.
struct HostTable: Sendable {
    let purpose: String
    private var tenantsByHost: [String: String] = [:]
    private var fallback: String?

    init(purpose: String) { self.purpose = purpose }

    mutating func add(_ tenantID: String, hosts: [String]) throws(ConfigurationError) {
        if hosts.isEmpty {
            if let other = fallback { throw ConfigurationError("tenants \(other) and \(tenantID) both \(purpose) without naming their hosts") }
            fallback = tenantID
        }
        for host in hosts {
            let key = host.lowercased()
            if let other = tenantsByHost[key] { throw ConfigurationError("tenants \(other) and \(tenantID) both answer the host \(host)") }
            tenantsByHost[key] = tenantID
        }
    }

    /// `host` is a Host header: its port (and an IPv6 literal's brackets) are ignored.
    func tenantID(host: String?) -> String? {
        if let host {
            var name = Substring(host)
            if name.hasPrefix("[") { name = name.prefix { $0 != "]" }.dropFirst() }
            else if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
            if let id = tenantsByHost[name.lowercased()] { return id }
        }
        return fallback
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    /// Where in the YAML, when known: keys and list indexes from the top (`["tenants", "2", "domains"]`).
    public var path: [String]

    public init(_ reason: String, path: [String] = []) {
        self.reason = reason
        self.path = path
    }

    /// The reason, after where it is when that is known (`tenants.0.domains: missing key domains`).
    public var description: String { path.isEmpty ? reason : "\(path.joined(separator: ".")): \(reason)" }

    /// A decoding error of the YAML's shape (a missing key, a wrong type), where it happened.
    public init(decoding error: DecodingError) {
        let (context, what): (DecodingError.Context?, String) = switch error {
        case .keyNotFound(let key, let context): (context, "missing key \(key.stringValue)")
        case .typeMismatch(let type, let context): (context, "expected \(Self.name(of: type))")
        case .valueNotFound(let type, let context): (context, "expected \(Self.name(of: type)), found nothing")
        case .dataCorrupted(let context): (context, context.debugDescription)
        @unknown default: (nil, "\(error)")
        }
        var path = context?.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue } ?? []
        if case .keyNotFound(let key, _) = error { path.append(key.stringValue) }
        self.init(what, path: path)
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a text"
        case is Int.Type: "a whole number"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: String(describing: type).hasPrefix("Array") ? "a list" : "a mapping of keys"
        }
    }

    /// Runs `body`; a ``ConfigurationError`` from it without a path gets `path`.
    public static func at<T>(_ path: [String], _ body: () throws -> T) throws -> T {
        do { return try body() } catch var error as ConfigurationError {
            if error.path.isEmpty { error.path = path }
            throw error
        }
    }
}
