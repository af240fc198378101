import Foundation
import TesseraCore
import TesseraStore

/// What ended sessions leave to deliver (``LogoutDelivery``): the store's triggers fill the
/// outbox in the transaction that ends a session; ``deliverLogouts()`` (every second, on every
/// instance) takes what is due, leased so that one instance of a group delivers each, and either
/// finishes it or tries it again later.
extension Services {
    /// How long a claimed delivery is this instance's before another may take it.
    static let deliveryLease: TimeInterval = 60
    package static let deliveriesPerRound = 32
    /// After this many failed attempts a delivery is given up (with a log line and a metric):
    /// with the backoff, about a day.
    static let deliveryAttempts = 100

    /// When a delivery that failed `attempts` times is tried again: 1 s, 2 s, 4 s … at most 15 minutes.
    static func deliveryBackoff(attempts: Int) -> TimeInterval { min(900, pow(2, Double(min(attempts, 12)))) }

    /// Tells the store which tenants want their services told of ended sessions.
    package func registerBackchannelTenants() async throws(TesseraError) {
        let tenants = Set(directory.tenants.values.filter { $0.backchannelLogoutURI != nil }.map(\.id))
        try await stored { try await logoutDeliveries.setBackchannelTenants(tenants) }
    }

    /// Delivers what is due; returns how many deliveries it took.
    @discardableResult
    package func deliverLogouts() async -> Int {
        let due: [LogoutDelivery]
        do { due = try await logoutDeliveries.claimLogoutDeliveries(now: clock.now(), lease: Self.deliveryLease, limit: Self.deliveriesPerRound) } catch {
            logger.warning("cannot read the logout deliveries: \(error)")
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for delivery in due { group.addTask { await self.deliver(delivery) } }
        }
        return due.count
    }

    /// How many deliveries wait, for the metrics.
    package func countPendingDeliveries() async {
        do { metrics.setPendingDeliveries(try await logoutDeliveries.pendingLogoutDeliveries()) } catch {
            logger.warning("cannot count the logout deliveries: \(error)")
        }
    }

    private enum DeliveryOutcome: String {
        case delivered, failed, dropped
    }

    private func deliver(_ delivery: LogoutDelivery) async {
        var outcome: DeliveryOutcome
        switch delivery.kind {
        case .revocation: outcome = await revokeUpstream(delivery)
        case .programmer: outcome = await tellProgrammer(delivery)
        }
        if outcome == .failed, delivery.attempts + 1 >= Self.deliveryAttempts {
            logger.error("gave up a logout delivery after \(Self.deliveryAttempts) attempts", metadata: [
                "kind": .string(delivery.kind.rawValue), "tenant": .string(delivery.tenantID), "session": .string(delivery.sessionID.uuidString)])
            outcome = .dropped
        }
        do {
            if outcome == .failed {
                try await logoutDeliveries.retryLogoutDelivery(
                    id: delivery.id, at: clock.now().addingTimeInterval(Self.deliveryBackoff(attempts: delivery.attempts)))
            } else {
                try await logoutDeliveries.finishLogoutDelivery(id: delivery.id)
            }
        } catch {
            // The lease runs out and the delivery is taken again: at least once, never lost.
            logger.warning("cannot record a logout delivery: \(error)")
        }
        metrics.countDelivery(kind: delivery.kind.rawValue, outcome: outcome.rawValue)
    }

    /// The upstream refresh token of an ended session, revoked at its provider (RFC 7009).
    private func revokeUpstream(_ delivery: LogoutDelivery) async -> DeliveryOutcome {
        guard let provider = directory.providers[delivery.providerID] as? OpenIDProvider, let sealed = delivery.sealedToken else { return .dropped }
        guard let opened = try? sealing.open(sealed, for: .upstreamToken(sessionID: delivery.sessionID, kind: UpstreamLoginCoding.refreshToken)) else {
            logger.error("a refresh token to revoke does not open under the key-encryption key", metadata: ["provider": .string(provider.id)])
            return .dropped
        }
        let tokens = self.tokens
        do {
            try await openID.revoke(refreshToken: String(decoding: opened, as: UTF8.self), provider: provider) { audience in
                try await tokens.clientAssertion(clientID: provider.clientID, audience: audience)
            }
            return .delivered
        } catch {
            logger.notice("revocation at \(provider.id) failed, to be tried again: \(error)")
            return .failed
        }
    }

    /// The tenant's services told that a session ended: a signed logout token to its back-channel URI.
    private func tellProgrammer(_ delivery: LogoutDelivery) async -> DeliveryOutcome {
        guard let uri = directory.tenant(delivery.tenantID)?.backchannelLogoutURI else { return .dropped }
        let token: String
        do {
            token = try await tokens.logoutToken(issuer: logoutTokenIssuer, tenantID: delivery.tenantID, sessionID: delivery.sessionID,
                                                 userID: delivery.userID, providerID: delivery.providerID, now: clock.now())
        } catch {
            logger.error("cannot sign a logout token: \(error)")
            return .failed
        }
        guard await openID.deliverLogoutToken(token, to: uri) else {
            logger.notice("the back-channel logout of tenant \(delivery.tenantID) was not taken, to be tried again")
            return .failed
        }
        return .delivered
    }

    /// The `iss` of Tessera's logout tokens: its public base URL, else `tessera` (as its access tokens).
    package var logoutTokenIssuer: String { configuration.publicBaseURL ?? TokenAuthority.issuer }
}
