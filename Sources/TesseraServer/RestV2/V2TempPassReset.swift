import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// Adobe's TempPass reset API (adobe-pass.md 10.1), with the DCR bearer of the requestor's
/// programmer: `DELETE /reset-tempass/v3/reset?requestor_id=&mvpd_id=&device_id=<id|all>` and
/// `DELETE /reset-tempass/v3/reset/generic?requestor_id=&mvpd_id=&key=all`. 204 when done; errors
/// in v2's shape.
///
/// A promotional trial is found by a digest of the tenant, the provider and the identity, never
/// by the identity alone, so `generic` takes `key=all` (every promotional trial of the provider)
/// and refuses a hash of one identity with `invalid_request`; reset that device instead.
extension RestV2 {
    func addTempPassResetRoutes(to router: V1Routes) {
        router.delete("/reset-tempass/v3/reset") { request, context in
            let parameters = RequestParameters(query: request.uri.query)
            return await respond(request, context, serviceProvider: parameters["requestor_id"]) { call throws(TesseraError) in
                let providerID = try Self.resetProvider(parameters)
                guard let device = parameters["device_id"], !device.isEmpty, device.utf8.count <= 512 else {
                    throw .malformedRequest("device_id is missing: give a device id or all")
                }
                _ = try await services.resetTemporaryAccess(tenant: call.tenant, providerID: providerID,
                                                            deviceID: device == "all" ? nil : device, promotionalOnly: false)
                return Response(status: .noContent, headers: [.cacheControl: "no-store"])
            }
        }
        router.delete("/reset-tempass/v3/reset/generic") { request, context in
            let parameters = RequestParameters(query: request.uri.query)
            return await respond(request, context, serviceProvider: parameters["requestor_id"]) { call throws(TesseraError) in
                let providerID = try Self.resetProvider(parameters)
                guard let key = parameters["key"], !key.isEmpty else { throw .malformedRequest("key is missing: give all") }
                guard key == "all" else {
                    throw .malformedRequest("Tessera keeps no identity's hash on its own: reset by key=all, or reset the device")
                }
                _ = try await services.resetTemporaryAccess(tenant: call.tenant, providerID: providerID, deviceID: nil, promotionalOnly: true)
                return Response(status: .noContent, headers: [.cacheControl: "no-store"])
            }
        }
    }

    static func resetProvider(_ parameters: RequestParameters) throws(TesseraError) -> String {
        guard let provider = parameters["mvpd_id"], !provider.isEmpty, provider.utf8.count <= 128 else {
            throw .invalidParameter(.provider, .missing)
        }
        return provider
    }
}
