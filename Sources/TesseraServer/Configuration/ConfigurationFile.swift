import Foundation
import TesseraCore
import Yams

/// The operator's YAML file, as written. See README "Configuration" for every key.
struct ConfigurationFile: Decodable {
    var server: Server?
    var providers: [Provider]
    var tenants: [TenantEntry]

    struct Server: Decodable {
        var publicBaseURL: String?
        var trustedProxies: [String]?
        var helpURL: String?
        enum CodingKeys: String, CodingKey {
            case publicBaseURL = "public_base_url", trustedProxies = "trusted_proxies", helpURL = "help_url"
        }
    }

    struct Provider: Decodable {
        var id: String
        var kind: String
        var displayName: String?
        var logoURL: String?
        var logout: Bool?
        var subscribers: [SubscriberEntry]?
        enum CodingKeys: String, CodingKey {
            case id, kind, displayName = "display_name", logoURL = "logo_url", logout, subscribers
        }
    }

    struct SubscriberEntry: Decodable {
        var username: String
        var password: String?
        var passwordHash: String?
        var userID: String
        var entitlements: [String]?
        var metadata: [String: MetadataValue]?
        enum CodingKeys: String, CodingKey {
            case username, password, passwordHash = "password_hash", userID = "user_id", entitlements, metadata
        }
    }

    struct TenantEntry: Decodable {
        var requestor: String
        var name: String?
        var domains: [String]
        var providers: [String]
        var softwareStatements: [SoftwareStatementEntry]?
        var legacyKeys: [LegacyKeyEntry]?
        var policies: Policies?
        enum CodingKeys: String, CodingKey {
            case requestor, name, domains, providers, softwareStatements = "software_statements", legacyKeys = "legacy_keys", policies
        }
    }

    struct SoftwareStatementEntry: Decodable {
        var softwareID: String
        var clientName: String?
        var redirectURIs: [String]?
        enum CodingKeys: String, CodingKey { case softwareID = "software_id", clientName = "client_name", redirectURIs = "redirect_uris" }
    }

    struct LegacyKeyEntry: Decodable {
        var publicKey: String
        var privateKey: String
        enum CodingKeys: String, CodingKey { case publicKey = "public_key", privateKey = "private_key" }
    }

    struct Policies: Decodable {
        var registrationCodeTTL: Double?
        var registrationCodeMaxTTL: Double?
        var authenticationTTL: Double?
        var requireDeviceInfo: Bool?
        enum CodingKeys: String, CodingKey {
            case registrationCodeTTL = "registration_code_ttl", registrationCodeMaxTTL = "registration_code_max_ttl"
            case authenticationTTL = "authentication_ttl", requireDeviceInfo = "require_device_info"
        }
    }
}

/// The configuration Tessera runs with: the directory of tenants and providers, server
/// settings, and what the credentials file needs to tell a client developer.
public struct TesseraConfiguration: Sendable {
    public let directory: Directory
    public let publicBaseURL: String?
    public let trustedProxies: TrustedProxies
    public let helpURL: String
    /// Plain-text passwords as the YAML gave them, for the credentials file (provider → username → password).
    let knownPasswords: [String: [String: String]]

    public static let defaultHelpURL =
        "https://experienceleague.adobe.com/docs/pass/authentication/auth-features/error-reportn/enhanced-error-codes.html"

    /// Parses and validates a YAML configuration. Passwords given in clear are hashed here
    /// (PBKDF2, so this takes a moment per subscriber).
    public static func load(yaml: String) throws -> TesseraConfiguration {
        let file: ConfigurationFile
        do { file = try YAMLDecoder().decode(ConfigurationFile.self, from: yaml) } catch {
            throw ConfigurationError("the configuration is not valid YAML of the expected shape: \(error)")
        }
        var providers: [any IdentityProvider] = []
        var passwords: [String: [String: String]] = [:]
        for entry in file.providers {
            guard entry.kind == "directory" else { throw ConfigurationError("provider \(entry.id): unknown kind \(entry.kind)") }
            var subscribers: [Subscriber] = []
            for s in entry.subscribers ?? [] {
                let hash: PasswordHash
                if let encoded = s.passwordHash {
                    guard let parsed = PasswordHash(encoded: encoded) else {
                        throw ConfigurationError("provider \(entry.id), subscriber \(s.username): password_hash is not pbkdf2-sha256")
                    }
                    hash = parsed
                } else if let password = s.password {
                    hash = try PasswordHash(password: password)
                    passwords[entry.id, default: [:]][s.username] = password
                } else {
                    throw ConfigurationError("provider \(entry.id), subscriber \(s.username): needs password or password_hash")
                }
                subscribers.append(Subscriber(username: s.username, passwordHash: hash, userID: s.userID,
                                              entitlements: Set(s.entitlements ?? []), metadata: s.metadata ?? [:]))
            }
            providers.append(DirectoryProvider(id: entry.id, displayName: entry.displayName ?? entry.id, logoURL: entry.logoURL,
                                               hasLogoutEndpoint: entry.logout ?? false, subscribers: subscribers))
        }
        let tenants = file.tenants.map { t in
            var policies = TenantPolicies()
            if let v = t.policies?.registrationCodeTTL { policies.registrationCodeTTL = v }
            if let v = t.policies?.registrationCodeMaxTTL { policies.registrationCodeMaxTTL = v }
            if let v = t.policies?.authenticationTTL { policies.authenticationTTL = v }
            if let v = t.policies?.requireDeviceInfo { policies.requireDeviceInfo = v }
            return Tenant(
                id: t.requestor, name: t.name ?? t.requestor, domains: t.domains, providerIDs: t.providers,
                softwareStatements: (t.softwareStatements ?? []).map {
                    SoftwareStatementGrant(softwareID: $0.softwareID, clientName: $0.clientName ?? $0.softwareID, redirectURIs: $0.redirectURIs ?? [])
                },
                legacyKeys: (t.legacyKeys ?? []).map { LegacyKeyPair(publicKey: $0.publicKey, privateKey: $0.privateKey) },
                policies: policies)
        }
        let proxies = try TrustedProxies(file.server?.trustedProxies ?? [])
        return TesseraConfiguration(
            directory: try Directory(tenants: tenants, providers: providers),
            publicBaseURL: file.server?.publicBaseURL, trustedProxies: proxies,
            helpURL: file.server?.helpURL ?? defaultHelpURL, knownPasswords: passwords)
    }

    /// The demo configuration shipped with the program.
    public static func demoYAML() throws -> String {
        guard let url = Bundle.module.url(forResource: "demo", withExtension: "yaml", subdirectory: "Resources") else {
            throw ConfigurationError("the demo configuration is missing from the program's resources")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
