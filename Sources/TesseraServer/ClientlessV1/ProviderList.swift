import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// `GET /api/v1/config/{requestor}`: the providers a tenant is integrated with.
///
/// Adobe documents only "the /config servlet XML" with `<mvpd>` elements (id, displayName,
/// logoUrl, iFrameRequired, iFrameWidth, iFrameHeight); the JSON wrapper is inferred as
/// `{"requestor":{"id","name","mvpds":{"mvpd":[…]}}}` and the XML root is `<config>`.
extension ClientlessV1 {
    struct ProviderList: Encodable {
        let requestor: RequestorEntry
    }

    struct RequestorEntry: Encodable {
        let id: String
        let name: String
        let mvpds: Providers
    }

    struct Providers: Encodable {
        let mvpd: [ProviderEntry]
    }

    struct ProviderEntry: Encodable {
        let id: String
        let displayName: String
        let logoUrl: String?
        let iFrameRequired: Bool
        let iFrameWidth: Int?
        let iFrameHeight: Int?
    }

    func addConfigurationRoutes(to router: V1Routes) {
        router.get("/api/v1/config/:requestor") { request, context in
            await respond(request, context, requestor: context.parameters.get("requestor"), shortPath: "/config") { call throws(TesseraError) in
                let providers = call.tenant.providerIDs.compactMap { services.directory.provider($0, for: call.tenant) }.map {
                    ProviderEntry(id: $0.id, displayName: $0.displayName, logoUrl: $0.logoURL, iFrameRequired: false, iFrameWidth: nil, iFrameHeight: nil)
                }
                let list = ProviderList(requestor: RequestorEntry(id: call.tenant.id, name: call.tenant.name, mvpds: Providers(mvpd: providers)))
                return V1Rendering.response(list, root: "config", format: call.format)
            }
        }
    }
}
