import Crypto
import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// Who may call v1: an application with a DCR access token (`Authorization: Bearer …`), or an
/// older client with the legacy signed header:
///
/// `GET requestor_id=REF30, nonce=<uuid>, signature_method=HMAC-SHA1, request_time=<ms>,
///  request_uri=/checkauthn, public_key=<key>, signature=<b64 HMAC-SHA1 of the text before ", public_key">`
extension ClientlessV1 {
    /// How far a signed request's `request_time` may be from now.
    static let legacyClockSkew: TimeInterval = 300

    func authenticateCaller(_ call: Call, shortPath: String) async throws(TesseraError) {
        do { try await checkCredential(call, shortPath: shortPath) } catch {
            switch error {
            case .invalidAccessToken(let why), .invalidLegacySignature(let why):
                // A forged, expired or replayed credential: a security event, with why and never the credential.
                services.logger.notice("security: credential refused: \(why)", metadata: [
                    "event": "credential-refused", "tenant": .string(call.tenant.id), "client": .string(call.clientAddress)])
            case .accessTokenForAnotherTenant:
                services.logger.notice("security: credential of another tenant", metadata: [
                    "event": "credential-refused", "tenant": .string(call.tenant.id), "client": .string(call.clientAddress)])
            default: break
            }
            throw error
        }
    }

    private func checkCredential(_ call: Call, shortPath: String) async throws(TesseraError) {
        guard let header = call.request.headers.value(.authorization), !header.isEmpty else { throw .missingCredentials }
        guard header.hasAtMost(8192) else { throw .invalidAccessToken("the Authorization header is too long") }
        if let token = Self.bearerToken(header) {
            let claims = try await services.verifyBearer(token)
            guard claims.requestor == call.tenant.id else { throw .accessTokenForAnotherTenant }
        } else {
            try await verifyLegacySignature(header, call: call, shortPath: shortPath)
        }
    }

    /// The token of `Bearer <token>` (scheme case-insensitive, spaces around the token ignored).
    /// Cheap on purpose: this runs on every call, and Foundation's trimming costs more than the
    /// rest of a cached read.
    static func bearerToken(_ header: String) -> String? {
        let scheme = header.utf8.prefix(7)
        guard scheme.count == 7, scheme.lazy.map({ $0 | 0x20 }).elementsEqual("bearer ".utf8) else { return nil }
        var token = header.utf8.dropFirst(7)
        while token.first == UInt8(ascii: " ") || token.first == UInt8(ascii: "\t") { token = token.dropFirst() }
        while token.last == UInt8(ascii: " ") || token.last == UInt8(ascii: "\t") { token = token.dropLast() }
        return String(Substring(token))
    }

    /// The tenant the caller's credential is for, when the request names none: the signed
    /// header's `requestor_id`, or the `requestor` claim of a bearer. Real clients send
    /// `DELETE /api/v1/logout?deviceId=…` with nothing else (seed 000 marks only deviceId as
    /// required). Nothing is verified here: ``authenticateCaller(_:shortPath:)`` then checks the
    /// credential against the tenant chosen, as it does when the request names one.
    static func claimedTenantID(authorization header: String?, tokens: TokenAuthority) -> String? {
        guard let header, !header.isEmpty, header.hasAtMost(8192) else { return nil }
        if let token = bearerToken(header) { return tokens.claimedRequestor(ofAccessToken: token) }
        return SignedRequestHeader(header)?.fields["requestor_id"]
    }

    private func verifyLegacySignature(_ header: String, call: Call, shortPath: String) async throws(TesseraError) {
        guard let signed = SignedRequestHeader(header) else { throw .invalidLegacySignature("the Authorization header is not a signed request") }
        guard let signedText = signed.signedText else { throw .invalidLegacySignature("the signed request lacks public_key") }
        let fields = signed.fields
        guard signed.method == call.request.method.rawValue else { throw .invalidLegacySignature("the signed method is not the request's") }
        guard fields["requestor_id"] == call.tenant.id else { throw .accessTokenForAnotherTenant }
        guard fields["signature_method"] == "HMAC-SHA1" else { throw .invalidLegacySignature("signature_method must be HMAC-SHA1") }
        guard let nonce = fields["nonce"], !nonce.isEmpty, nonce.count <= 128 else { throw .invalidLegacySignature("the nonce is missing") }
        guard let uri = fields["request_uri"], uri == shortPath || uri == call.request.uri.path else {
            throw .invalidLegacySignature("request_uri does not name this endpoint")
        }
        let now = services.clock.now()
        guard let time = fields["request_time"].flatMap(Int64.init),
              abs(Date(epochMilliseconds: time).timeIntervalSince(now)) <= Self.legacyClockSkew
        else { throw .invalidLegacySignature("request_time is missing, not in milliseconds, or stale") }
        guard let publicKey = fields["public_key"], let pair = call.tenant.legacyKeys.first(where: { $0.publicKey == publicKey }) else {
            throw .invalidLegacySignature("the public key is not registered for this requestor")
        }
        guard let signature = fields["signature"].flatMap({ Data(base64Encoded: $0) }),
              HMAC<Insecure.SHA1>.isValidAuthenticationCode(signature, authenticating: Data(signedText.utf8),
                                                            using: SymmetricKey(data: Data(pair.privateKey.utf8)))
        else { throw .invalidLegacySignature("the signature does not verify") }
        let expiry = now.addingTimeInterval(2 * Self.legacyClockSkew)
        guard try await services.claimNonce(tenantID: call.tenant.id, nonce: nonce, expiresAt: expiry) else {
            throw .invalidLegacySignature("the nonce was used before")
        }
    }
}

/// The legacy signed `Authorization` header, split into its fields:
/// `<METHOD> name=value, name=value, …, public_key=…, signature=…`.
struct SignedRequestHeader {
    let method: Substring
    let fields: [String: String]
    /// What the signature covers: the header up to `, public_key=`; nil when that is missing.
    let signedText: String?

    init?(_ header: String) {
        guard let space = header.firstIndex(of: " ") else { return nil }
        method = header[..<space]
        signedText = header.range(of: ", public_key=").map { String(header[..<$0.lowerBound]) }
        var fields: [String: String] = [:]
        for part in header[header.index(after: space)...].components(separatedBy: ", ") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[String(part[..<equals])] = String(part[part.index(after: equals)...])
        }
        self.fields = fields
    }
}
