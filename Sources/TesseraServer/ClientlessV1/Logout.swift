import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `DELETE /api/v1/logout` (and `GET`, which the v2 FAQ lists and older clients send):
/// 204 with no body once the device's authentication and every authorization under it are
/// durably gone. The provider is not contacted.
extension ClientlessV1 {
    func addLogoutRoutes(to router: V1Routes) {
        let handler: @Sendable (Request, TesseraRequestContext) async -> Response = { request, context in
            await respond(request, context, requestor: nil, shortPath: "/logout") { call throws(TesseraError) in
                let (device, _) = try call.device()
                _ = try await services.counted(.logout, dialect: "clientless-v1") { () async throws(TesseraError) in
                    try await services.logout(device: device)
                }
                return Response(status: .noContent)
            }
        }
        router.delete("/api/v1/logout", use: handler)
        router.get("/api/v1/logout", use: handler)
    }
}
