import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// The Adobe Pass REST API v1 ("clientless") front door.
///
/// Every handler goes through ``respond(_:_:requestor:shortPath:authenticate:_:)``, which
/// negotiates JSON or XML, parses the parameters, authenticates the caller, and renders any
/// ``TesseraError`` in v1's error shape.
/// The group every v1 route is added to.
typealias V1Routes = RouterGroup<TesseraRequestContext>

struct ClientlessV1: Sendable {
    let services: Services
    /// The JSON authN token of a session as encoded, by session id: everything in it (expiry,
    /// user, provider, requestor) is fixed for the session's life, a session id is never reused,
    /// and the session is looked up (coherently, so never an ended one) before this is consulted.
    /// JSONEncoder was the costliest step of checkauthn's own work.
    let encodedAuthentications: BoundedCache<UUID, Data>

    init(services: Services) {
        self.services = services
        encodedAuthentications = BoundedCache(capacity: services.configuration.cacheCapacity.sessions)
    }

    /// One v1 call, parsed.
    struct Call: Sendable {
        let request: Request
        let parameters: RequestParameters
        let format: ResponseFormat
        let tenant: Tenant
        let context: TesseraRequestContext
        let trustedProxies: TrustedProxies

        /// The client's address (see ``TrustedProxies``), worked out only by the calls that use it.
        var clientAddress: String {
            trustedProxies.clientAddress(peer: context.peerAddress, forwardedFor: request.headers.value(.forwardedFor))
        }

        /// `deviceId`, `device_info` / `X-Device-Info` and the deprecated descriptors.
        func device() throws(TesseraError) -> (key: DeviceKey, description: DeviceDescription) {
            let deviceID = try parameters.required(.deviceID, maxLength: 512)
            var info: DeviceInfo?
            if let header = request.headers.value(.deviceInfo), !header.isEmpty {
                info = try DeviceInfo(encoded: header)
            } else if let value = parameters["device_info"], !value.isEmpty {
                info = try DeviceInfo(encoded: value)
            } else if tenant.policies.requireDeviceInfo {
                throw .invalidDeviceInfo("device information is missing")
            }
            let description = DeviceDescription(
                deviceInfoJSON: info?.json,
                deviceType: try parameters.optional(.deviceType),
                deviceUser: try parameters.optional(.deviceUser),
                appID: try parameters.optional(.appID),
                userAgent: request.headers.value(.userAgent).map { String($0.prefix(512)) })
            return (DeviceKey(tenantID: tenant.id, deviceID: deviceID), description)
        }
    }

    /// v1's routes, in a group of their own behind Adobe's throttling (``ThrottleMiddleware``,
    /// shared with DCR). Its `.json` / `.xml` path suffixes are read before routing
    /// (``FormatSuffixResponder``), for v1's paths only.
    func addRoutes(to routes: Routes, throttle: ThrottleMiddleware) {
        let router = routes.group().add(middleware: throttle)
        addRegistrationCodeRoutes(to: router)
        addConfigurationRoutes(to: router)
        addAuthenticationRoutes(to: router)
        addTokenRoutes(to: router)
        addAuthorizationRoutes(to: router)
        addLogoutRoutes(to: router)
    }

    /// The format a caller asked for: a path suffix, else `format=`, else `Accept`, else XML.
    static func format(request: Request, context: TesseraRequestContext, parameters: RequestParameters?) -> ResponseFormat {
        if let suffix = context.suffixFormat { return suffix }
        switch parameters?["format"]?.lowercased() {
        case "json": return .json
        case "xml": return .xml
        default: break
        }
        let accept = request.headers.value(.accept) ?? ""
        if Self.contains(accept, "application/json") && !Self.contains(accept, "xml") { return .json }
        return .xml
    }

    /// Whether `text` contains the lowercase ASCII `word`, ignoring case. A plain byte loop: both
    /// Foundation's and the generic collection search cost more than the rest of a cached read.
    static func contains(_ text: String, _ word: StaticString) -> Bool {
        let needle = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        var haystack = text
        return haystack.withUTF8 { bytes in
            guard bytes.count >= needle.count, let first = needle.first else { return false }
            for start in 0...(bytes.count - needle.count) where bytes[start] | 0x20 == first {
                var offset = 1
                while offset < needle.count, bytes[start + offset] | 0x20 == needle[offset] { offset += 1 }
                if offset == needle.count { return true }
            }
            return false
        }
    }

    func respond(
        _ request: Request, _ context: TesseraRequestContext, requestor: String?, shortPath: String, authenticate: Bool = true,
        endpoint: V1Endpoint = .standard, _ handler: (Call) async throws(TesseraError) -> Response
    ) async -> Response {
        // Until the parameters are read (they may be the problem), Accept and the suffix decide.
        var format = Self.format(request: request, context: context, parameters: nil)
        do {
            let parameters = try await RequestParameters(request)
            format = Self.format(request: request, context: context, parameters: parameters)
            // The tenant the request names; when it names none, the one its credential is for.
            // When both are there and differ, authentication refuses the call.
            let named = requestor ?? parameters["requestor"] ?? parameters["requestor_id"]
            let tenant = try services.tenant(named ?? (authenticate ? Self.claimedTenantID(
                authorization: request.headers.value(.authorization), tokens: services.tokens) : nil))
            let call = Call(request: request, parameters: parameters, format: format, tenant: tenant, context: context,
                            trustedProxies: services.configuration.trustedProxies)
            if authenticate { try await authenticateCaller(call, shortPath: shortPath) }
            var response = try await handler(call)
            // Tokens, codes and decisions: no v1 answer may be kept by a cache or a proxy.
            response.headers[.cacheControl] = "no-store"
            return response
        } catch {
            var response = V1Rendering.error(error, endpoint: endpoint, format: format, helpURL: services.configuration.helpURL, trace: context.requestID)
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }
}
