import Crypto
import Foundation
import TesseraCore
import TesseraStore

/// Sign-in through a TV provider's SAML identity provider, and Single Logout both ways.
///
/// The browser's attempt (its `state`) is the RelayState; the AuthnRequest's ID is derived from it
/// and the browser's cookie by the front door, so nothing is stored before the provider answers,
/// and only that browser's Response (its InResponseTo) is taken. What the Response said travels
/// sealed in the confirmation form like an OpenID Connect provider's grant.
extension Services {
    private func endpoint(_ provider: SAMLProvider, _ path: String) -> String {
        let base = configuration.publicBaseURL ?? ""
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/idp/\(provider.id)/saml/\(path)"
    }

    /// Tessera's entityID at `provider`.
    package func serviceProviderEntityID(of provider: SAMLProvider) -> String {
        provider.serviceProviderEntityID ?? endpoint(provider, "metadata")
    }

    package func assertionConsumerURL(of provider: SAMLProvider) -> String { endpoint(provider, "acs") }
    package func singleLogoutURL(of provider: SAMLProvider) -> String { endpoint(provider, "slo") }

    /// Tessera's metadata as `provider`'s service provider.
    package func serviceProviderMetadata(of provider: SAMLProvider) -> String {
        saml.serviceProviderMetadata(entityID: serviceProviderEntityID(of: provider), assertionConsumerURL: assertionConsumerURL(of: provider),
                                     logoutURL: singleLogoutURL(of: provider), nameIDFormat: provider.nameIDFormat)
    }

    /// Where the browser of attempt `state` goes to sign in at `provider`: an AuthnRequest with ID
    /// `requestID`, the attempt as RelayState.
    package func samlSignOnURL(provider: SAMLProvider, state: String, requestID: String) async throws(TesseraError) -> String {
        let metadata = try await saml.metadata(of: provider)
        return try saml.signOnURL(metadata: metadata, requestID: requestID, issuer: serviceProviderEntityID(of: provider),
                                  assertionConsumerURL: assertionConsumerURL(of: provider), nameIDFormat: provider.nameIDFormat, relayState: state)
    }

    /// Checks the Response the provider posted for attempt `state` (whose AuthnRequest had ID
    /// `requestID`), takes its assertion once, and gives the subscriber with the grant sealed for
    /// the confirmation form.
    package func acceptSAMLResponse(provider: SAMLProvider, state: String, response: String,
                                    requestID: String) async throws(TesseraError) -> (subject: Subject, sealedGrant: String) {
        let metadata = try await saml.metadata(of: provider)
        let assertion = try saml.verify(response: response, metadata: metadata, audience: serviceProviderEntityID(of: provider),
                                        assertionConsumerURL: assertionConsumerURL(of: provider), requestID: requestID)
        guard let claims = provider.claims.subscriber(from: assertion.attributes) else {
            throw .upstreamLogin(.invalidResponse("the assertion lacks the attribute \(provider.claims.userID)"))
        }
        // Each assertion once (SAML Profiles 4.1.4.5), on every instance.
        let digest = SHA256.hash(data: Data((metadata.entityID + "\u{0}" + assertion.id).utf8)).map { String(format: "%02x", $0) }.joined()
        guard try await claimNonce(tenantID: "saml:" + provider.id, nonce: digest, expiresAt: assertion.notOnOrAfter.addingTimeInterval(SAMLServiceProvider.skew)) else {
            throw .upstreamLogin(.invalidResponse("the assertion was used already"))
        }
        guard let handle = try? JSONEncoder().encode(assertion.subject) else { throw .storageFailure }
        let grant = UpstreamGrant(subjectID: assertion.subject.nameID, providerSessionID: assertion.subject.sessionIndex, claims: claims,
                                  idToken: String(decoding: handle, as: UTF8.self), refreshToken: nil)
        return (Subject(userID: claims.userID, providerID: provider.id), try sealed(grant, state: state))
    }

    /// Where the browser goes to end its session at `provider` (SP-initiated Single Logout): a
    /// LogoutRequest naming `subject` (what the ended session kept), with `back` (tenant and
    /// redirect URL) sealed in the RelayState with the request's ID. Nil when there is nothing to
    /// send (no subject, no Single Logout service).
    package func samlLogoutURL(provider: SAMLProvider, subject: String?, back: (tenantID: String, url: String)?) async throws(TesseraError) -> String? {
        guard let subject, let named = try? JSONDecoder().decode(SAMLSubject.self, from: Data(subject.utf8)) else { return nil }
        let metadata = try await saml.metadata(of: provider)
        let requestID = SAMLServiceProvider.messageID()
        let relayState = back.flatMap { sealedForURL([requestID, $0.tenantID, $0.url].joined(separator: "\n"), .logoutReturn(providerID: provider.id)) }
        return try saml.logoutURL(metadata: metadata, requestID: requestID, issuer: serviceProviderEntityID(of: provider), subject: named,
                                  relayState: relayState)
    }

    /// What a Single Logout message at Tessera's service led to.
    package enum SAMLLogoutOutcome: Sendable, Equatable {
        /// The provider asked: the sessions it named ended; the browser goes on to `url` (the
        /// signed LogoutResponse), or nowhere when the provider has no Single Logout service.
        case answered(url: String?, ended: Int)
        /// The provider answered Tessera's request: on to the programmer's checked redirect URL.
        case returned(url: String?)
    }

    /// A LogoutRequest or LogoutResponse from `provider`'s identity provider. A request ends the
    /// Tessera sessions of its NameID (those of its SessionIndex values, when it names some) in
    /// every tenant and dialect and on every instance, and the programmers hear of it like any
    /// logout (the outbox); it is answered with a signed LogoutResponse carrying its ID and RelayState.
    package func samlLogout(provider: SAMLProvider, binding: SAMLServiceProvider.Binding) async throws(TesseraError) -> SAMLLogoutOutcome {
        let metadata = try await saml.metadata(of: provider)
        let message = try saml.verify(logout: binding, metadata: metadata, destination: singleLogoutURL(of: provider))
        guard message.isRequest else {
            guard let relay = message.relayState, let opened = openedFromURL(relay, .logoutReturn(providerID: provider.id)) else { return .returned(url: nil) }
            let parts = opened.split(separator: "\n", maxSplits: 2).map(String.init)
            guard parts.count == 3, let inResponseTo = message.inResponseTo, OpenIDConnect.constantTimeEqual(inResponseTo, parts[0]),
                  let tenant = directory.tenant(parts[1]), tenant.redirectPolicy.allows(url: parts[2])
            else { return .returned(url: nil) }
            return .returned(url: parts[2])
        }
        guard try await claimNonce(tenantID: "saml-logout:" + provider.id, nonce: SecretDigest(of: metadata.entityID + "\u{0}" + message.id).hex,
                                   expiresAt: clock.now().addingTimeInterval(3600))
        else { throw .upstreamLogin(.invalidResponse("the logout request was used already")) }
        let candidates = try await stored {
            try await logoutDeliveries.upstreamSessions(providerID: provider.id, providerSessionID: nil, subjectID: message.nameID)
        }
        var ended = 0
        for (tenantID, sessionID) in candidates {
            if !message.sessionIndexes.isEmpty {
                let login = try await stored { try await sessions.upstreamLogin(sessionID: sessionID) }
                guard let index = login?.providerSessionID, message.sessionIndexes.contains(index) else { continue }
            }
            ended += try await revoke(SessionSelector(tenantID: tenantID, .id(sessionID))).endedSessions.count
        }
        logger.notice("SAML logout from \(provider.id) ended \(ended) session(s)", metadata: ["event": "saml-logout", "provider": .string(provider.id)])
        let url = try saml.logoutResponseURL(metadata: metadata, issuer: serviceProviderEntityID(of: provider), inResponseTo: message.id,
                                             relayState: message.relayState)
        return .answered(url: url, ended: ended)
    }
}
