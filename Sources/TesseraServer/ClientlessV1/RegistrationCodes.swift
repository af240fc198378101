import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `POST /reggie/v1/{requestor}/regcode`, `GET` and `DELETE …/regcode/{code}`.
extension ClientlessV1 {
    /// The registration record, in the current JSON shape and the `ns2:regcode` XML shape.
    struct RegistrationRecord: Encodable {
        let id: String
        let code: String
        let requestor: String
        let mvpd: String?
        let generated: Int64
        let expires: Int64
        let info: Info

        struct Info: Encodable {
            let deviceId: String
            let deviceInfo: String?
            let deviceType: String?
            let deviceUser: String?
            let appId: String?
            let userAgent: String?
            let originalUserAgent: String?
            let authorizationType: String
        }

        init(code: String, login: PendingLogin) {
            id = login.id.uuidString.lowercased()
            self.code = code
            requestor = login.device.tenantID
            mvpd = login.providerID
            generated = login.createdAt.epochMilliseconds
            expires = login.expiresAt.epochMilliseconds
            let d = login.description
            info = Info(
                deviceId: Data(login.device.deviceID.utf8).base64EncodedString(),
                deviceInfo: d.deviceInfoJSON.map { Data($0.utf8).base64EncodedString() },
                deviceType: d.deviceType, deviceUser: d.deviceUser, appId: d.appID,
                userAgent: d.userAgent, originalUserAgent: d.userAgent, authorizationType: "OAUTH2")
        }
    }

    static let regcodeNamespace = ["xmlns:ns2": "model.mvc.reggie.pass.adobe.com"]

    func addRegistrationCodeRoutes(to router: V1Routes) {
        router.post("/reggie/v1/:requestor/regcode") { request, context in
            await respond(request, context, requestor: context.parameters.get("requestor"), shortPath: "/regcode",
                          endpoint: V1Endpoint(providerParameter: "mvpd")) { call throws(TesseraError) in
                let (device, described) = try call.device()
                var description = described
                description.clientAddress = call.clientAddress
                let provider = try call.parameters.optional("mvpd", parameter: .provider, maxLength: 128)
                var ttl: TimeInterval?
                if let raw = try call.parameters.optional(.ttl, maxLength: 12) {
                    guard let seconds = Int(raw) else { throw .invalidParameter(.ttl, .malformed) }
                    ttl = TimeInterval(seconds)
                }
                let issued = try await services.createPendingLogin(
                    tenant: call.tenant, deviceID: device.deviceID, providerID: provider, description: description, ttl: ttl)
                return V1Rendering.response(RegistrationRecord(code: issued.code, login: issued.login), root: "ns2:regcode",
                                            rootAttributes: Self.regcodeNamespace, format: call.format, status: .created)
            }
        }
        router.get("/reggie/v1/:requestor/regcode/:code") { request, context in
            await respond(request, context, requestor: context.parameters.get("requestor"), shortPath: "/regcode",
                          endpoint: V1Endpoint(providerParameter: "mvpd")) { call throws(TesseraError) in
                let (code, login) = try await services.pendingLogin(tenant: call.tenant, code: context.parameters.get("code") ?? "")
                return V1Rendering.response(RegistrationRecord(code: code, login: login), root: "ns2:regcode",
                                            rootAttributes: Self.regcodeNamespace, format: call.format)
            }
        }
        router.delete("/reggie/v1/:requestor/regcode/:code") { request, context in
            await respond(request, context, requestor: context.parameters.get("requestor"), shortPath: "/regcode",
                          endpoint: V1Endpoint(providerParameter: "mvpd")) { call throws(TesseraError) in
                try await services.deletePendingLogin(tenant: call.tenant, code: context.parameters.get("code") ?? "")
                return Response(status: .noContent)
            }
        }
    }
}
