import Foundation
import Synchronization
import TesseraStore
import TesseraPostgres
import TesseraCore
import Yams

/// The operator's YAML file, as written. See README "Configuration" for every key.
struct ConfigurationFile: Decodable {
    var server: Server?
    var providers: [Provider]
    var tenants: [TenantEntry]
    enum CodingKeys: String, CodingKey, CaseIterable { case server, providers, tenants }

    struct Server: Decodable {
        var publicBaseURL: String?
        var trustedProxies: [String]?
        var helpURL: String?
        var throttling: Bool?
        var cacheSessions: Int?
        var cacheDecisions: Int?
        var database: String?
        var loginLimits: LoginLimitsEntry?
        var registrationsPerAddress: Int?
        var adminToken: String?
        var tlsCert: String?
        var tlsKey: String?
        var keyEncryptionKey: String?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case tlsCert = "tls_cert", tlsKey = "tls_key", keyEncryptionKey = "key_encryption_key"
            case publicBaseURL = "public_base_url", trustedProxies = "trusted_proxies", helpURL = "help_url", throttling
            case cacheSessions = "cache_sessions", cacheDecisions = "cache_decisions", database, loginLimits = "login_limits"
            case registrationsPerAddress = "registrations_per_address", adminToken = "admin_token"
        }
    }

    struct LoginLimitsEntry: Decodable {
        var window: Double?
        var addressFailures: Int?
        var addressBackoff: Double?
        var lockoutAttempts: Int?
        var lockoutDuration: Double?
        var codeFailureAlarm: Int?
        var guardedRate: Double?
        var guardedBurst: Double?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case window, addressFailures = "address_failures", addressBackoff = "address_backoff", lockoutAttempts = "lockout_attempts"
            case lockoutDuration = "lockout_duration", codeFailureAlarm = "code_failure_alarm", guardedRate = "guarded_rate"
            case guardedBurst = "guarded_burst"
        }

        var limits: LoginLimits {
            get throws {
                var limits = LoginLimits()
                if let v = window { limits.window = v }
                if let v = addressFailures { limits.addressFailures = v }
                if let v = addressBackoff { limits.addressBackoff = v }
                if let v = lockoutAttempts { limits.lockoutAttempts = v }
                if let v = lockoutDuration { limits.lockoutDuration = v }
                if let v = codeFailureAlarm { limits.codeFailureAlarm = v }
                if let v = guardedRate { limits.guardedRate = v }
                if let v = guardedBurst { limits.guardedBurst = v }
                guard limits.window > 0, limits.addressFailures > 0, limits.addressBackoff >= 0, limits.lockoutAttempts > 0,
                      limits.lockoutDuration >= 0, limits.codeFailureAlarm > 0, limits.guardedRate > 0, limits.guardedBurst >= 1
                else { throw ConfigurationError("server.login_limits: counts and the window must be positive, durations not negative, guarded_burst at least 1") }
                return limits
            }
        }
    }

    struct Provider: Decodable {
        var id: String
        var kind: String
        var displayName: String?
        var logoURL: String?
        var logout: Bool?
        var subscribers: [SubscriberEntry]?
        var denyMessage: String?
        var proxy: String?
        var duration: Double?
        var resourceLimit: Int?
        var platformMappingID: String?
        var appleSSO: PartnerEntry?
        // kind: oidc
        var issuer: String?
        var clientID: String?
        var clientSecret: String?
        var clientAuthentication: String?
        var scopes: [String]?
        var redirectURI: String?
        var postLogoutRedirectURI: String?
        var timeout: Double?
        var claims: ClaimsEntry?
        // kind: saml
        var metadata: String?
        var entityID: String?
        var serviceProviderEntityID: String?
        var certificates: [String]?
        var metadataRefresh: Double?
        var nameIDFormat: String?
        /// The subscribers' hashes, made for every provider at once before the providers are
        /// (``ConfigurationFile/hashes(of:)``); not in the YAML.
        var hashes: [PasswordHash]?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, kind, displayName = "display_name", logoURL = "logo_url", logout, subscribers
            case denyMessage = "deny_message", proxy, duration, resourceLimit = "resource_limit"
            case platformMappingID = "platform_mapping_id"
            case appleSSO = "apple_sso"
            case issuer, clientID = "client_id", clientSecret = "client_secret", clientAuthentication = "token_endpoint_auth_method"
            case scopes, redirectURI = "redirect_uri", postLogoutRedirectURI = "post_logout_redirect_uri", timeout, claims
            case metadata, entityID = "entity_id", serviceProviderEntityID = "sp_entity_id", certificates
            case metadataRefresh = "metadata_refresh", nameIDFormat = "name_id_format"
        }
    }

    /// `claims:` of an OpenID Connect provider: how its id_token's claims become a subscriber.
    struct ClaimsEntry: Decodable {
        var userID: String?
        var metadata: [String: String]?
        var entitlements: String?
        var entitlementRules: [RuleEntry]?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case userID = "user_id", metadata, entitlements, entitlementRules = "entitlement_rules"
        }

        struct RuleEntry: Decodable {
            var claim: String
            var value: String
            var grant: [String]
            enum CodingKeys: String, CodingKey, CaseIterable { case claim, value, grant }
        }
    }

    /// `apple_sso:` of a provider: the SAML assertions Apple's framework hands apps for it.
    struct PartnerEntry: Decodable {
        var issuer: String
        var audience: String?
        var signingCertificate: String
        enum CodingKeys: String, CodingKey, CaseIterable {
            case issuer, audience, signingCertificate = "signing_certificate"
        }
    }

    /// What a provider entry of one kind makes: the provider, and the passwords it was given in
    /// clear (for the credentials file).
    typealias MadeProvider = (provider: any IdentityProvider, passwords: [String: String])

    /// The provider kinds the YAML knows, by their `kind:`. A new kind (OIDC, SAML) is one more
    /// entry: a provider with the capabilities it has, not a case in a switch.
    enum ProviderKinds {
        static let all: [String: @Sendable (Provider) throws -> MadeProvider] = [
            "directory": directory,
            "temppass": tempPass,
            "oidc": openID,
            "saml": saml,
        ]

        /// The claim mapping of an upstream provider's `claims:`, the user id from `userID` unless named.
        static func claimMapping(_ claims: ClaimsEntry?, userID: String) -> ClaimMapping {
            ClaimMapping(userID: claims?.userID ?? userID, metadata: claims?.metadata ?? [:], entitlementsClaim: claims?.entitlements,
                         rules: (claims?.entitlementRules ?? []).map { EntitlementRule(claim: $0.claim, value: $0.value, grant: $0.grant) })
        }

        /// A SAML identity provider: its metadata (a file, or an https URL; http only on a
        /// loopback host), which of its entities, and the attribute mapping.
        static func saml(_ entry: Provider) throws -> MadeProvider {
            guard let location = entry.metadata, !location.isEmpty else {
                throw ConfigurationError("SAML provider \(entry.id) needs metadata: a file or an https URL")
            }
            let source: SAMLProvider.MetadataSource
            if location.contains("://") {
                guard let url = URLComponents(string: location), let host = url.host, !host.isEmpty,
                      url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host))
                else { throw ConfigurationError("SAML provider \(entry.id): metadata is a file or an https URL (http only on a loopback host)") }
                source = .url(location)
            } else {
                source = .file(location)
            }
            for certificate in entry.certificates ?? [] where !certificate.contains("-----BEGIN CERTIFICATE-----") {
                throw ConfigurationError("SAML provider \(entry.id): each of certificates must be a PEM X.509 certificate")
            }
            if let refresh = entry.metadataRefresh, !(refresh >= 60) {
                throw ConfigurationError("SAML provider \(entry.id): metadata_refresh is in seconds, at least 60")
            }
            if let timeout = entry.timeout, !(timeout > 0 && timeout <= 60) {
                throw ConfigurationError("SAML provider \(entry.id): timeout is in seconds, more than 0 and at most 60")
            }
            var provider = SAMLProvider(id: entry.id, displayName: entry.displayName ?? entry.id, logoURL: entry.logoURL, metadata: source,
                                        entityID: entry.entityID, serviceProviderEntityID: entry.serviceProviderEntityID,
                                        certificates: entry.certificates ?? [], nameIDFormat: entry.nameIDFormat,
                                        claims: claimMapping(entry.claims, userID: SAMLProvider.nameIDClaim), denyMessage: entry.denyMessage,
                                        proxyProviderID: entry.proxy, platformMappingID: entry.platformMappingID)
            if let refresh = entry.metadataRefresh { provider.metadataRefresh = refresh }
            if let timeout = entry.timeout { provider.timeout = timeout }
            return (provider, [:])
        }

        /// An OpenID Connect provider: its issuer (https, or http on a loopback host for tests),
        /// the client Tessera is registered as, and the claim mapping.
        static func openID(_ entry: Provider) throws -> MadeProvider {
            guard let issuer = entry.issuer, let url = URLComponents(string: issuer), let host = url.host, !host.isEmpty,
                  url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)),
                  url.query == nil, url.fragment == nil
            else { throw ConfigurationError("OIDC provider \(entry.id) needs an issuer: an https URL (http only on a loopback host)") }
            guard let clientID = entry.clientID, !clientID.isEmpty else { throw ConfigurationError("OIDC provider \(entry.id) needs a client_id") }
            let authentication: OpenIDProvider.ClientAuthentication
            switch entry.clientAuthentication ?? (entry.clientSecret == nil ? "private_key_jwt" : "client_secret_basic") {
            case "client_secret_basic":
                guard let secret = entry.clientSecret, !secret.isEmpty else {
                    throw ConfigurationError("OIDC provider \(entry.id) uses client_secret_basic and needs a client_secret")
                }
                authentication = .clientSecretBasic(secret: secret)
            case "private_key_jwt":
                authentication = .privateKeyJWT
            default:
                throw ConfigurationError("OIDC provider \(entry.id): token_endpoint_auth_method is client_secret_basic or private_key_jwt")
            }
            if let redirect = entry.redirectURI, URLComponents(string: redirect)?.host == nil {
                throw ConfigurationError("OIDC provider \(entry.id): redirect_uri must be an absolute URL")
            }
            if let timeout = entry.timeout, !(timeout > 0 && timeout <= 60) {
                throw ConfigurationError("OIDC provider \(entry.id): timeout is in seconds, more than 0 and at most 60")
            }
            let mapping = claimMapping(entry.claims, userID: "sub")
            var provider = OpenIDProvider(id: entry.id, displayName: entry.displayName ?? entry.id, logoURL: entry.logoURL, issuer: issuer,
                                          clientID: clientID, clientAuthentication: authentication, scopes: entry.scopes ?? [],
                                          redirectURI: entry.redirectURI, claims: mapping, denyMessage: entry.denyMessage, proxyProviderID: entry.proxy,
                                          platformMappingID: entry.platformMappingID)
            if let timeout = entry.timeout { provider.timeout = timeout }
            if let uri = entry.postLogoutRedirectURI {
                guard URLComponents(string: uri)?.host != nil else {
                    throw ConfigurationError("OIDC provider \(entry.id): post_logout_redirect_uri must be an absolute URL")
                }
                provider.postLogoutRedirectURI = uri
            }
            return (provider, [:])
        }

        static func tempPass(_ entry: Provider) throws -> MadeProvider {
            guard let duration = entry.duration, duration > 0 else { throw ConfigurationError("TempPass \(entry.id) needs a positive duration") }
            if let limit = entry.resourceLimit, limit < 1 { throw ConfigurationError("TempPass \(entry.id) needs a resource_limit of at least 1") }
            return (TempPassProvider(id: entry.id, displayName: entry.displayName ?? entry.id, logoURL: entry.logoURL,
                                     duration: duration, resourceLimit: entry.resourceLimit), [:])
        }

        static func directory(_ entry: Provider) throws -> MadeProvider {
            var subscribers: [Subscriber] = []
            var passwords: [String: String] = [:]
            let entries = entry.subscribers ?? []
            let hashes = try entry.hashes ?? ConfigurationFile.hashes(of: [entry])[0]
            for (s, hash) in zip(entries, hashes) {
                if s.passwordHash == nil, let password = s.password { passwords[s.username] = password }
                subscribers.append(Subscriber(username: s.username, passwordHash: hash, userID: s.userID,
                                              entitlements: Set(s.entitlements ?? []), metadata: s.metadata ?? [:],
                                              isDisabled: s.disabled ?? false, displayName: s.name,
                                              passwordExpiresAt: try s.passwordExpiry(provider: entry.id)))
            }
            return (DirectoryProvider(id: entry.id, displayName: entry.displayName ?? entry.id, logoURL: entry.logoURL,
                                      hasLogoutEndpoint: entry.logout ?? false, subscribers: subscribers,
                                      denyMessage: entry.denyMessage, proxyProviderID: entry.proxy,
                                      platformMappingID: entry.platformMappingID, partnerTrust: try entry.appleSSO.map(partnerTrust)), passwords)
        }

        static func partnerTrust(_ entry: PartnerEntry) throws -> PartnerTrust {
            guard entry.signingCertificate.contains("-----BEGIN CERTIFICATE-----") else {
                throw ConfigurationError("apple_sso.signing_certificate must be a PEM X.509 certificate")
            }
            guard !entry.issuer.isEmpty else { throw ConfigurationError("apple_sso.issuer must not be empty") }
            return PartnerTrust(issuer: entry.issuer, audience: entry.audience, signingCertificatePEM: entry.signingCertificate)
        }
    }

    /// The subscribers' password hashes: given ones parsed, clear passwords hashed (PBKDF2, a
    /// tenth of a second or more each) on every core at once, so that a start is not held up by
    /// them one after another.
    static func hashes(of providers: [Provider]) throws -> [[PasswordHash]] {
        let entries = providers.flatMap { provider in (provider.subscribers ?? []).map { (provider.id, $0) } }
        for (provider, s) in entries where s.passwordHash == nil && s.password == nil {
            throw ConfigurationError("provider \(provider), subscriber \(s.username): needs password or password_hash")
        }
        let results = Mutex<[Int: Result<PasswordHash, ConfigurationError>]>([:])
        DispatchQueue.concurrentPerform(iterations: entries.count) { index in
            let (provider, s) = entries[index]
            let result: Result<PasswordHash, ConfigurationError>
            if let encoded = s.passwordHash {
                result = PasswordHash(encoded: encoded).map { .success($0) }
                    ?? .failure(ConfigurationError("provider \(provider), subscriber \(s.username): password_hash is not pbkdf2-sha256"))
            } else {
                result = (try? PasswordHash(password: s.password ?? "")).map { .success($0) }
                    ?? .failure(ConfigurationError("provider \(provider), subscriber \(s.username): the password could not be hashed"))
            }
            results.withLock { $0[index] = result }
        }
        var all = try results.withLock { results in try entries.indices.map { try results[$0]!.get() } }[...]
        return providers.map { provider in
            let count = provider.subscribers?.count ?? 0
            defer { all = all.dropFirst(count) }
            return Array(all.prefix(count))
        }
    }

    struct SubscriberEntry: Decodable {
        var username: String
        var password: String?
        var passwordHash: String?
        var userID: String
        var entitlements: [String]?
        var metadata: [String: MetadataValue]?
        var disabled: Bool?
        var name: String?
        /// A date (`2030-01-01`) or a date and time in ISO 8601.
        var passwordExpires: String?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case username, password, passwordHash = "password_hash", userID = "user_id", entitlements, metadata, disabled, name
            case passwordExpires = "password_expires"
        }

        func passwordExpiry(provider: String) throws -> Date? {
            guard let text = passwordExpires else { return nil }
            if let date = try? Date(text, strategy: .iso8601) { return date }
            if let date = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return date }
            throw ConfigurationError("provider \(provider), subscriber \(username): password_expires is not an ISO 8601 date")
        }
    }

    /// A tenant's `access_tokens:` (the Meeting USG token API).
    struct AccessTokensEntry: Decodable {
        var provider: String
        var hosts: [String]?
        var lifetime: Double?
        var organizationID: String
        var applications: [KeyedApplicationEntry]?
        enum CodingKeys: String, CodingKey, CaseIterable { case provider, hosts, lifetime, organizationID = "organization_id", applications }

        var policy: AccessTokenPolicy {
            AccessTokenPolicy(providerID: provider, hosts: hosts ?? [], lifetime: lifetime ?? 24 * 3600, organizationID: organizationID,
                              applications: (applications ?? []).map {
                                  KeyedApplication(id: $0.appID, key: $0.appKey, defaultUserID: $0.defaultUserID ?? "")
                              })
        }
    }

    /// A tenant's `user_sessions:` (the OneAccess user SDK API).
    struct UserSessionsEntry: Decodable {
        var provider: String
        var hosts: [String]?
        var tenantID: String?
        var sessionLifetime: Double?
        var idTokenLifetime: Double?
        var timestampWindow: Double?
        var keyGracePeriod: Double?
        var applications: [ApplicationEntry]
        var passwords: PasswordsEntry?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case provider, hosts, tenantID = "tenant_id", sessionLifetime = "session_lifetime", idTokenLifetime = "id_token_lifetime"
            case timestampWindow = "timestamp_window", keyGracePeriod = "key_grace_period", applications, passwords
        }

        struct PasswordsEntry: Decodable {
            var minLength: Int?
            var maxLength: Int?
            var pattern: String?
            var maxAgeDays: Double?
            var warnDays: Double?
            enum CodingKeys: String, CodingKey, CaseIterable {
                case minLength = "min_length", maxLength = "max_length", pattern, maxAgeDays = "max_age_days", warnDays = "warn_days"
            }

            var policy: PasswordPolicy {
                get throws {
                    var policy = PasswordPolicy()
                    if let v = minLength { policy.minimumLength = v }
                    if let v = maxLength { policy.maximumLength = v }
                    policy.pattern = pattern
                    policy.maximumAge = maxAgeDays.map { $0 * 86_400 }
                    if let v = warnDays { policy.warningPeriod = v * 86_400 }
                    guard policy.minimumLength >= 1, policy.maximumLength >= policy.minimumLength, policy.maximumLength <= 128,
                          (policy.maximumAge ?? 1) > 0, policy.warningPeriod >= 0 else {
                        throw ConfigurationError("user_sessions.passwords: lengths 1 to 128 with min_length <= max_length, max_age_days positive, warn_days not negative")
                    }
                    if let pattern { guard (try? Regex(pattern)) != nil else { throw ConfigurationError("user_sessions.passwords.pattern is not a regular expression") } }
                    return policy
                }
            }
        }

        struct ApplicationEntry: Decodable {
            var clientID: String
            var template: Bool?
            enum CodingKeys: String, CodingKey, CaseIterable { case clientID = "client_id", template }
        }

        var policy: UserSessionPolicy {
            get throws {
            try UserSessionPolicy(providerID: provider, hosts: hosts ?? [], externalID: tenantID,
                              sessionLifetime: sessionLifetime ?? UserSessionPolicy.defaultSessionLifetime,
                              idTokenLifetime: idTokenLifetime ?? UserSessionPolicy.defaultIDTokenLifetime,
                              timestampWindow: timestampWindow ?? UserSessionPolicy.defaultTimestampWindow,
                              keyGracePeriod: keyGracePeriod ?? UserSessionPolicy.defaultKeyGracePeriod,
                              applications: applications.map { SessionApplication(clientID: $0.clientID, isTemplate: $0.template ?? false) },
                              passwords: passwords?.policy ?? PasswordPolicy())
            }
        }
    }

    struct KeyedApplicationEntry: Decodable {
        var appID: String
        var appKey: String
        var defaultUserID: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case appID = "app_id", appKey = "app_key", defaultUserID = "default_user_id" }
    }

    struct TenantEntry: Decodable {
        var requestor: String
        var name: String?
        var domains: [String]
        var providers: [String]
        var softwareStatements: [SoftwareStatementEntry]?
        var legacyKeys: [LegacyKeyEntry]?
        var policies: Policies?
        var userMetadata: UserMetadata?
        var accessTokens: AccessTokensEntry?
        var userSessions: UserSessionsEntry?
        var singleSignOn: SingleSignOnEntry?
        var degradation: [DegradationEntry]?
        var backchannelLogoutURI: String?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case requestor, name, domains, providers, softwareStatements = "software_statements", legacyKeys = "legacy_keys", policies
            case userMetadata = "user_metadata", accessTokens = "access_tokens", userSessions = "user_sessions"
            case singleSignOn = "single_sign_on", degradation, backchannelLogoutURI = "backchannel_logout_uri"
        }
    }

    struct SingleSignOnEntry: Decodable {
        var serviceToken: TrustEntry?
        var platforms: [TrustEntry]?
        enum CodingKeys: String, CodingKey, CaseIterable { case serviceToken = "service_token", platforms }

        struct TrustEntry: Decodable {
            var id: String?
            var publicKeys: [String]?
            var keys: [KeyEntry]?
            var audiences: [String]?
            var issuer: String?
            var providers: [String]
            enum CodingKeys: String, CodingKey, CaseIterable { case id, publicKeys = "public_keys", keys, audiences, issuer, providers }

            func trust(id fallback: String, scheme: SSOKey.Scheme, tenant: String) throws -> TokenTrust {
                let keys = (publicKeys ?? []).map { TokenTrust.Key(publicKeyPEM: $0) } + (keys ?? []).map { TokenTrust.Key(id: $0.kid, publicKeyPEM: $0.publicKey) }
                guard !keys.isEmpty else { throw ConfigurationError("tenant \(tenant): single_sign_on \(fallback) needs public_keys") }
                for key in keys where !SingleSignOnTokens.accepts(key.publicKeyPEM, scheme: scheme) {
                    throw ConfigurationError("tenant \(tenant): single_sign_on \(fallback) has a key that is not an RSA\(scheme == .platform ? " or P-256" : "") public key in PEM")
                }
                return TokenTrust(id: id ?? fallback, keys: keys, audiences: audiences ?? [], issuer: issuer, providerIDs: Set(providers))
            }
        }

        struct KeyEntry: Decodable {
            var kid: String?
            var publicKey: String
            enum CodingKeys: String, CodingKey, CaseIterable { case kid, publicKey = "public_key" }
        }

        func policy(tenant: String) throws -> SingleSignOnPolicy {
            var ids = Set<String>()
            let platforms = try (platforms ?? []).enumerated().map { index, entry in
                let trust = try entry.trust(id: "platform-\(index)", scheme: .platform, tenant: tenant)
                guard ids.insert(trust.id).inserted else { throw ConfigurationError("tenant \(tenant): two single_sign_on platforms have the id \(trust.id)") }
                return trust
            }
            return SingleSignOnPolicy(serviceToken: try serviceToken?.trust(id: "service-token", scheme: .serviceToken, tenant: tenant), platforms: platforms)
        }
    }

    struct DegradationEntry: Decodable {
        var provider: String
        var rule: String
        var details: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case provider, rule, details }
    }

    struct UserMetadata: Decodable {
        var publicKey: String
        var encryptedKeys: [String]
        var padding: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case publicKey = "public_key", encryptedKeys = "encrypted_keys", padding }
    }

    struct SoftwareStatementEntry: Decodable {
        var softwareID: String
        var clientName: String?
        var redirectURIs: [String]?
        enum CodingKeys: String, CodingKey, CaseIterable { case softwareID = "software_id", clientName = "client_name", redirectURIs = "redirect_uris" }
    }

    struct LegacyKeyEntry: Decodable {
        var publicKey: String
        var privateKey: String
        enum CodingKeys: String, CodingKey, CaseIterable { case publicKey = "public_key", privateKey = "private_key" }
    }

    struct Policies: Decodable {
        var registrationCodeTTL: Double?
        var registrationCodeMaxTTL: Double?
        var authenticationTTL: Double?
        var requireDeviceInfo: Bool?
        var authorizationTTL: Double?
        var mediaTokenTTL: Double?
        var preauthorizeLimit: Int?
        var authorizeLimit: Int?
        var throttleRate: Double?
        var throttleBurst: Double?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case registrationCodeTTL = "registration_code_ttl", registrationCodeMaxTTL = "registration_code_max_ttl"
            case authenticationTTL = "authentication_ttl", requireDeviceInfo = "require_device_info"
            case authorizationTTL = "authorization_ttl", mediaTokenTTL = "media_token_ttl", preauthorizeLimit = "preauthorize_limit"
            case authorizeLimit = "authorize_limit"
            case throttleRate = "throttle_rate", throttleBurst = "throttle_burst"
        }
    }
}

/// How many entries the in-memory caches of hot reads hold at most.
public struct CacheCapacity: Sendable {
    public var sessions: Int
    public var decisions: Int
    /// About 60 MB together when full; enough for the devices watching at once on one instance.
    public static let standard = CacheCapacity(sessions: 200_000, decisions: 200_000)
}

/// The configuration Tessera runs with: the directory of tenants and providers, server
/// settings, and what the credentials file needs to tell a client developer.
public struct TesseraConfiguration: Sendable {
    public var directory: Directory
    public var publicBaseURL: String?
    public var trustedProxies: TrustedProxies
    public let helpURL: String
    /// Whether throttling applies at all (tenants set their rates); off for benchmarks.
    public var throttling: Bool
    /// How many device sessions and decisions are kept in memory (0 turns a cache off).
    public var cacheCapacity: CacheCapacity = .standard
    /// `postgres://…` to share one PostgreSQL database between instances; nil for the embedded SQLite file.
    public var databaseURL: String?
    /// Limits on guessing codes and passwords.
    public var loginLimits = LoginLimits()
    /// DCR registrations per software statement and client address an hour.
    public var registrationsPerAddress = 100
    /// The digest of the token the admin API takes (`server.admin_token`, or TESSERA_ADMIN_TOKEN);
    /// nil: the admin API answers 404.
    public var adminTokenDigest: SecretDigest?
    /// PEM files of the certificate (chain) and key to serve HTTPS with (`server.tls_cert`,
    /// `server.tls_key`); nil: plain HTTP.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Seals the private keys the store keeps: signing keys and applications' keys
    /// (`server.key_encryption_key`, or TESSERA_KEY_ENCRYPTION_KEY). Required to serve; `--demo`
    /// makes one in its data folder when none is given.
    public var keySealing: KeySealing?
    /// Plain-text passwords as the YAML gave them, for the credentials file (provider → username → password).
    package let knownPasswords: [String: [String: String]]

    public static let defaultHelpURL =
        "https://experienceleague.adobe.com/docs/pass/authentication/auth-features/error-reportn/enhanced-error-codes.html"

    /// Parses and validates a YAML configuration. Passwords given in clear are hashed here
    /// (PBKDF2, so this takes a moment per subscriber). Throws the first error found.
    public static func load(yaml: String) throws -> TesseraConfiguration {
        let loaded = loadReportingEveryError(yaml: yaml)
        if let first = loaded.errors.first { throw first }
        guard let configuration = loaded.configuration else { throw ConfigurationError("the configuration could not be loaded") }
        return configuration
    }

    /// Loads as ``load(yaml:)`` does, but goes on past a part that fails (a provider, a tenant
    /// or one of its sections, a server setting) so that every error is reported at once
    /// (`tessera config check`). The configuration only when there is no error. Parts that
    /// depend on a failed one (the directory, when a provider or tenant failed) are not checked,
    /// so that one mistake is not reported twice.
    public static func loadReportingEveryError(yaml: String) -> (configuration: TesseraConfiguration?, errors: [ConfigurationError]) {
        let file: ConfigurationFile
        do { file = try YAMLDecoder().decode(ConfigurationFile.self, from: yaml) } catch let error as DecodingError {
            return (nil, [ConfigurationError(decoding: error)])
        } catch {
            return (nil, [ConfigurationError("the configuration is not valid YAML: \(error)")])
        }
        let problems = ConfigurationProblems()
        var providers: [any IdentityProvider] = []
        var passwords: [String: [String: String]] = [:]
        let directories = file.providers.filter { $0.kind == "directory" }
        // All at once on every core; when one fails, each directory hashes its own below and
        // reports its error at its place.
        let hashes = (try? ConfigurationFile.hashes(of: directories)).map { Dictionary(zip(directories.map(\.id), $0)) { first, _ in first } } ?? [:]
        for (index, var entry) in file.providers.enumerated() {
            entry.hashes = hashes[entry.id]
            guard let make = ConfigurationFile.ProviderKinds.all[entry.kind] else {
                problems.add(ConfigurationError("provider \(entry.id): unknown kind \(entry.kind) (known: \(ConfigurationFile.ProviderKinds.all.keys.sorted().joined(separator: ", ")))",
                                                path: ["providers", "\(index)", "kind"]))
                continue
            }
            guard let made = problems.attempt(["providers", "\(index)"], { try make(entry) }) else { continue }
            if let openID = made.provider as? OpenIDProvider, openID.redirectURI == nil,
               URLComponents(string: file.server?.publicBaseURL ?? "")?.host == nil {
                problems.add(ConfigurationError("OIDC provider \(entry.id) needs a redirect_uri, or server.public_base_url to make it from",
                                                path: ["providers", "\(index)"]))
            }
            if made.provider is SAMLProvider, URLComponents(string: file.server?.publicBaseURL ?? "")?.host == nil {
                problems.add(ConfigurationError("SAML provider \(entry.id) needs server.public_base_url (its endpoints and entityID are made from it)",
                                                path: ["providers", "\(index)"]))
            }
            providers.append(made.provider)
            if !made.passwords.isEmpty { passwords[entry.id] = made.passwords }
        }
        let tenants = file.tenants.enumerated().compactMap { index, entry in tenant(entry, at: ["tenants", "\(index)"], problems: problems) }
        let proxies = problems.attempt(["server", "trusted_proxies"]) { try TrustedProxies(file.server?.trustedProxies ?? []) }
        let capacity = CacheCapacity(sessions: file.server?.cacheSessions ?? CacheCapacity.standard.sessions,
                                     decisions: file.server?.cacheDecisions ?? CacheCapacity.standard.decisions)
        if capacity.sessions < 0 || capacity.decisions < 0 { problems.add(ConfigurationError("cache sizes cannot be negative", path: ["server"])) }
        if let database = file.server?.database { _ = problems.attempt(["server", "database"]) { try PostgresLocation(url: database) } }
        let limits = problems.attempt(["server", "login_limits"]) { try file.server?.loginLimits?.limits } ?? nil
        let adminToken = file.server?.adminToken.flatMap { token in problems.attempt(["server", "admin_token"]) { try SecretDigest(adminToken: token) } }
        if (file.server?.tlsCert == nil) != (file.server?.tlsKey == nil) {
            problems.add(ConfigurationError("server.tls_cert and server.tls_key go together", path: ["server"]))
        }
        let sealing = file.server?.keyEncryptionKey.flatMap { key in problems.attempt(["server", "key_encryption_key"]) { try KeySealing(encoded: key) } }
        if let count = file.server?.registrationsPerAddress, count < 1 {
            problems.add(ConfigurationError("server.registrations_per_address must be at least 1", path: ["server", "registrations_per_address"]))
        }
        // The directory joins tenants and providers: checked only when all of them loaded.
        guard problems.isEmpty, let proxies,
              let directory = problems.attempt(["tenants"], { try Directory(tenants: tenants, providers: providers) })
        else { return (nil, problems.errors) }
        var configuration = TesseraConfiguration(
            directory: directory, publicBaseURL: file.server?.publicBaseURL, trustedProxies: proxies,
            helpURL: file.server?.helpURL ?? defaultHelpURL, throttling: file.server?.throttling ?? true,
            cacheCapacity: capacity, databaseURL: file.server?.database, knownPasswords: passwords)
        if let limits { configuration.loginLimits = limits }
        configuration.adminTokenDigest = adminToken
        configuration.tlsCertificatePath = file.server?.tlsCert
        configuration.tlsKeyPath = file.server?.tlsKey
        configuration.keySealing = sealing
        if let count = file.server?.registrationsPerAddress { configuration.registrationsPerAddress = count }
        return (configuration, [])
    }

    /// One tenant, each of its sections checked on its own; nil (its errors in `problems`) when
    /// one fails.
    static func tenant(_ t: ConfigurationFile.TenantEntry, at path: [String], problems: ConfigurationProblems) -> Tenant? {
        let before = problems.count
        var policies = TenantPolicies()
        if let v = t.policies?.registrationCodeTTL { policies.registrationCodeTTL = v }
        if let v = t.policies?.registrationCodeMaxTTL { policies.registrationCodeMaxTTL = v }
        if let v = t.policies?.authenticationTTL { policies.authenticationTTL = v }
        if let v = t.policies?.requireDeviceInfo { policies.requireDeviceInfo = v }
        if let v = t.policies?.authorizationTTL { policies.authorizationTTL = v }
        if let v = t.policies?.mediaTokenTTL { policies.mediaTokenTTL = v }
        if let v = t.policies?.preauthorizeLimit { policies.preauthorizeLimit = v }
        if let v = t.policies?.authorizeLimit {
            if v >= 1 { policies.authorizeLimit = v } else {
                problems.add(ConfigurationError("tenant \(t.requestor): authorize_limit must be at least 1", path: path + ["policies", "authorize_limit"]))
            }
        }
        if let rate = t.policies?.throttleRate {
            policies.throttle = rate > 0 ? ThrottlePolicy(rate: rate, burst: t.policies?.throttleBurst ?? 10) : nil
        } else if let burst = t.policies?.throttleBurst {
            policies.throttle = ThrottlePolicy(rate: 1, burst: burst)
        }
        var encryption: MetadataEncryption?
        if let m = t.userMetadata {
            if let padding = MetadataEncryption.Padding(rawValue: m.padding ?? "pkcs1") {
                encryption = MetadataEncryption(publicKeyPEM: m.publicKey, keys: Set(m.encryptedKeys), padding: padding)
            } else {
                problems.add(ConfigurationError("tenant \(t.requestor): user_metadata padding must be pkcs1, oaep-sha1 or oaep-sha256",
                                                path: path + ["user_metadata", "padding"]))
            }
        }
        let userSessions = problems.attempt(path + ["user_sessions"]) { try t.userSessions?.policy }
        var tenant = Tenant(
            id: t.requestor, name: t.name ?? t.requestor, domains: t.domains, providerIDs: t.providers,
            softwareStatements: (t.softwareStatements ?? []).map {
                SoftwareStatementGrant(softwareID: $0.softwareID, clientName: $0.clientName ?? $0.softwareID, redirectURIs: $0.redirectURIs ?? [])
            },
            legacyKeys: (t.legacyKeys ?? []).map { LegacyKeyPair(publicKey: $0.publicKey, privateKey: $0.privateKey) },
            policies: policies, metadataEncryption: encryption, accessTokens: t.accessTokens?.policy,
            userSessions: userSessions ?? nil)
        if let sso = t.singleSignOn, let policy = problems.attempt(path + ["single_sign_on"], { try sso.policy(tenant: t.requestor) }) {
            tenant.singleSignOn = policy
            for id in policy.platforms.flatMap(\.providerIDs) + (policy.serviceToken?.providerIDs.sorted() ?? []) where !t.providers.contains(id) {
                problems.add(ConfigurationError("tenant \(t.requestor): single_sign_on names provider \(id), which the tenant does not integrate",
                                                path: path + ["single_sign_on"]))
            }
        }
        if let uri = t.backchannelLogoutURI {
            if let url = URLComponents(string: uri), let host = url.host, !host.isEmpty, url.fragment == nil,
               url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)) {
                tenant.backchannelLogoutURI = uri
            } else {
                problems.add(ConfigurationError("tenant \(t.requestor): backchannel_logout_uri must be an https URL (http only on a loopback host), without a fragment",
                                                path: path + ["backchannel_logout_uri"]))
            }
        }
        tenant.degradation = (t.degradation ?? []).enumerated().compactMap { index, entry in
            let place = path + ["degradation", "\(index)"]
            guard let kind = DegradationRule.Kind(rawValue: entry.rule) else {
                problems.add(ConfigurationError("tenant \(t.requestor): degradation rule must be AuthNAll, AuthZAll or AuthZNone, not \(entry.rule)",
                                                path: place + ["rule"]))
                return nil
            }
            guard t.providers.contains(entry.provider) else {
                problems.add(ConfigurationError("tenant \(t.requestor): degradation names provider \(entry.provider), which the tenant does not integrate",
                                                path: place + ["provider"]))
                return nil
            }
            return DegradationRule(tenantID: t.requestor, providerID: entry.provider, kind: kind, details: entry.details)
        }
        return problems.count == before ? tenant : nil
    }

    /// Takes `token` as the admin API's token; only its digest is kept.
    public mutating func setAdminToken(_ token: String) throws {
        adminTokenDigest = try SecretDigest(adminToken: token)
    }

}

/// The errors a configuration load has found so far: the load goes on past a part that fails.
final class ConfigurationProblems {
    private(set) var errors: [ConfigurationError] = []
    var count: Int { errors.count }
    var isEmpty: Bool { errors.isEmpty }

    func add(_ error: ConfigurationError) { errors.append(error) }

    /// `body`'s value, or nil with its error kept (placed at `path` unless it names its own place).
    @discardableResult
    func attempt<T>(_ path: [String], _ body: () throws -> T) -> T? {
        do { return try ConfigurationError.at(path, body) } catch let error as ConfigurationError {
            errors.append(error)
        } catch {
            errors.append(ConfigurationError("\(error)", path: path))
        }
        return nil
    }
}

extension SecretDigest {
    /// The digest of an admin token, which must be 16 to 1024 characters without spaces.
    init(adminToken token: String) throws {
        guard token.utf8.count >= 16, token.utf8.count <= 1024, !token.contains(where: \.isWhitespace) else {
            throw ConfigurationError("the admin token must be 16 to 1024 characters without spaces")
        }
        self.init(of: token)
    }
}
