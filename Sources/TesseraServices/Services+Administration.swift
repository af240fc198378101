import Foundation
import TesseraCore
import TesseraStore

/// What an operator does to sessions and clients.
extension Services {
    /// Whether `token` is the configured admin token (compared as digests, in constant time).
    /// With none configured, nothing is.
    package func admitsAdministrator(_ token: String?) -> Bool {
        guard let digest = configuration.adminTokenDigest, let token, !token.isEmpty, token.utf8.count <= 1024 else { return false }
        return digest.matches(token)
    }

    /// A subscriber's sessions in one tenant: every device, application, provider and kind.
    package func sessions(tenant: Tenant, subject userID: String) async throws(TesseraError) -> [Session] {
        try await sessions(SessionSelector(tenantID: tenant.id, .subject(userID: userID)))
    }

    /// Signs a subscriber out everywhere in one tenant: the first user of the subject selector.
    package func signOutEverywhere(tenant: Tenant, subject userID: String) async throws(TesseraError) -> LogoutPlan {
        let plan = try await revoke(SessionSelector(tenantID: tenant.id, .subject(userID: userID)))
        if !plan.steps.isEmpty {
            logger.notice("signed out everywhere", metadata: ["tenant": "\(tenant.id)", "sessions": "\(plan.steps.count)"])
        }
        return plan
    }

    /// Revokes a registered client: its bearers fail from now on, on every instance. `false`
    /// when the tenant has no such client.
    package func revokeClient(tenant: Tenant, clientID: String) async throws(TesseraError) -> Bool {
        defer { hot.invalidate([.client(clientID)], bearers: tokens.verifiedAccessTokens) }
        return try await stored { try await clients.deleteClient(id: clientID, tenantID: tenant.id) }
    }
}
