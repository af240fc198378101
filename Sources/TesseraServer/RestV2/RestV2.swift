import Foundation
import HTTPTypes
import Hummingbird
import TesseraCore
import TesseraServices

/// The Adobe Pass REST API v2 front door: configuration, sessions, profiles, decisions and
/// logout under `/api/v2/{serviceProvider}/…`, JSON only.
///
/// Every handler goes through ``respond(_:_:serviceProvider:_:)``: `Accept`, the tenant, the DCR
/// bearer and the application it speaks for, then the handler, then any ``TesseraError`` in
/// v2's enhanced error shape (``V2Errors``). The device's headers are read by the calls that
/// take them (``Call/device()``, ``Call/identities()``).
struct RestV2: Sendable {
    let services: Services
    let pages: Pages
    /// `profiles/{mvpd}` answers as encoded, by session id, for profiles whose answer is fixed
    /// for their life (not a TempPass, whose remaining resources change): JSON encoding was a
    /// fifth of that read's CPU. A session id is never reused and the profile is looked up
    /// (coherently) before this is consulted, so an ended session's entry is never answered.
    let encodedProfiles: BoundedCache<UUID, Data>

    init(services: Services, pages: Pages) {
        self.services = services
        self.pages = pages
        encodedProfiles = BoundedCache(capacity: services.configuration.cacheCapacity.sessions)
    }

    /// One v2 call, authenticated.
    struct Call: Sendable {
        let request: Request
        let context: TesseraRequestContext
        let tenant: Tenant
        /// The software statement of the calling client: profiles belong to it.
        let applicationID: String
        let services: Services

        var clientAddress: String {
            services.configuration.trustedProxies.clientAddress(peer: context.peerAddress, forwardedFor: request.headers.value(.forwardedFor))
        }

        /// `AP-Device-Identifier` (`fingerprint <base64>`) and `X-Device-Info`.
        func device(required: Bool = true) throws(TesseraError) -> (key: DeviceKey, description: DeviceDescription)? {
            guard let header = request.headers.value(.deviceIdentifier), !header.isEmpty else {
                if required { throw .invalidParameter(.deviceID, .missing) }
                return nil
            }
            let deviceID = try DeviceIdentifier.parse(header)
            var info: DeviceInfo?
            if let value = request.headers.value(.deviceInfo), !value.isEmpty {
                info = try DeviceInfo(encoded: value)
            } else if tenant.policies.requireDeviceInfo {
                throw .invalidDeviceInfo("device information is missing")
            }
            let description = DeviceDescription(deviceInfoJSON: info?.json, userAgent: request.headers.value(.userAgent).map { String($0.prefix(512)) },
                                                clientAddress: clientAddress)
            return (DeviceKey(tenantID: tenant.id, deviceID: deviceID), description)
        }

        /// The identities the SSO headers vouch for: `Adobe-Subject-Token` (or Roku's
        /// `X-Roku-Reserved-Roku-Connect-Token`) and `AD-Service-Token`.
        func identities() async throws(TesseraError) -> [SingleSignOnIdentity] {
            let platform = request.headers.value(.subjectToken) ?? request.headers.value(.rokuConnectToken)
            let service = request.headers.value(.serviceToken)
            guard platform != nil || service != nil else { return [] }
            return try await services.singleSignOnIdentities(tenant: tenant, platformToken: platform, serviceToken: service)
        }

        /// `AP-TempPass-Identity`: Base64 of a JSON object such as `{"email":"…"}`; nil when absent.
        func temporaryAccessIdentity() throws(TesseraError) -> String? {
            guard let header = request.headers.value(.tempPassIdentity), !header.isEmpty else { return nil }
            guard header.utf8.count <= 2048, let data = Data(lenientBase64: header) else { throw .invalidTemporaryAccessIdentity }
            return try GenericData.identity(String(decoding: data, as: UTF8.self))
        }
    }

    func addRoutes(to routes: Routes, throttle: ThrottleMiddleware) {
        let router = routes.group().add(middleware: throttle)
        addConfigurationRoutes(to: router)
        addSessionRoutes(to: router)
        addProfileRoutes(to: router)
        addDecisionRoutes(to: router)
        addLogoutRoutes(to: router)
        addPartnerRoutes(to: router)
        addTempPassResetRoutes(to: router)
    }

    /// Runs a v2 call: `Accept`, the tenant of the path, the bearer (of that tenant), the handler;
    /// errors in v2's shape. Every answer is `no-store`.
    func respond(_ request: Request, _ context: TesseraRequestContext, serviceProvider: String?,
                 _ handler: (Call) async throws(TesseraError) -> Response) async -> Response {
        do throws(TesseraError) {
            guard Self.acceptsJSON(request.headers.value(.accept)) else { throw TesseraError.notAcceptable }
            let tenant = try services.tenant(serviceProvider)
            guard let header = request.headers.value(.authorization), !header.isEmpty else { throw TesseraError.missingCredentials }
            guard header.utf8.count <= 8192, let token = ClientlessV1.bearerToken(header) else {
                throw TesseraError.invalidAccessToken("the Authorization header is not a bearer token")
            }
            let claims = try await services.verifyBearer(token)
            guard claims.requestor == tenant.id else { throw TesseraError.accessTokenForAnotherTenant }
            let call = Call(request: request, context: context, tenant: tenant, applicationID: try await services.applicationID(of: claims),
                            services: services)
            var response = try await handler(call)
            response.headers[.cacheControl] = "no-store"
            return response
        } catch {
            if case .invalidAccessToken(let why) = error {
                services.logger.notice("security: credential refused: \(why)", metadata: ["event": "credential-refused", "door": "rest-v2"])
            }
            var response = V2Errors.response(error, helpURL: services.configuration.helpURL, trace: context.requestID)
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }

    /// Whether `Accept` allows JSON: absent, `*/*`, `application/*` or `application/json`
    /// (parameters and quality values aside; a quality of 0 refuses).
    static func acceptsJSON(_ accept: String?) -> Bool {
        guard let accept, !accept.isEmpty, accept != "application/json" else { return true }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.filter { $0 != " " }.lowercased() }
            guard let type = parts.first, ["*/*", "application/*", "application/json"].contains(type) else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if quality > 0 { return true }
        }
        return false
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// A JSON answer in v2's content type.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        json(encoded: (try? encoder.encode(value)) ?? Data("{}".utf8), status: status)
    }

    static func json(encoded data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json;charset=UTF-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Epoch milliseconds as v2 writes them in sessions (strings) and elsewhere (numbers).
    static func milliseconds(_ date: Date) -> Int64 { date.epochMilliseconds }
}

/// `AP-Device-Identifier`: `fingerprint <base64 of a stable device id>` (the only type there is).
/// The device is the decoded id when it is printable text, so a device that sends the same id to
/// v1 (`deviceId`) and v2 is one device with one TempPass trial; else the Base64 text as sent.
enum DeviceIdentifier {
    static func parse(_ header: String) throws(TesseraError) -> String {
        guard header.utf8.count <= 1024 else { throw .invalidParameter(.deviceID, .tooLong) }
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "fingerprint", let data = Data(lenientBase64: parts[1]),
              (1...512).contains(data.count)
        else { throw .invalidParameter(.deviceID, .malformed) }
        if let text = String(data: data, encoding: .utf8), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
            return text
        }
        return String(parts[1])
    }
}

extension HTTPField.Name {
    static let deviceIdentifier = HTTPField.Name("AP-Device-Identifier")!
    static let subjectToken = HTTPField.Name("Adobe-Subject-Token")!
    static let rokuConnectToken = HTTPField.Name("X-Roku-Reserved-Roku-Connect-Token")!
    static let serviceToken = HTTPField.Name("AD-Service-Token")!
    static let tempPassIdentity = HTTPField.Name("AP-TempPass-Identity")!
    static let partnerFrameworkStatus = HTTPField.Name("AP-Partner-Framework-Status")!
}
