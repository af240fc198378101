import Crypto
import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// What keeps another site from submitting Tessera's forms (RFC 8628 §5.4, device-code
/// phishing, and plain CSRF): every form carries a token bound to the browser, and every POST
/// checks that token and the `Origin` header.
///
/// The browser is known by a random cookie (`tessera_browser`, HttpOnly, SameSite=Lax) set on
/// the first page that shows a form. A form's token is an HMAC, under a key every instance
/// shares, of what the form is for and that cookie; a page of another site can neither read
/// the cookie nor compute the token. Nothing is stored.
///
/// ```swift
/// let browser = forms.browser(of: request)            // the cookie, or a new one to set
/// let token = forms.token(.activation, browser: browser.id)
/// // … on POST:
/// try forms.check(request, form: form, purpose: .activation)
/// ```
struct BrowserForms: Sendable {
    static let cookieName = "tessera_browser"
    static let tokenField = "csrf"
    let key: SymmetricKey
    /// `https://auth.example.com` when `public_base_url` is https: cookies get `Secure` and
    /// `Origin` must be this one.
    let publicOrigin: String?

    init(key: SymmetricKey, publicBaseURL: String?) {
        self.key = key
        publicOrigin = publicBaseURL.flatMap(Self.origin(of:))
    }

    /// What a form does; a token for one purpose is worthless for another.
    enum Purpose: Sendable, Equatable {
        /// `POST /activate`: begin a sign-in with a code.
        case activation
        /// `POST /idp/{provider}/login`: a password for the attempt `state`.
        case providerLogin(state: String)
        /// `POST /idp/{provider}/confirm`: complete the code of `state` as `userID`.
        case confirmation(state: String, providerID: String, userID: String)
        /// `POST /idp/{provider}/logout`.
        case providerLogout(providerID: String)
        /// Not a form: the OpenID Connect `nonce` and PKCE verifier of the attempt `state` in this
        /// browser (``token(_:browser:)`` of these, so nothing is stored and only this browser's
        /// callback can finish the attempt).
        case upstreamNonce(state: String, providerID: String)
        /// A SAML AuthnRequest's ID (the Response's InResponseTo).
        case samlRequest(state: String, providerID: String)
        case upstreamVerifier(state: String, providerID: String)

        var text: String {
            switch self {
            case .activation: "activation"
            case .providerLogin(let state): "login\u{0}\(state)"
            case .confirmation(let state, let provider, let user): "confirm\u{0}\(state)\u{0}\(provider)\u{0}\(user)"
            case .providerLogout(let provider): "logout\u{0}\(provider)"
            case .upstreamNonce(let state, let provider): "oidc-nonce\u{0}\(state)\u{0}\(provider)"
            case .samlRequest(let state, let provider): "saml-request\u{0}\(state)\u{0}\(provider)"
            case .upstreamVerifier(let state, let provider): "oidc-pkce\u{0}\(state)\u{0}\(provider)"
            }
        }
    }

    /// The browser's id, and the `Set-Cookie` to send when it had none.
    struct Browser {
        let id: String
        let setCookie: String?
    }

    func browser(of request: Request) -> Browser {
        if let id = Self.cookie(Self.cookieName, in: request) { return Browser(id: id, setCookie: nil) }
        let id = Secret.generate()
        return Browser(id: id, setCookie: "\(Self.cookieName)=\(id); Path=/; HttpOnly; SameSite=Lax\(cookieSuffix)")
    }

    /// `; Secure` when Tessera is served over https.
    var cookieSuffix: String { publicOrigin?.hasPrefix("https://") == true ? "; Secure" : "" }

    func token(_ purpose: Purpose, browser: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data((purpose.text + "\u{0}" + browser).utf8), using: key)).base64URLEncoded()
    }

    /// Why a form submission is refused; nil when it may go on.
    enum Refusal: String, Error {
        case foreignOrigin = "the form was sent from another site"
        case missingToken = "the form has no token or the browser no cookie"
        case wrongToken = "the form's token is not this browser's"
    }

    func check(_ request: Request, form: RequestParameters, purpose: Purpose) -> Refusal? {
        guard sameOrigin(request) else { return .foreignOrigin }
        guard let browser = Self.cookie(Self.cookieName, in: request), let sent = form[Self.tokenField],
              let mac = Data(lenientBase64: sent) else { return .missingToken }
        let valid = HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data((purpose.text + "\u{0}" + browser).utf8), using: key)
        return valid ? nil : .wrongToken
    }

    /// Whether the request comes from Tessera's own pages: `Sec-Fetch-Site` is not cross-site,
    /// and `Origin`, when sent, is Tessera's (`public_base_url`, else the `Host` it was sent to).
    /// Without either header (older browsers) the token alone decides.
    func sameOrigin(_ request: Request) -> Bool {
        if let site = request.headers.value(.secFetchSite)?.lowercased(), site == "cross-site" { return false }
        guard let origin = request.headers.value(.origin) else { return true }
        guard let sent = Self.origin(of: origin) else { return false } // "null" (sandboxed or privacy-hidden) included
        if let publicOrigin { return sent == publicOrigin }
        guard let host = request.head.authority?.lowercased() else { return false }
        return sent == "http://\(host)" || sent == "https://\(host)"
    }

    /// `scheme://host[:port]` of a URL, lower-cased, default ports dropped.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host?.lowercased(), !host.isEmpty else { return nil }
        let port = components.port.flatMap { (scheme == "http" && $0 == 80) || (scheme == "https" && $0 == 443) ? nil : $0 }
        return "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "")
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        guard let header = request.headers.value(.cookie) else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == name, pair[1].count <= 128 { return String(pair[1]) }
        }
        return nil
    }
}
