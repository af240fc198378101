import Foundation
import TesseraCore
import TesseraStore

/// Dynamic Client Registration (RFC 7591): software statement → client credentials → access token.
extension Services {
    public struct IssuedClient: Sendable {
        public let client: RegisteredClient
        public let secret: String
    }

    public struct IssuedAccessToken: Sendable {
        public let id: UUID
        public let token: String
        public let createdAt: Date
        public let lifetime: TimeInterval
    }

    /// Registers a client of an approved software statement. At most
    /// ``TesseraConfiguration/registrationsPerAddress`` per statement and client address an hour:
    /// registrations were unlimited rows (79,507 in 10 s with throttling off).
    package func registerClient(softwareStatement: String, redirectURI: String?, client address: String) async throws(TesseraError) -> IssuedClient {
        guard softwareStatement.count <= 8192, let claims = await tokens.verifySoftwareStatement(softwareStatement) else {
            throw .clientRegistration(.invalidSoftwareStatement)
        }
        guard let tenant = directory.tenant(claims.requestor),
              let grant = tenant.softwareStatements.first(where: { $0.softwareID == claims.softwareID })
        else { throw .clientRegistration(.unapprovedSoftwareStatement) }
        let quota = tenant.id + "\u{0}" + grant.softwareID + "\u{0}" + address
        guard registrations.allows(quota) else {
            logger.notice("security: client registrations throttled", metadata: [
                "event": "throttled", "tenant": .string(tenant.id), "software": .string(grant.softwareID), "client": .string(address)])
            throw .tooManyRequests
        }
        var redirectURIs = grant.redirectURIs
        if let redirectURI {
            guard redirectURI.count <= 2048, let url = URLComponents(string: redirectURI), url.scheme != nil,
                  grant.redirectURIs.isEmpty || grant.redirectURIs.contains(redirectURI)
            else { throw .clientRegistration(.invalidRedirectURI) }
            redirectURIs = [redirectURI]
        }
        let secret = Secret.generate()
        let client = RegisteredClient(
            id: Secret.generate(byteCount: 16), tenantID: tenant.id, softwareID: grant.softwareID,
            secretDigest: SecretDigest(of: secret), redirectURIs: redirectURIs, issuedAt: clock.now())
        try await stored { try await clients.insert(client) }
        registrations.recordFailure(quota)
        return IssuedClient(client: client, secret: secret)
    }

    /// The claims of a valid bearer (see ``TokenAuthority/verifyAccessToken(_:now:isRegisteredClient:)``):
    /// its `sub` must be a client registered for its requestor.
    package func verifyBearer(_ token: String) async throws(TesseraError) -> AccessTokenClaims {
        try await tokens.verifyAccessToken(token, now: clock.now()) { claims throws(TesseraError) in
            let client = try await stored { try await clients.client(id: claims.sub.value) }
            return client?.tenantID == claims.requestor
        }
    }

    /// The application a bearer speaks for: the software statement its client registered with.
    package func applicationID(of claims: AccessTokenClaims) async throws(TesseraError) -> String {
        if let softwareID = claims.softwareID { return softwareID }
        guard let client = try await stored({ try await clients.client(id: claims.sub.value) }) else {
            throw .invalidAccessToken("the access token's client is not registered")
        }
        return client.softwareID
    }

    package func issueAccessToken(clientID: String?, clientSecret: String?, grantType: String?) async throws(TesseraError) -> IssuedAccessToken {
        guard let grantType, let clientID, let clientSecret, clientID.count <= 256, clientSecret.count <= 256 else {
            throw .clientRegistration(.invalidRequest)
        }
        guard grantType == "client_credentials" else { throw .clientRegistration(.unsupportedGrantType) }
        guard let client = try await stored({ try await clients.client(id: clientID) }),
              client.secretDigest.matches(clientSecret)
        else { throw .clientRegistration(.invalidClient) }
        guard let tenant = directory.tenant(client.tenantID),
              tenant.softwareStatements.contains(where: { $0.softwareID == client.softwareID })
        else { throw .clientRegistration(.unauthorizedClient) }
        let id = UUID.random()
        let now = clock.now()
        if client.firstTokenAt == nil { try await stored { try await clients.markFirstToken(clientID: client.id, at: now) } }
        do {
            let token = try await tokens.accessToken(clientID: client.id, tenantID: tenant.id, softwareID: client.softwareID, id: id, now: now)
            return IssuedAccessToken(id: id, token: token, createdAt: now, lifetime: TokenAuthority.accessTokenLifetime)
        } catch {
            logger.error("cannot sign an access token: \(error)")
            throw .storageFailure
        }
    }
}
