import CompressNIO
import Crypto
import Foundation
import FoundationXML
import NIOCore
import SAMLAssertion
import Synchronization
import TesseraCore
import _CryptoExtras

/// Tessera as a SAML 2.0 service provider of TV providers' identity providers: their metadata
/// (read from a file or URL, read again every ``SAMLProvider/metadataRefresh``), the messages
/// Tessera sends (AuthnRequest, LogoutRequest, LogoutResponse, all by the HTTP-Redirect binding,
/// signed) and the checks on those it receives. XML signatures are libxmlsec1's
/// (`tessera_saml_read_response`), documents are built with Foundation's XML, deflate is zlib's
/// through CompressNIO, RSA is swift-crypto's.
package final class SAMLServiceProvider: Sendable {
    /// How far apart the provider's clock and ours may be.
    static let skew: TimeInterval = 120
    static let maximumMessage = 1 << 20
    static let redirectBinding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    static let postBinding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    static let success = "urn:oasis:names:tc:SAML:2.0:status:Success"
    static let rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    static let rsaSHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"

    /// What Tessera uses of an identity provider's metadata.
    package struct IdentityProviderMetadata: Sendable, Equatable {
        package var entityID: String
        package var signOnURL: String
        package var logoutURL: String?
        package var logoutResponseURL: String?
        /// The signing certificates, PEM: the metadata's and the configured ones.
        package var certificates: [String]
    }

    /// Tessera's key at every SAML provider (its RS256 signing key) and a certificate for it.
    package struct SigningIdentity: Sendable {
        let key: _RSA.Signing.PrivateKey
        package let certificatePEM: String

        /// The certificate's DER, base64 (as metadata carries it).
        package var certificateBase64: String {
            certificatePEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        }
    }

    private let kept = Mutex<[String: (metadata: IdentityProviderMetadata, readAt: Date)]>([:])
    let clock: any TesseraClock
    let openID: OpenIDConnect
    package let identity: SigningIdentity?

    init(clock: any TesseraClock, openID: OpenIDConnect, privateKeyPEM: String?) {
        self.clock = clock
        self.openID = openID
        identity = privateKeyPEM.flatMap(Self.identity)
    }

    static func identity(privateKeyPEM: String) -> SigningIdentity? {
        guard let key = try? _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM) else { return nil }
        let pem = Array(privateKeyPEM.utf8)
        var certificate: UnsafeMutablePointer<CChar>?
        let status = pem.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { tessera_saml_self_signed($0.baseAddress, $0.count, "Tessera SAML service provider", &certificate) }
        }
        defer { free(certificate) }
        guard status == 0, let certificate else { return nil }
        return SigningIdentity(key: key, certificatePEM: String(cString: certificate))
    }

    // MARK: Metadata

    /// The provider's metadata: kept for ``SAMLProvider/metadataRefresh``; a provider whose
    /// metadata cannot be read again keeps what it had.
    package func metadata(of provider: SAMLProvider) async throws(TesseraError) -> IdentityProviderMetadata {
        let now = clock.now()
        let held = kept.withLock { $0[provider.id] }
        if let held, now.timeIntervalSince(held.readAt) < provider.metadataRefresh { return held.metadata }
        do {
            let data: Data
            switch provider.metadata {
            case .file(let path):
                guard let read = FileManager.default.contents(atPath: path) else {
                    throw TesseraError.upstreamLogin(.invalidResponse("the metadata file \(path) cannot be read"))
                }
                data = read
            case .url(let url):
                data = try await openID.get(url, within: provider.timeout, accept: "application/samlmetadata+xml, application/xml")
            }
            var metadata = try Self.metadata(from: data, entityID: provider.entityID)
            metadata.certificates += provider.certificates
            guard !metadata.certificates.isEmpty else { throw TesseraError.upstreamLogin(.invalidResponse("the metadata names no signing certificate")) }
            let read = metadata
            kept.withLock { $0[provider.id] = (read, now) }
            return read
        } catch let error as TesseraError {
            if let held { return held.metadata }
            throw error
        } catch {
            if let held { return held.metadata }
            throw .upstreamLogin(.unavailable)
        }
    }

    static func metadata(from data: Data, entityID: String?) throws(TesseraError) -> IdentityProviderMetadata {
        var raw = tessera_saml_metadata()
        defer { tessera_saml_metadata_free(&raw) }
        let status = data.withUnsafeBytes { bytes in
            bytes.withMemoryRebound(to: CChar.self) { tessera_saml_read_metadata($0.baseAddress, $0.count, entityID, &raw) }
        }
        guard status == 0 else { throw .upstreamLogin(.invalidResponse(text(raw.error) ?? "the metadata cannot be read")) }
        guard let entity = text(raw.entity_id), let signOn = text(raw.sso_redirect) else {
            throw .upstreamLogin(.invalidResponse("the metadata has no SingleSignOnService for the HTTP-Redirect binding"))
        }
        let certificates = (text(raw.certificates) ?? "").split(separator: "\n").map { body in
            "-----BEGIN CERTIFICATE-----\n" + stride(from: 0, to: body.count, by: 64).map { offset in
                String(body.dropFirst(offset).prefix(64))
            }.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
        }
        return IdentityProviderMetadata(entityID: entity, signOnURL: signOn, logoutURL: text(raw.slo_redirect),
                                        logoutResponseURL: text(raw.slo_redirect_response), certificates: certificates)
    }

    static func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Tessera's service-provider metadata for a provider: its entityID, the assertion consumer
    /// service (HTTP-POST), Single Logout (HTTP-Redirect and HTTP-POST) and its signing certificate.
    package func serviceProviderMetadata(entityID: String, assertionConsumerURL: String, logoutURL: String, nameIDFormat: String?) -> String {
        let root = element("md:EntityDescriptor", ["entityID": entityID])
        root.addNamespace(namespace("md", "urn:oasis:names:tc:SAML:2.0:metadata"))
        root.addNamespace(namespace("ds", "http://www.w3.org/2000/09/xmldsig#"))
        let descriptor = element("md:SPSSODescriptor", [
            "AuthnRequestsSigned": "true", "WantAssertionsSigned": "true",
            "protocolSupportEnumeration": "urn:oasis:names:tc:SAML:2.0:protocol",
        ])
        if let identity {
            let key = element("md:KeyDescriptor", ["use": "signing"])
            let info = element("ds:KeyInfo", [:])
            let data = element("ds:X509Data", [:])
            let certificate = element("ds:X509Certificate", [:])
            certificate.stringValue = identity.certificateBase64
            data.addChild(certificate)
            info.addChild(data)
            key.addChild(info)
            descriptor.addChild(key)
        }
        for binding in [Self.redirectBinding, Self.postBinding] {
            descriptor.addChild(element("md:SingleLogoutService", ["Binding": binding, "Location": logoutURL]))
        }
        if let nameIDFormat {
            let format = element("md:NameIDFormat", [:])
            format.stringValue = nameIDFormat
            descriptor.addChild(format)
        }
        descriptor.addChild(element("md:AssertionConsumerService", ["Binding": Self.postBinding, "Location": assertionConsumerURL, "index": "0", "isDefault": "true"]))
        root.addChild(descriptor)
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + root.xmlString
    }

    // MARK: Messages Tessera sends

    /// A `samlp:` message element with the attributes every request and response carries.
    private func message(_ name: String, id: String, destination: String, issuer: String, _ attributes: [String: String] = [:]) -> XMLElement {
        let formatter = ISO8601DateFormatter()
        let root = element("samlp:\(name)", attributes.merging(["ID": id, "Version": "2.0", "IssueInstant": formatter.string(from: clock.now()),
                                                                 "Destination": destination]) { a, _ in a })
        root.addNamespace(namespace("samlp", "urn:oasis:names:tc:SAML:2.0:protocol"))
        root.addNamespace(namespace("saml", "urn:oasis:names:tc:SAML:2.0:assertion"))
        let issuerElement = element("saml:Issuer", [:])
        issuerElement.stringValue = issuer
        root.addChild(issuerElement)
        return root
    }

    /// The URL that carries an AuthnRequest to the provider's SingleSignOnService (HTTP-Redirect,
    /// signed): ID `requestID` (what the Response's InResponseTo must be), `relayState` back.
    package func signOnURL(metadata: IdentityProviderMetadata, requestID: String, issuer: String, assertionConsumerURL: String,
                           nameIDFormat: String?, relayState: String) throws(TesseraError) -> String {
        let request = message("AuthnRequest", id: requestID, destination: metadata.signOnURL, issuer: issuer, [
            "AssertionConsumerServiceURL": assertionConsumerURL, "ProtocolBinding": Self.postBinding,
        ])
        var policy = ["AllowCreate": "true"]
        if let nameIDFormat { policy["Format"] = nameIDFormat }
        request.addChild(element("samlp:NameIDPolicy", policy))
        return try redirectURL(metadata.signOnURL, parameter: "SAMLRequest", xml: request.xmlString, relayState: relayState)
    }

    /// The URL that carries a LogoutRequest for `subject` to the provider's Single Logout
    /// service; nil when its metadata names none.
    package func logoutURL(metadata: IdentityProviderMetadata, requestID: String, issuer: String, subject: SAMLSubject,
                           relayState: String?) throws(TesseraError) -> String? {
        guard let destination = metadata.logoutURL else { return nil }
        let request = message("LogoutRequest", id: requestID, destination: destination, issuer: issuer)
        var qualifiers: [String: String] = [:]
        if let format = subject.format { qualifiers["Format"] = format }
        if let qualifier = subject.nameQualifier { qualifiers["NameQualifier"] = qualifier }
        if let qualifier = subject.serviceProviderNameQualifier { qualifiers["SPNameQualifier"] = qualifier }
        let nameID = element("saml:NameID", qualifiers)
        nameID.stringValue = subject.nameID
        request.addChild(nameID)
        if let index = subject.sessionIndex {
            let sessionIndex = element("samlp:SessionIndex", [:])
            sessionIndex.stringValue = index
            request.addChild(sessionIndex)
        }
        return try redirectURL(destination, parameter: "SAMLRequest", xml: request.xmlString, relayState: relayState)
    }

    /// The URL that carries a LogoutResponse (Success) to request `inResponseTo`, with the
    /// provider's RelayState echoed; nil when its metadata names no Single Logout service.
    package func logoutResponseURL(metadata: IdentityProviderMetadata, issuer: String, inResponseTo: String,
                                   relayState: String?) throws(TesseraError) -> String? {
        guard let destination = metadata.logoutResponseURL ?? metadata.logoutURL else { return nil }
        let response = message("LogoutResponse", id: Self.messageID(), destination: destination, issuer: issuer, ["InResponseTo": inResponseTo])
        let status = element("samlp:Status", [:])
        status.addChild(element("samlp:StatusCode", ["Value": Self.success]))
        response.addChild(status)
        return try redirectURL(destination, parameter: "SAMLResponse", xml: response.xmlString, relayState: relayState)
    }

    /// A fresh message ID (an NCName: it starts with `_`).
    static func messageID() -> String { "_" + Secret.generate(byteCount: 20) }

    /// SAML Bindings 3.4.4.1: the message deflated, base64, URL-encoded, then the query
    /// `SAMLRequest=…&RelayState=…&SigAlg=…` signed (RSA-SHA256) and the signature appended.
    private func redirectURL(_ endpoint: String, parameter: String, xml: String, relayState: String?) throws(TesseraError) -> String {
        guard let identity else { throw .storageFailure }
        var buffer = ByteBuffer(string: xml)
        guard let deflated = try? buffer.compress(with: .deflate()) else { throw .storageFailure }
        var query = parameter + "=" + Self.encoded(Data(buffer: deflated).base64EncodedString())
        if let relayState { query += "&RelayState=" + Self.encoded(relayState) }
        query += "&SigAlg=" + Self.encoded(Self.rsaSHA256)
        guard let signature = try? identity.key.signature(for: Data(query.utf8), padding: .insecurePKCS1v1_5) else { throw .storageFailure }
        query += "&Signature=" + Self.encoded(signature.rawRepresentation.base64EncodedString())
        return endpoint + (endpoint.contains("?") ? "&" : "?") + query
    }

    /// A query value, unreserved characters kept (as a form value: ``OpenIDConnect/formEncoded(_:)``).
    static func encoded(_ value: String) -> String { OpenIDConnect.formEncoded(value) }

    private func element(_ name: String, _ attributes: [String: String]) -> XMLElement {
        let element = XMLElement(name: name)
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            if let attribute = XMLNode.attribute(withName: key, stringValue: value) as? XMLNode { element.addAttribute(attribute) }
        }
        return element
    }

    private func namespace(_ prefix: String, _ uri: String) -> XMLNode {
        XMLNode.namespace(withName: prefix, stringValue: uri) as! XMLNode
    }

    // MARK: Messages Tessera receives

    /// A verified Response's assertion, as Tessera uses it.
    package struct VerifiedAssertion: Sendable {
        package var id: String
        package var subject: SAMLSubject
        package var attributes: [String: ClaimValue]
        package var notOnOrAfter: Date
    }

    /// Checks a Response posted to the assertion consumer service: the signature (libxmlsec1,
    /// one of the provider's certificates), then issuer, destination, recipient, audience,
    /// InResponseTo (`requestID`, constant time) and the validity windows. A status other than
    /// Success is the provider's refusal.
    package func verify(response encoded: String, metadata: IdentityProviderMetadata, audience: String, assertionConsumerURL: String,
                        requestID: String) throws(TesseraError) -> VerifiedAssertion {
        guard encoded.utf8.count <= Self.maximumMessage * 4 / 3 + 4,
              let xml = Data(base64Encoded: encoded.filter { !$0.isWhitespace }), !xml.isEmpty
        else { throw .upstreamLogin(.invalidResponse("SAMLResponse is missing or not base64")) }
        var raw = tessera_saml_message()
        defer { tessera_saml_message_free(&raw) }
        try Self.read(xml, certificates: metadata.certificates, into: &raw) { tessera_saml_read_response($0, $1, $2, $3, $4) }
        func field(_ pointer: UnsafeMutablePointer<CChar>?) -> String? { Self.text(pointer) }
        guard let status = field(raw.status) else { throw .upstreamLogin(.invalidResponse("the response has no status")) }
        guard status == Self.success else {
            let code = field(raw.sub_status) ?? status
            throw .upstreamLogin(.refused(String(code.split(separator: ":").last ?? "Responder")))
        }
        let now = clock.now()
        if let issuer = field(raw.issuer), issuer != metadata.entityID { throw .upstreamLogin(.invalidResponse("the response has another issuer")) }
        guard field(raw.assertion_issuer) == metadata.entityID else { throw .upstreamLogin(.invalidResponse("the assertion has another issuer")) }
        if let destination = field(raw.destination), destination != assertionConsumerURL {
            throw .upstreamLogin(.invalidResponse("the response is for another destination"))
        }
        guard field(raw.recipient) == assertionConsumerURL else { throw .upstreamLogin(.invalidResponse("the assertion is for another recipient")) }
        guard (field(raw.audiences) ?? "").split(separator: "\n").contains(where: { $0 == audience }) else {
            throw .upstreamLogin(.invalidResponse("the assertion is for another audience"))
        }
        guard let inResponseTo = field(raw.subject_in_response_to), OpenIDConnect.constantTimeEqual(inResponseTo, requestID),
              field(raw.in_response_to).map({ OpenIDConnect.constantTimeEqual($0, requestID) }) ?? true
        else { throw .upstreamLogin(.invalidResponse("the response answers another sign-in")) }
        guard let until = field(raw.subject_not_on_or_after).flatMap(PartnerAssertions.date) else {
            throw .upstreamLogin(.invalidResponse("the assertion's confirmation has no NotOnOrAfter"))
        }
        guard now < until.addingTimeInterval(Self.skew) else { throw .upstreamLogin(.invalidResponse("the assertion has expired")) }
        if let text = field(raw.conditions_not_on_or_after) {
            guard let end = PartnerAssertions.date(text), now < end.addingTimeInterval(Self.skew) else {
                throw .upstreamLogin(.invalidResponse("the assertion has expired"))
            }
        }
        if let text = field(raw.conditions_not_before) {
            guard let start = PartnerAssertions.date(text), start <= now.addingTimeInterval(Self.skew) else {
                throw .upstreamLogin(.invalidResponse("the assertion is not valid yet"))
            }
        }
        guard let nameID = field(raw.name_id), nameID.utf8.count <= 1024, let id = field(raw.assertion_id) else {
            throw .upstreamLogin(.invalidResponse("the assertion names no subject"))
        }
        var attributes: [String: [String]] = [:]
        for index in 0..<raw.attribute_count {
            guard let name = field(raw.attributes[index].name), let value = field(raw.attributes[index].value) else { continue }
            attributes[name, default: []].append(value)
        }
        var claims = attributes.mapValues { $0.count == 1 ? ClaimValue.string($0[0]) : .list($0) }
        claims[SAMLProvider.nameIDClaim] = .string(nameID)
        let subject = SAMLSubject(nameID: nameID, format: field(raw.name_id_format), nameQualifier: field(raw.name_qualifier),
                                  serviceProviderNameQualifier: field(raw.sp_name_qualifier), sessionIndex: field(raw.session_indexes))
        return VerifiedAssertion(id: id, subject: subject, attributes: claims, notOnOrAfter: until)
    }

    /// A LogoutRequest or LogoutResponse that holds: signed by the provider (the HTTP-Redirect
    /// query's signature, or the message's own under HTTP-POST), from the provider, to Tessera.
    package struct LogoutMessage: Sendable {
        package var isRequest: Bool
        package var id: String
        package var inResponseTo: String?
        package var status: String?
        package var nameID: String?
        package var sessionIndexes: [String]
        package var relayState: String?
    }

    /// How a logout message arrived.
    package enum Binding: Sendable {
        /// The raw query string of a GET (its parameters as sent: the signature covers them so).
        case redirect(query: String)
        /// The form of a POST.
        case post(message: String, relayState: String?)
    }

    package func verify(logout binding: Binding, metadata: IdentityProviderMetadata, destination: String) throws(TesseraError) -> LogoutMessage {
        var raw = tessera_saml_message()
        defer { tessera_saml_message_free(&raw) }
        let relayState: String?
        switch binding {
        case .redirect(let query):
            let (xml, relay) = try verifiedRedirect(query: query, metadata: metadata)
            relayState = relay
            try Self.read(xml, certificates: [nil], into: &raw) { tessera_saml_read_logout($0, $1, $2, $3, $4) }
        case .post(let message, let relay):
            guard message.utf8.count <= Self.maximumMessage * 4 / 3 + 4, let xml = Data(base64Encoded: message.filter { !$0.isWhitespace }) else {
                throw .upstreamLogin(.invalidResponse("the logout message is not base64"))
            }
            relayState = relay
            try Self.read(xml, certificates: metadata.certificates, into: &raw) { tessera_saml_read_logout($0, $1, $2, $3, $4) }
        }
        func field(_ pointer: UnsafeMutablePointer<CChar>?) -> String? { Self.text(pointer) }
        guard field(raw.issuer) == metadata.entityID else { throw .upstreamLogin(.invalidResponse("the logout message has another issuer")) }
        if let target = field(raw.destination), target != destination { throw .upstreamLogin(.invalidResponse("the logout message is for another destination")) }
        let isRequest = field(raw.root) == "LogoutRequest"
        if isRequest, let text = field(raw.not_on_or_after) {
            guard let end = PartnerAssertions.date(text), clock.now() < end.addingTimeInterval(Self.skew) else {
                throw .upstreamLogin(.invalidResponse("the logout request has expired"))
            }
        }
        guard let id = field(raw.id) else { throw .upstreamLogin(.invalidResponse("the logout message has no ID")) }
        if isRequest, field(raw.name_id) == nil { throw .upstreamLogin(.invalidResponse("the logout request names no subject")) }
        return LogoutMessage(isRequest: isRequest, id: id, inResponseTo: field(raw.in_response_to), status: field(raw.status),
                             nameID: field(raw.name_id), sessionIndexes: (field(raw.session_indexes) ?? "").split(separator: "\n").map(String.init),
                             relayState: relayState)
    }

    /// The HTTP-Redirect binding's message (inflated) and RelayState, once the query's signature
    /// verified with one of the provider's certificates. An unsigned message is refused.
    private func verifiedRedirect(query: String, metadata: IdentityProviderMetadata) throws(TesseraError) -> (Data, String?) {
        var raw: [String: Substring] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, raw[String(parts[0])] == nil else { throw .upstreamLogin(.invalidResponse("the logout query is malformed")) }
            raw[String(parts[0])] = parts[1]
        }
        func decoded(_ name: String) -> String? { raw[name].flatMap { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding } }
        guard let key = raw["SAMLRequest"] != nil ? "SAMLRequest" : raw["SAMLResponse"] != nil ? "SAMLResponse" : nil,
              let message = raw[key], let signature = decoded("Signature").flatMap({ Data(base64Encoded: $0) }), let algorithm = decoded("SigAlg")
        else { throw .upstreamLogin(.invalidResponse("the logout message is not signed")) }
        guard algorithm == Self.rsaSHA256 || algorithm == Self.rsaSHA512 else {
            throw .upstreamLogin(.invalidResponse("the logout message's signature algorithm is not accepted"))
        }
        // Bindings 3.4.4.1: the parameters as they were sent, in this order.
        var signed = key + "=" + message
        if let relay = raw["RelayState"] { signed += "&RelayState=" + relay }
        signed += "&SigAlg=" + (raw["SigAlg"] ?? "")
        let text = Array(signed.utf8)
        let verified = metadata.certificates.contains { pem in
            let certificate = Array(pem.utf8)
            return signature.withUnsafeBytes { signatureBytes in
                text.withUnsafeBufferPointer { textBytes in
                    certificate.withUnsafeBufferPointer { pemBytes in
                        textBytes.withMemoryRebound(to: CChar.self) { t in
                            pemBytes.withMemoryRebound(to: CChar.self) { p in
                                tessera_saml_verify_query(t.baseAddress, t.count, signatureBytes.bindMemory(to: UInt8.self).baseAddress, signatureBytes.count,
                                                          p.baseAddress, p.count, algorithm == Self.rsaSHA512 ? 1 : 0) == 0
                            }
                        }
                    }
                }
            }
        }
        guard verified else { throw .upstreamLogin(.invalidResponse("the logout message's signature does not verify")) }
        guard let base64 = String(message).removingPercentEncoding, let deflated = Data(base64Encoded: base64) else {
            throw .upstreamLogin(.invalidResponse("the logout message is not base64"))
        }
        var buffer = ByteBuffer(data: deflated)
        guard let inflated = try? buffer.decompress(with: .deflate(), maxSize: Self.maximumMessage) else {
            throw .upstreamLogin(.invalidResponse("the logout message does not inflate"))
        }
        return (Data(buffer: inflated), decoded("RelayState"))
    }

    /// Runs `reader` on `xml` with each certificate in turn (a rollover: any may have signed)
    /// until one verifies; the first refusal when none does.
    private static func read(_ xml: Data, certificates: [String?], into raw: inout tessera_saml_message,
                             _ reader: (UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<tessera_saml_message>) -> Int32) throws(TesseraError) {
        var firstError: String?
        for certificate in certificates {
            tessera_saml_message_free(&raw)
            let pem = certificate.map { Array($0.utf8) }
            let status = xml.withUnsafeBytes { bytes in
                bytes.withMemoryRebound(to: CChar.self) { text in
                    if let pem {
                        return pem.withUnsafeBufferPointer { p in
                            p.withMemoryRebound(to: CChar.self) { reader(text.baseAddress, text.count, $0.baseAddress, $0.count, &raw) }
                        }
                    }
                    return reader(text.baseAddress, text.count, nil, 0, &raw)
                }
            }
            if status == 0 { return }
            if firstError == nil { firstError = text(raw.error) }
        }
        throw .upstreamLogin(.invalidResponse(firstError ?? "the message does not verify"))
    }
}
