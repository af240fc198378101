import Foundation

/// A message Tessera owes someone because a session ended, kept in the store until it is
/// delivered (an outbox): retried with backoff, kept across restarts, taken by one instance of a
/// group at a time. Rows are made by triggers on the session table, in the transaction that
/// ends the session, whatever ends it.
public struct LogoutDelivery: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Revoke the upstream refresh token of a session that came from an OpenID Connect
        /// provider (RFC 7009), at the provider's revocation endpoint.
        case revocation = "revoke"
        /// Tell the tenant's services that the session ended: a signed OpenID Connect
        /// back-channel logout token POSTed to its `backchannel_logout_uri`. Not for a session
        /// that merely expired (the purge).
        case programmer
    }

    public var id: Int64
    public var kind: Kind
    public var tenantID: String
    public var providerID: String
    public var sessionID: UUID
    public var userID: String
    /// The refresh token to revoke, sealed for the session (``KeySealing/Owner/upstreamToken(sessionID:kind:)``).
    public var sealedToken: Data?
    /// Delivery attempts that failed so far.
    public var attempts: Int

    public init(id: Int64, kind: Kind, tenantID: String, providerID: String, sessionID: UUID, userID: String, sealedToken: Data?, attempts: Int) {
        self.id = id
        self.kind = kind
        self.tenantID = tenantID
        self.providerID = providerID
        self.sessionID = sessionID
        self.userID = userID
        self.sealedToken = sealedToken
        self.attempts = attempts
    }
}
