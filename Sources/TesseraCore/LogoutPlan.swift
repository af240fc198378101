import Foundation

/// What a logout did and what must follow it, one step per ended session. Every dialect's
/// logout renders this one plan: v1 as a bare 204, REST v2 as its `logouts` list with an
/// action per profile.
///
/// A logout is always: select sessions (``SessionSelector``), revoke them with everything under
/// them in one durable transaction, then decide each ended session's follow-up here.
public struct LogoutPlan: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        public var session: Session
        public var followUp: FollowUp

        public init(session: Session, followUp: FollowUp) {
            self.session = session
            self.followUp = followUp
        }
    }

    /// What the caller should do after a session ended.
    public enum FollowUp: Sendable, Equatable {
        /// Open the provider's logout page, which ends its own browser session.
        case providerLogoutPage(providerID: String)
        /// The session came from a partner's single sign-on (Apple's): the partner's framework
        /// must sign out on the device.
        case partnerLogout(providerID: String)
        /// Nothing else to do.
        case complete
        /// The session named a provider the tenant no longer has: nothing can follow.
        case invalid
    }

    public var steps: [Step]
    /// The id_token of each ended session that came from an OpenID Connect provider, when the
    /// caller asked for them (a browser will be sent through the provider's `end_session_endpoint`
    /// with it as `id_token_hint`).
    public var idTokens: [UUID: String] = [:]

    public init(steps: [Step]) { self.steps = steps }

    /// The plan for sessions a revoke ended, with each provider's capabilities as `provider`
    /// finds them (nil: the provider is gone).
    public init(ended: [Session], provider: (String) -> (any IdentityProvider)?) {
        steps = ended.map { session in
            Step(session: session, followUp: Self.followUp(for: session, provider: provider(session.subject.providerID)))
        }
    }

    public static func followUp(for session: Session, provider: (any IdentityProvider)?) -> FollowUp {
        guard let provider else { return .invalid }
        // A partner's profile (Apple's: the app's own, or shared): the subscriber signs out in the partner's settings.
        if SSOKey.scheme(of: session.ssoKey) == .partner {
            return .partnerLogout(providerID: provider.id)
        }
        // Nobody signed in at the provider under degradation or on a TempPass: nothing to end there.
        if DegradationRule.isDegraded(session.subject) || session.trialID != nil { return .complete }
        return provider.hasLogoutEndpoint ? .providerLogoutPage(providerID: provider.id) : .complete
    }

    public var endedSessions: [Session] { steps.map(\.session) }
}

/// How an SSO profile's key is written: `scheme:value`, so that one column holds the keys of
/// every SSO kind and none can be mistaken for another's.
public enum SSOKey {
    public enum Scheme: String, Sendable, CaseIterable {
        /// A platform identity shared by a vendor's apps (Adobe: platformSSO).
        case platform
        /// A service token a second app presents (Adobe: serviceTokenSSO).
        case serviceToken = "service"
        /// A partner's single sign-on (Adobe: Apple SSO).
        case partner
    }

    public static func make(_ scheme: Scheme, _ value: String) -> String { scheme.rawValue + ":" + value }

    public static func scheme(of key: String?) -> Scheme? {
        guard let key, let colon = key.firstIndex(of: ":") else { return nil }
        return Scheme(rawValue: String(key[..<colon]))
    }
}
