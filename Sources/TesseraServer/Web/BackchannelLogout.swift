import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// `POST /idp/{provider}/backchannel-logout`: an OpenID Connect provider's back-channel logout
/// (Back-Channel Logout 1.0, 2.5). Not a page: the provider posts a `logout_token` form field and
/// reads the status, 200 when the token held (whether or not any session ended), 400 with an
/// OAuth error body when it did not.
struct BackchannelLogout: Sendable {
    let services: Services

    func addRoutes(to router: Routes) {
        router.post("/idp/:provider/backchannel-logout") { request, context in
            let providerID = context.parameters.get("provider") ?? ""
            do {
                let form = try await RequestParameters(request)
                guard let token = form["logout_token"], !token.isEmpty else {
                    return Self.error("invalid_request", "the logout_token parameter is missing", status: .badRequest)
                }
                try await services.counted(.logout, dialect: "oidc-backchannel") { () async throws(TesseraError) in
                    _ = try await services.backchannelLogout(providerID: providerID, logoutToken: token)
                }
                return Response(status: .ok, headers: [.cacheControl: "no-store"])
            } catch let error as TesseraError {
                switch error {
                case .storageFailure: return Self.error("temporarily_unavailable", "the logout could not be stored", status: .internalServerError)
                case .upstreamLogin(.unavailable): return Self.error("temporarily_unavailable", "the provider's keys could not be read", status: .serviceUnavailable)
                case .unknownIntegration: return Self.error("invalid_request", "no OpenID Connect provider \(providerID)", status: .badRequest)
                case .payloadTooLarge: return Self.error("invalid_request", "the request is too large", status: .contentTooLarge)
                default: return Self.error("invalid_request", error.description, status: .badRequest)
                }
            } catch {
                return Self.error("invalid_request", "the request is malformed", status: .badRequest)
            }
        }
    }

    /// An OAuth error body.
    static func error(_ code: String, _ description: String, status: HTTPResponse.Status) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: ["error": code, "error_description": description], options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
