import Foundation
import Testing
@testable import TesseraServer
@testable import TesseraServices
import TesseraCore

/// `tessera config check FILE`: each problem with its line and reason, unknown keys included;
/// exit 0 only for a configuration that would start.
@Suite struct ConfigCheckTests {
    static func check(_ yaml: String) async throws -> (status: Int32, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-config-\(UUID()).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try await AdminCommandTests.tessera(["config", "check", file.path], environment: [:])
        return (status, output.replacingOccurrences(of: file.path, with: "F"))
    }

    @Test func theDemoConfigurationIsValid() async throws {
        let (status, output) = try await Self.check(try TesseraConfiguration.demoYAML())
        #expect(status == 0)
        #expect(output.hasPrefix("F: valid\n"))
        // The demo gives no key-encryption key (`--demo` makes one): the check says where one goes.
        #expect(output.contains("TESSERA_KEY_ENCRYPTION_KEY"))
    }

    @Test func unknownKeysAreErrorsWithTheirLines() async throws {
        let (status, output) = try await Self.check("""
            server:
              key_encyption_key: abc
            providers:
              - id: P
                kind: directory
                display_nam: P
                subscribers:
                  - {username: u, password_hash: 'pbkdf2-sha256$1000$AAAA$AAAA', user_id: u1, colour: red}
            tenants:
              - requestor: T
                domains: [a.test]
                providers: [P]
                polices: {}
            extra: 1
            """)
        #expect(status == 1)
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.contains("F:2: unknown key key_encyption_key in server (did you mean key_encryption_key?)"))
        #expect(lines.contains("F:6: unknown key display_nam in providers.0 (did you mean display_name?)"))
        #expect(lines.contains("F:8: unknown key colour in providers.0.subscribers.0"))
        #expect(lines.contains("F:13: unknown key polices in tenants.0 (did you mean policies?)"))
        #expect(lines.contains("F:14: unknown key extra at the top"))
        #expect(!output.contains("valid"))
    }

    @Test(arguments: [
        // A value of the wrong type, where it is.
        ("providers:\n  - id: P\n    kind: directory\ntenants:\n  - requestor: T\n    domains: [a.test]\n    providers: [P]\n    policies: {authentication_ttl: soon}\n",
         "F:8: tenants.0.policies.authentication_ttl: expected a number"),
        // A missing key: the entry that lacks it.
        ("providers:\n  - id: P\n    kind: directory\ntenants:\n  - requestor: T\n    providers: [P]\n",
         "F:5: tenants.0.domains: missing key domains"),
        // A rule of the configuration: the entry that breaks it.
        ("providers:\n  - id: P\n    kind: directory\n  - id: TP\n    kind: temppass\ntenants: []\n",
         "F:4: providers.1: TempPass TP needs a positive duration"),
        ("server:\n  trusted_proxies: [not-an-address]\nproviders: []\ntenants: []\n",
         "F:2: server.trusted_proxies: trusted proxy not-an-address is not an IP address or CIDR block"),
        ("providers:\n  - id: P\n    kind: ldap\ntenants: []\n",
         "F:3: providers.0.kind: provider P: unknown kind ldap (known: directory, oidc, saml, temppass)"),
        // OpenID Connect providers: an issuer that is not https (http only on loopback), no
        // client id, a secret method without a secret, no callback address to give the provider.
        ("providers:\n  - id: O\n    kind: oidc\n    issuer: http://login.example\n    client_id: c\n    redirect_uri: https://a.test/cb\ntenants: []\n",
         "F:2: providers.0: OIDC provider O needs an issuer: an https URL (http only on a loopback host)"),
        ("providers:\n  - id: O\n    kind: oidc\n    issuer: https://login.example\n    redirect_uri: https://a.test/cb\ntenants: []\n",
         "F:2: providers.0: OIDC provider O needs a client_id"),
        ("providers:\n  - id: O\n    kind: oidc\n    issuer: https://login.example\n    client_id: c\n    token_endpoint_auth_method: client_secret_basic\n    redirect_uri: https://a.test/cb\ntenants: []\n",
         "F:2: providers.0: OIDC provider O uses client_secret_basic and needs a client_secret"),
        ("providers:\n  - id: O\n    kind: oidc\n    issuer: https://login.example\n    client_id: c\ntenants: []\n",
         "F:2: providers.0: OIDC provider O needs a redirect_uri, or server.public_base_url to make it from"),
        ("providers:\n  - id: O\n    kind: oidc\n    issuer: https://login.example\n    client_id: c\n    redirect_uri: https://a.test/cb\n    claims: {user_id: sub, entitlement_rule: []}\ntenants: []\n",
         "F:7: unknown key entitlement_rule in providers.0.claims (did you mean entitlement_rules?)"),
        // SAML providers: metadata over plain http off loopback, none at all, a certificate that
        // is not PEM, no public base URL to make the service provider's endpoints from.
        ("server:\n  public_base_url: https://tv.test\nproviders:\n  - id: S\n    kind: saml\n    metadata: http://idp.example/md\ntenants: []\n",
         "F:4: providers.0: SAML provider S: metadata is a file or an https URL (http only on a loopback host)"),
        ("server:\n  public_base_url: https://tv.test\nproviders:\n  - id: S\n    kind: saml\ntenants: []\n",
         "F:4: providers.0: SAML provider S needs metadata: a file or an https URL"),
        ("server:\n  public_base_url: https://tv.test\nproviders:\n  - id: S\n    kind: saml\n    metadata: /etc/idp.xml\n    certificates: [abc]\ntenants: []\n",
         "F:4: providers.0: SAML provider S: each of certificates must be a PEM X.509 certificate"),
        ("providers:\n  - id: S\n    kind: saml\n    metadata: https://idp.example/md\ntenants: []\n",
         "F:2: providers.0: SAML provider S needs server.public_base_url (its endpoints and entityID are made from it)"),
        // YAML that does not parse.
        ("providers: [\n  - id: x\n", "F:2: not valid YAML"),
    ])
    func eachProblemHasItsLineAndReason(yaml: String, expected: String) async throws {
        let (status, output) = try await Self.check(yaml)
        #expect(status == 1)
        #expect(output.hasPrefix(expected), "\(output)")
    }

    /// Every rule broken in one file is reported at once, each at its line, not only the first;
    /// a mistake is not repeated by what depends on it (the directory is not checked then).
    @Test func everyBrokenRuleIsReportedAtOnce() async throws {
        let (status, output) = try await Self.check("""
            server:
              trusted_proxies: [not-an-address]
              registrations_per_address: 0
              tls_cert: /x.pem
            providers:
              - id: TP
                kind: temppass
              - id: P
                kind: ldap
              - id: D
                kind: directory
                subscribers:
                  - {username: u, user_id: u1}
            tenants:
              - requestor: T
                domains: [a.test]
                providers: [D, TP]
                policies: {authorize_limit: 0}
                degradation:
                  - {provider: D, rule: AuthXAll}
                  - {provider: Nope, rule: AuthZAll}
              - requestor: U
                domains: [b.test]
                providers: [D]
                user_metadata: {public_key: x, encrypted_keys: [], padding: rot13}
            """)
        #expect(status == 1)
        let lines = output.split(separator: "\n").map(String.init)
        let expected = [
            "F:2: server.trusted_proxies: trusted proxy not-an-address is not an IP address or CIDR block",
            "F:3: server.registrations_per_address: server.registrations_per_address must be at least 1",
            "F:1: server: server.tls_cert and server.tls_key go together",
            "F:6: providers.0: TempPass TP needs a positive duration",
            "F:9: providers.1.kind: provider P: unknown kind ldap (known: directory, oidc, saml, temppass)",
            "F:10: providers.2: provider D, subscriber u: needs password or password_hash",
            "F:18: tenants.0.policies.authorize_limit: tenant T: authorize_limit must be at least 1",
            "F:20: tenants.0.degradation.0.rule: tenant T: degradation rule must be AuthNAll, AuthZAll or AuthZNone, not AuthXAll",
            "F:21: tenants.0.degradation.1.provider: tenant T: degradation names provider Nope, which the tenant does not integrate",
        ]
        for line in expected { #expect(lines.contains(line), "\(line) missing from:\n\(output)") }
        #expect(lines.contains { $0.contains("tenants.1.user_metadata.padding: tenant U: user_metadata padding must be") })
        #expect(lines.count >= expected.count + 1, "\(output)")
        #expect(!output.contains("valid"))
        // The server refuses the same file with the first of them, as before.
        #expect(throws: ConfigurationError.self) { try TesseraConfiguration.load(yaml: "providers:\n  - id: TP\n    kind: temppass\ntenants: []\n") }
    }

    @Test func anUnreadableFileIsAnError() async throws {
        let (status, output) = try await AdminCommandTests.tessera(["config", "check", "/nonexistent/tessera.yaml"], environment: [:])
        #expect(status == 1)
        #expect(output.contains("cannot read it"))
    }
}
