import Crypto
import Foundation
import TesseraCore
import TesseraStore

/// Sign-in through an upstream OpenID Connect provider, and decisions from what an upstream
/// provider (OpenID Connect or SAML) said.
///
/// The browser's attempt (its `state`) is the OAuth `state`; the `nonce` and the PKCE verifier
/// are derived from it and the browser's cookie by the front door (an HMAC under the forms'
/// key), so nothing is stored before the provider answers and another browser cannot finish the
/// attempt. What the callback learns (claims, tokens) travels sealed in the confirmation form
/// (``KeySealing/Owner/upstreamAttempt(stateDigest:)``) until the subscriber confirms; then it is
/// stored beside the sessions the login starts (``UpstreamLogin``).
extension Services {
    /// What a provider's callback gave, carried sealed until the subscriber confirms. `idToken`
    /// is what a logout hands back to the provider: an OpenID Connect id_token, or a SAML
    /// provider's ``SAMLSubject`` as JSON.
    package struct UpstreamGrant: Codable, Sendable {
        package var subjectID: String
        package var providerSessionID: String?
        package var claims: UpstreamClaims
        var idToken: String
        var refreshToken: String?
    }

    /// Tessera's callback address at `provider`, as registered there.
    package func redirectURI(of provider: OpenIDProvider) -> String {
        if let configured = provider.redirectURI { return configured }
        let base = configuration.publicBaseURL ?? ""
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/idp/\(provider.id)/callback"
    }

    /// Where the browser of attempt `state` goes to sign in at `provider`.
    package func upstreamAuthorizationURL(provider: OpenIDProvider, state: String, nonce: String, verifier: String) async throws(TesseraError) -> String {
        try await openID.authorizationURL(provider: provider, redirectURI: redirectURI(of: provider), state: state, nonce: nonce, verifier: verifier)
    }

    /// Redeems the provider's code for attempt `state` and checks its id_token: the subscriber it
    /// vouches for, and the grant sealed for the confirmation form.
    package func redeemUpstreamCode(provider: OpenIDProvider, state: String, code: String, nonce: String,
                                    verifier: String) async throws(TesseraError) -> (subject: Subject, sealedGrant: String) {
        guard !code.isEmpty, code.utf8.count <= 2048 else { throw .upstreamLogin(.invalidResponse("the callback has no code")) }
        let tokens = self.tokens
        let answer = try await openID.redeem(code: code, verifier: verifier, redirectURI: redirectURI(of: provider), provider: provider) { audience in
            try await tokens.clientAssertion(clientID: provider.clientID, audience: audience)
        }
        guard let idToken = answer.idToken else { throw .upstreamLogin(.invalidResponse("the token endpoint gave no id_token")) }
        let verified = try await openID.verify(idToken: idToken, provider: provider, nonce: nonce)
        guard let claims = provider.claims.subscriber(from: verified.claims) else {
            throw .upstreamLogin(.invalidResponse("the id_token lacks the claim \(provider.claims.userID)"))
        }
        let grant = UpstreamGrant(subjectID: verified.subject, providerSessionID: verified.sessionID, claims: claims, idToken: idToken,
                                  refreshToken: answer.refreshToken)
        return (Subject(userID: claims.userID, providerID: provider.id), try sealed(grant, state: state))
    }

    /// `grant` sealed for the confirmation form of attempt `state`.
    func sealed(_ grant: UpstreamGrant, state: String) throws(TesseraError) -> String {
        do {
            return try sealing.seal(try JSONEncoder().encode(grant), for: .upstreamAttempt(stateDigest: SecretDigest(of: state).hex)).base64URLEncoded()
        } catch {
            logger.error("cannot seal an upstream grant: \(error)")
            throw .storageFailure
        }
    }

    /// The grant a confirmation form carries for attempt `state`, or nil when it is not one
    /// sealed for that attempt.
    package func openUpstreamGrant(_ sealed: String, state: String) -> UpstreamGrant? {
        guard sealed.utf8.count <= 65_536, let box = Data(lenientBase64: sealed),
              let data = try? sealing.open(box, for: .upstreamAttempt(stateDigest: SecretDigest(of: state).hex))
        else { return nil }
        return try? JSONDecoder().decode(UpstreamGrant.self, from: data)
    }

    /// `grant` as stored beside `sessionID`, its tokens sealed for that session.
    func upstreamLogin(_ grant: UpstreamGrant, providerID: String, sessionID: UUID) throws(TesseraError) -> UpstreamLogin {
        do {
            let idToken = try sealing.seal(Data(grant.idToken.utf8), for: .upstreamToken(sessionID: sessionID, kind: UpstreamLoginCoding.idToken))
            let refresh = try grant.refreshToken.map {
                try sealing.seal(Data($0.utf8), for: .upstreamToken(sessionID: sessionID, kind: UpstreamLoginCoding.refreshToken))
            }
            return UpstreamLogin(sessionID: sessionID, providerID: providerID, subjectID: grant.subjectID,
                                 providerSessionID: grant.providerSessionID, claims: grant.claims, sealedIDToken: idToken, sealedRefreshToken: refresh)
        } catch {
            logger.error("cannot seal upstream tokens: \(error)")
            throw .storageFailure
        }
    }

    /// What the upstream provider said of the subscriber of `session` (nil for a session of
    /// another kind of provider); kept in memory by session id, which is never reused.
    func upstreamClaims(of session: Session) async throws(TesseraError) -> UpstreamClaims? {
        if let held = hot.upstreamClaims.value(for: session.id) { return held }
        guard let login = try await stored({ try await sessions.upstreamLogin(sessionID: session.id) }) else { return nil }
        hot.upstreamClaims.set(session.id, login.claims)
        return login.claims
    }

    /// The provider's answer for `resource` under `session`, for providers that decide from
    /// their subscribers (a directory, an OpenID provider's claims); nil for others.
    func entitlement(session: Session, resource: ResourceRequest) async throws(TesseraError) -> Entitlement? {
        switch directory.providers[session.subject.providerID] {
        case let provider as any EntitlementDeciding:
            return provider.entitlement(for: session.subject, resource: resource)
        case let provider as any UpstreamProvider:
            guard let claims = try await upstreamClaims(of: session) else { return .deny(details: nil) }
            return provider.entitlement(for: claims, resource: resource)
        default:
            return nil
        }
    }

    /// The subscriber's metadata under `session`, with `userID`; nil when its provider keeps none.
    func subscriberMetadata(session: Session) async throws(TesseraError) -> [String: MetadataValue]? {
        switch directory.providers[session.subject.providerID] {
        case let provider as any EntitlementDeciding:
            return provider.metadata(for: session.subject)
        case is any UpstreamProvider:
            return try await upstreamClaims(of: session)?.metadata
        default:
            return nil
        }
    }

    /// The proxy provider a session's provider sits behind (v1 `proxyMvpd`).
    func proxyProviderID(of session: Session) -> String? {
        switch directory.providers[session.subject.providerID] {
        case let provider as any EntitlementDeciding: provider.proxyProviderID
        case let provider as any UpstreamProvider: provider.proxyProviderID
        default: nil
        }
    }
}

/// An upstream provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0).
extension Services {
    /// Ends the sessions a provider's logout token names (by `sid`, else by `sub`), in every
    /// tenant and dialect, and on every instance (``revoke(_:)`` tells the others); each token once.
    /// Returns how many sessions ended.
    package func backchannelLogout(providerID: String, logoutToken: String) async throws(TesseraError) -> Int {
        guard let provider = directory.providers[providerID] as? OpenIDProvider else { throw .unknownIntegration(providerID) }
        let verified = try await openID.verify(logoutToken: logoutToken, provider: provider)
        guard try await claimNonce(tenantID: "oidc-backchannel:" + provider.id, nonce: verified.tokenID,
                                   expiresAt: verified.issuedAt.addingTimeInterval(OpenIDConnect.logoutTokenAge + OpenIDConnect.skew))
        else { throw .upstreamLogin(.invalidResponse("the logout token was used before")) }
        let found = try await stored {
            try await logoutDeliveries.upstreamSessions(providerID: provider.id, providerSessionID: verified.sessionID,
                                                         subjectID: verified.sessionID == nil ? verified.subject : nil)
        }
        var ended = 0
        for (tenantID, sessionID) in found {
            ended += try await revoke(SessionSelector(tenantID: tenantID, .id(sessionID))).endedSessions.count
        }
        logger.notice("back-channel logout from \(provider.id) ended \(ended) session(s)", metadata: ["event": "backchannel-logout", "provider": .string(provider.id)])
        return ended
    }
}

/// A browser sent through an OpenID Connect provider's `end_session_endpoint` (RP-Initiated
/// Logout 1.0) and back to the programmer's checked redirect URL.
extension Services {
    /// Tessera's page the provider sends the browser back to after its logout, as registered there.
    package func postLogoutRedirectURI(of provider: OpenIDProvider) -> String {
        if let configured = provider.postLogoutRedirectURI { return configured }
        let base = configuration.publicBaseURL ?? ""
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/idp/\(provider.id)/logged-out"
    }

    /// `value` sealed for a URL of `owner`'s (base64url), nil when it cannot be.
    package func sealedForURL(_ value: String, _ owner: KeySealing.Owner) -> String? {
        (try? sealing.seal(Data(value.utf8), for: owner))?.base64URLEncoded()
    }

    /// What ``sealedForURL(_:_:)`` sealed for `owner`; nil for anything else.
    package func openedFromURL(_ sealed: String, _ owner: KeySealing.Owner) -> String? {
        guard sealed.utf8.count <= 16_384, let box = Data(lenientBase64: sealed), let opened = try? sealing.open(box, for: owner) else { return nil }
        return String(decoding: opened, as: UTF8.self)
    }

    /// The provider's end-session URL for this browser: `id_token_hint` when the ended session's
    /// id_token is known, `client_id`, and, with `returnState`, Tessera's return page and the state
    /// that names where to go from there. Nil when the provider has no `end_session_endpoint`.
    package func upstreamEndSessionURL(provider: OpenIDProvider, idTokenHint: String?, returnState: String?) async throws(TesseraError) -> String? {
        guard let endpoint = try await openID.discovery(of: provider).endSessionEndpoint, var components = URLComponents(string: endpoint) else {
            return nil
        }
        var items = components.queryItems ?? []
        if let idTokenHint { items.append(URLQueryItem(name: "id_token_hint", value: idTokenHint)) }
        items.append(URLQueryItem(name: "client_id", value: provider.clientID))
        if let returnState {
            items.append(URLQueryItem(name: "post_logout_redirect_uri", value: postLogoutRedirectURI(of: provider)))
            items.append(URLQueryItem(name: "state", value: returnState))
        }
        components.queryItems = items
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.string
    }
}
