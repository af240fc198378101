import Crypto
import Foundation
import SAMLAssertion
import TesseraCore

/// What a partner's verified SAML assertion says about the subscriber.
package struct PartnerAssertion: Sendable, Equatable {
    package let id: String
    package let issuer: String
    package let nameID: String
    package let audience: String?
    package let notOnOrAfter: Date
}

/// Checks the SAML assertion a partner framework (Apple's) hands an app: the XML signature with
/// libxmlsec1 (``tessera_saml_assertion_verify``: the one assertion of the document, signed by
/// its own ID with the provider's configured certificate), then its issuer, audience and
/// validity window here; ``Services/startPartnerProfile`` then takes each assertion once.
enum PartnerAssertions {
    /// How far apart the partner's clock and ours may be.
    static let skew: TimeInterval = 120
    static let maximumLength = 256 * 1024

    static func verify(samlResponse: String, trust: PartnerTrust, now: Date) throws(TesseraError) -> PartnerAssertion {
        guard !samlResponse.isEmpty, samlResponse.utf8.count <= maximumLength else { throw .invalidPartnerAssertion("the SAML response is empty or too large") }
        guard let xml = Data(lenientBase64: samlResponse.filter { !$0.isWhitespace }) else { throw .invalidPartnerAssertion("the SAML response is not base64") }
        var raw = tessera_saml_assertion()
        defer { tessera_saml_assertion_free(&raw) }
        let certificate = Array(trust.signingCertificatePEM.utf8)
        let status = xml.withUnsafeBytes { bytes in
            certificate.withUnsafeBufferPointer { pem in
                bytes.withMemoryRebound(to: CChar.self) { text in
                    pem.withMemoryRebound(to: CChar.self) { pem in
                        tessera_saml_assertion_verify(text.baseAddress, text.count, pem.baseAddress, pem.count, &raw)
                    }
                }
            }
        }
        guard status == 0 else { throw .invalidPartnerAssertion(raw.error.map { String(cString: $0) } ?? "the assertion does not verify") }
        func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
            pointer.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let issuer = text(raw.issuer), issuer == trust.issuer else { throw .invalidPartnerAssertion("the assertion has another issuer") }
        if let audience = trust.audience, text(raw.audience) != audience { throw .invalidPartnerAssertion("the assertion is for another audience") }
        guard let until = text(raw.not_on_or_after).flatMap(Self.date) else { throw .invalidPartnerAssertion("the assertion has no NotOnOrAfter") }
        guard now < until.addingTimeInterval(skew) else { throw .invalidPartnerAssertion("the assertion has expired") }
        if let from = text(raw.not_before) {
            guard let start = Self.date(from) else { throw .invalidPartnerAssertion("the assertion's NotBefore is not a time") }
            guard start <= now.addingTimeInterval(skew) else { throw .invalidPartnerAssertion("the assertion is not valid yet") }
        }
        guard let nameID = text(raw.name_id), nameID.utf8.count <= 256 else { throw .invalidPartnerAssertion("the assertion names no subject") }
        return PartnerAssertion(id: text(raw.assertion_id) ?? "", issuer: issuer, nameID: nameID, audience: text(raw.audience), notOnOrAfter: until)
    }

    /// An xs:dateTime as SAML writes it (UTC, with or without fractional seconds).
    static func date(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

extension Services {
    /// The tenant's provider a partner framework knows by `mappingID` (its platform mapping id).
    package func partnerProvider(tenant: Tenant, mappingID: String) -> (any IdentityProvider)? {
        tenant.providerIDs.lazy.compactMap { self.directory.provider($0, for: tenant) }.first { $0.platformMappingID == mappingID }
    }

    /// Checks `samlResponse` with `providerID`'s partner trust and gives the application a
    /// partner (Apple) profile at the provider on the device, in place of any it had there.
    package func startPartnerProfile(tenant: Tenant, device: DeviceKey, applicationID: String, providerID: String,
                                     samlResponse: String, clientAddress: String?) async throws(TesseraError) -> Session {
        guard let provider = directory.provider(providerID, for: tenant), let trust = provider.partnerTrust else {
            throw .partnerFrameworkStatus(.providerIDMismatch)
        }
        let now = clock.now()
        let assertion = try PartnerAssertions.verify(samlResponse: samlResponse, trust: trust, now: now)
        // Each assertion once (SAML's replay rule), on every instance: its issuer and ID are a
        // nonce of the tenant until the assertion could no longer be accepted anyway.
        let digest = SHA256.hash(data: Data((assertion.issuer + "\u{0}" + assertion.id).utf8)).map { String(format: "%02x", $0) }.joined()
        guard try await claimNonce(tenantID: tenant.id, nonce: "saml-assertion:" + digest,
                                   expiresAt: assertion.notOnOrAfter.addingTimeInterval(PartnerAssertions.skew)) else {
            throw .invalidPartnerAssertion("the assertion was used already")
        }
        _ = try await revoke(SessionSelector(tenantID: tenant.id, .deviceAndProvider(device.deviceID, providerID), kinds: [.providerProfile],
                                             applicationID: applicationID))
        let session = Session(id: UUID.timeOrdered(at: now), tenantID: tenant.id, kind: .providerProfile, applicationID: applicationID,
                              subject: Subject(userID: assertion.nameID, providerID: providerID), deviceID: device.deviceID,
                              ssoKey: SSOKey.make(.partner, "apple"), createdAt: now,
                              expiresAt: now.addingTimeInterval(tenant.policies.authenticationTTL), clientAddress: clientAddress)
        _ = try await start(session)
        return session
    }
}
