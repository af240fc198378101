import Foundation
import TesseraCore
import TesseraServices
import TesseraStore

/// What a client developer needs to talk to this Tessera: per tenant its software statements
/// (for DCR), legacy key pairs, and the subscribers' logins. Written as JSON, mode 0600.
public struct Credentials: Encodable, Sendable {
    public let baseURL: String
    public let activationURL: String
    public let jwksURL: String
    public let tenants: [TenantCredentials]
    public let providers: [ProviderCredentials]
    /// The admin API's token, when `serve --demo` made one.
    public let adminToken: String?

    public struct TenantCredentials: Encodable, Sendable {
        public let requestor: String
        public let name: String
        public let domains: [String]
        public let providers: [String]
        public let softwareStatements: [SoftwareStatement]
        public let legacyKeys: [LegacyKey]
        /// The demo's private key for the RSA-encrypted user metadata (only with `--demo`).
        public let metadataPrivateKey: String?
        /// The demo's private keys that sign REST v2 SSO tokens (only with `--demo`): the
        /// programmer's `AD-Service-Token` and the platform's `Adobe-Subject-Token`.
        public let serviceTokenSigningKey: String?
        public let platformSubjectTokenSigningKey: String?
        /// The demo's stand-in for Apple's signer of partner SSO assertions (only with `--demo`,
        /// when a provider of the tenant takes Apple SSO).
        public let appleAssertionSigningKey: String?
        /// The Meeting USG token API, when the tenant serves it: its accounts' provider and App IDs.
        public let accessTokens: AccessTokenCredentials?
        /// The OneAccess user SDK API, when the tenant serves it: its users' provider, its
        /// external id (`X-tenant-id`) and its applications' client ids (`X-client-id`).
        public let userSessions: UserSessionCredentials?
    }

    public struct UserSessionCredentials: Encodable, Sendable {
        public let provider: String
        public let tenantID: String?
        public let hosts: [String]
        public let clientIDs: [String]
        /// ISV template applications: reached with `X-tenant-id` only.
        public let templateClientIDs: [String]

        enum CodingKeys: String, CodingKey {
            case provider, tenantID = "tenant_id", hosts, clientIDs = "client_ids", templateClientIDs = "template_client_ids"
        }
    }

    public struct AccessTokenCredentials: Encodable, Sendable {
        public let provider: String
        public let organizationID: String
        public let hosts: [String]
        public let appIDs: [AppID]

        enum CodingKeys: String, CodingKey { case provider, organizationID = "organization_id", hosts, appIDs = "app_ids" }
    }

    public struct AppID: Encodable, Sendable {
        public let appID: String
        public let appKey: String
        public let defaultUserID: String
    }

    public struct SoftwareStatement: Encodable, Sendable {
        public let softwareID: String
        public let clientName: String
        public let softwareStatement: String
    }

    public struct LegacyKey: Encodable, Sendable {
        public let publicKey: String
        public let privateKey: String
    }

    public struct ProviderCredentials: Encodable, Sendable {
        public let id: String
        public let displayName: String
        public let loginURL: String
        public let logoutURL: String?
        public let subscribers: [SubscriberLogin]
    }

    public struct SubscriberLogin: Encodable, Sendable {
        public let username: String
        /// Present when the configuration gave the password in clear.
        public let password: String?
        public let userID: String
        public let entitlements: [String]
        public let disabled: Bool
    }

    /// The private key matching the demo tenant's `user_metadata.public_key`.
    public static func demoMetadataPrivateKey() -> String? {
        Bundle.module.url(forResource: "demo-metadata-private-key", withExtension: "pem", subdirectory: "Resources")
            .flatMap { try? String(contentsOf: $0, encoding: .utf8) }
    }

    /// The demo's private keys for the SSO tokens its tenant trusts (see demo.yaml `single_sign_on`).
    public static func demoServiceTokenSigningKey() -> String? { resource("demo-service-token-signing-key") }
    public static func demoPlatformTokenSigningKey() -> String? { resource("demo-platform-token-signing-key") }
    public static func demoAppleAssertionSigningKey() -> String? { resource("demo-apple-assertion-signing-key") }

    private static func resource(_ name: String) -> String? {
        Bundle.module.url(forResource: name, withExtension: "pem", subdirectory: "Resources").flatMap { try? String(contentsOf: $0, encoding: .utf8) }
    }

    public static func make(services: Services, baseURL: String, metadataPrivateKey: String? = nil, demo: Bool = false,
                            adminToken: String? = nil) async throws -> Credentials {
        let configuration = services.configuration
        let directory = configuration.directory
        let now = services.clock.now()
        var tenants: [TenantCredentials] = []
        for id in directory.tenantOrder {
            guard let tenant = directory.tenant(id) else { continue }
            var statements: [SoftwareStatement] = []
            for grant in tenant.softwareStatements {
                statements.append(SoftwareStatement(
                    softwareID: grant.softwareID, clientName: grant.clientName,
                    softwareStatement: try await services.tokens.softwareStatement(for: grant, tenant: tenant, now: now)))
            }
            tenants.append(TenantCredentials(
                requestor: tenant.id, name: tenant.name, domains: tenant.domains, providers: tenant.providerIDs,
                softwareStatements: statements,
                legacyKeys: tenant.legacyKeys.map { LegacyKey(publicKey: $0.publicKey, privateKey: $0.privateKey) },
                metadataPrivateKey: tenant.metadataEncryption == nil ? nil : metadataPrivateKey,
                serviceTokenSigningKey: demo && tenant.singleSignOn.serviceToken != nil ? demoServiceTokenSigningKey() : nil,
                platformSubjectTokenSigningKey: demo && !tenant.singleSignOn.platforms.isEmpty ? demoPlatformTokenSigningKey() : nil,
                appleAssertionSigningKey: demo && tenant.providerIDs.contains { directory.providers[$0]?.partnerTrust != nil }
                    ? demoAppleAssertionSigningKey() : nil,
                accessTokens: tenant.accessTokens.map { policy in
                    AccessTokenCredentials(provider: policy.providerID, organizationID: policy.organizationID, hosts: policy.hosts,
                                           appIDs: policy.applications.map { AppID(appID: $0.id, appKey: $0.key, defaultUserID: $0.defaultUserID) })
                },
                userSessions: tenant.userSessions.map { policy in
                    UserSessionCredentials(provider: policy.providerID, tenantID: policy.externalID, hosts: policy.hosts,
                                           clientIDs: policy.applications.filter { !$0.isTemplate }.map(\.clientID),
                                           templateClientIDs: policy.applications.filter(\.isTemplate).map(\.clientID))
                }))
        }
        let providers = directory.providers.values.sorted { $0.id < $1.id }.map { provider in
            let subscribers = (provider as? any SubscriberListing)?.subscribers.map {
                SubscriberLogin(username: $0.username, password: configuration.knownPasswords[provider.id]?[$0.username],
                                userID: $0.userID, entitlements: $0.entitlements.sorted(), disabled: $0.isDisabled)
            } ?? []
            return ProviderCredentials(
                id: provider.id, displayName: provider.displayName, loginURL: "\(baseURL)/idp/\(provider.id)/login",
                logoutURL: provider.hasLogoutEndpoint ? "\(baseURL)/idp/\(provider.id)/logout" : nil, subscribers: subscribers)
        }
        return Credentials(baseURL: baseURL, activationURL: "\(baseURL)/activate", jwksURL: "\(baseURL)/o/client/jwks",
                           tenants: tenants, providers: providers, adminToken: adminToken)
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = try encoder.encode(self)
        // Made 0600 before anything is written to it, also when it was there already.
        try DataDirectory.securePrivateFile(path, create: true)
        try data.write(to: URL(fileURLWithPath: path))
    }
}
